"""An exported model directory: model.onnx + tokenizer.json + korqa.json. Serving it needs onnxruntime,
tokenizers and numpy only -- no torch, no transformers."""

from __future__ import annotations

from pathlib import Path

from korqa.errors import ModelLoadError
from korqa.models import Source
from korqa.runtime import OnnxRuntime
from korqa.tokenizer import load_tokenizer


def load(model_dir: Path, threads: int | None = None) -> Source:
    from korqa.models.saved import ModelSettings

    quantization = ModelSettings.read(model_dir).record.get("quantization", {})
    dynamic_int8 = bool(quantization.get("int8") or quantization.get("onnx_dynamic_int8"))
    try:
        runtime = OnnxRuntime(
            str(model_dir / "model.onnx"),
            threads=threads,
            window_at_a_time=dynamic_int8,
            compute="dynamic int8" if dynamic_int8 else None,
        )
    except Exception as exc:  # noqa: BLE001 -- a truncated or foreign file: one line, not ORT's traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"ONNX Runtime could not load {model_dir / 'model.onnx'}: {first}") from exc
    missing = {"start_logits", "end_logits"} - set(runtime.output_names)
    if missing or "input_ids" not in runtime.input_names:
        raise ModelLoadError(
            f"{model_dir / 'model.onnx'} is not a question-answering model: it needs an input_ids input and "
            f"start_logits/end_logits outputs (has inputs {sorted(runtime.input_names)}, "
            f"outputs {sorted(runtime.output_names)}); export one with korqa export"
        )
    return Source(tokenizer=load_tokenizer(model_dir), runtime=runtime, max_positions=None)
