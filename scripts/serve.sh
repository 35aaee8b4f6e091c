#!/usr/bin/env bash
# Set up (the first run takes a minute or two) and start korqa on the embedded default model at
# http://127.0.0.1:8000. Extra arguments go to `korqa serve` (e.g. --port 9000, --model DIR).
#
# Only what the model needs is installed: the embedded model and any export (a --model directory holding
# model.onnx or model.xml) are served with OpenVINO / ONNX Runtime and no PyTorch (the 'serve' set); a Hugging Face directory,
# a hub id or an nlpbook --checkpoint needs PyTorch and transformers (the 'full' set).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh "$(bash scripts/which-set.sh "$@")"
exec .venv/bin/korqa serve "$@"
