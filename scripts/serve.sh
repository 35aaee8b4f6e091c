#!/usr/bin/env bash
# Set up (first run only takes minutes) and start korqa on the embedded default model at http://127.0.0.1:8000.
# Extra arguments go to `korqa serve` (e.g. --port 9000, --model DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh serve
exec .venv/bin/korqa serve "$@"
