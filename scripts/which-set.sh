#!/usr/bin/env bash
# Prints the install set `korqa serve ARGS` needs: 'serve' (ONNX Runtime, no PyTorch) for the embedded model and
# ONNX exports, 'full' (+ PyTorch, transformers) for Hugging Face directories, hub ids and nlpbook checkpoints.
# KORQA_MODEL / KORQA_CHECKPOINT / KORQA_PRETRAINED count as the options they stand for.
set -euo pipefail
needs_torch=no
model="${KORQA_MODEL:-}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --pretrained|--pretrained=*|--checkpoint|--checkpoint=*) needs_torch=yes ;;
    --model) model="${args[i + 1]:-}" ;;
    --model=*) model="${args[i]#--model=}" ;;
  esac
done
if [ -n "${KORQA_CHECKPOINT:-}${KORQA_PRETRAINED:-}" ]; then needs_torch=yes; fi
if [ -n "$model" ] && [ ! -f "$model/model.onnx" ] && [ ! -f "$model/model.xml" ]; then needs_torch=yes; fi
if [ "$needs_torch" = yes ]; then echo full; else echo serve; fi
