#!/usr/bin/env bash
# Set up (the first run takes a minute or two) and start korqa on the embedded default model at
# http://127.0.0.1:8000. Extra arguments go to `korqa serve` (e.g. --port 9000, --model DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
# The embedded default model is ONNX and needs no torch; without it (or with --model/--checkpoint) korqa may
# need PyTorch, so install the full set.
if [ -f korqa/default_model/model.onnx ] && [ $# -eq 0 ]; then
  bash scripts/setup.sh serve
else
  bash scripts/setup.sh full
fi
exec .venv/bin/korqa serve "$@"
