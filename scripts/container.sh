#!/usr/bin/env bash
# Opt-in (not part of CI): build the korqa image with podman and run it -- /readyz, the nlpbook /api on the
# example, the image's HEALTHCHECK -- then remove the container. Where base images cannot be pulled, the base is
# a minimal Debian made with debootstrap from this machine's own apt mirror.
#   sudo bash scripts/container.sh            (needs root for podman and debootstrap; installs them if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need podman podman
need runc runc
base="${KORQA_BASE:-}"
if [ -z "$base" ]; then
  base=localhost/korqa-debian-base:bookworm
  if ! podman image exists "$base"; then
    need debootstrap debootstrap
    # The first Debian archive this machine's apt uses (one-line or deb822 sources; comments skipped).
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | grep -E '^(deb |URIs:)' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ' || true)"
    [ -n "$mirror" ] || { echo "no Debian mirror in /etc/apt sources; set KORQA_BASE to a Python 3.11+ image" >&2; exit 1; }
    rootfs="$(mktemp -d)"
    echo "debootstrap bookworm from $mirror ..."
    debootstrap --variant=minbase --include=python3,python3-venv,passwd,ca-certificates bookworm "$rootfs" "$mirror" >/dev/null
    tar -C "$rootfs" -c . | podman import - "$base" >/dev/null
    rm -rf "$rootfs"
  fi
fi
echo "building korqa on $base ..."
# chroot isolation for RUN steps and no cgroups for the check: sandboxes with hybrid cgroups refuse crun's own.
# The host's CA bundle during RUN steps: package downloads may pass a TLS-inspecting proxy the base does not know.
podman build --quiet --format docker --isolation=chroot --build-arg BASE="$base" \
  --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro -t localhost/korqa:latest .
podman image inspect localhost/korqa:latest --format 'image size: {{.Size}} bytes, user: {{.Config.User}}'
name="korqa-check-$$"
port="${PORT:-18080}"
# runc, and limits no higher than this shell's: sandboxes may refuse to raise rlimits (crun/runc's defaults).
podman run -d --name "$name" --runtime runc --network=host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
  -e KORQA_HOST=127.0.0.1 -e KORQA_PORT="$port" localhost/korqa:latest >/dev/null
trap 'podman rm -f "$name" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 60); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 1; done
echo "readyz: $(curl -fsS "http://127.0.0.1:$port/readyz")"
echo "api: $(curl -fsS "http://127.0.0.1:$port/api" -H 'content-type: application/json' \
  -d '{"question": "훈민정음을 반포한 해는 언제인가?", "context": "세종은 1443년에 훈민정음을 창제하였고, 3년 뒤인 1446년에 이를 반포하였다."}')"
podman healthcheck run "$name" && echo "healthcheck: healthy"
echo "torch in the image: $(podman exec "$name" python3 -c 'import importlib.util as u; print(bool(u.find_spec("torch")))')"
podman logs "$name" 2>&1 | tail -3
