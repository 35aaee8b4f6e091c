"""An exported model directory: model.onnx + tokenizer.json + korqa.json. Serving it needs onnxruntime,
tokenizers and numpy only -- no torch, no transformers."""

from __future__ import annotations

from pathlib import Path

from korqa.config import QAConfig
from korqa.errors import ModelLoadError
from korqa.models import LoadedModel, read_saved, read_settings
from korqa.runtime import OnnxRuntime
from korqa.tokenizer import load_tokenizer


def load(model_dir: Path, threads: int | None = None, name: str | None = None, source: str = "onnx") -> LoadedModel:
    extra = read_saved(model_dir)
    try:
        runtime = OnnxRuntime(str(model_dir / "model.onnx"), threads=threads)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"ONNX Runtime could not load {model_dir / 'model.onnx'}: {exc}") from exc
    return LoadedModel(
        tokenizer=load_tokenizer(model_dir),
        runtime=runtime,
        config=QAConfig(**read_settings(model_dir)),
        name=name or extra.get("name") or model_dir.name,
        source=source,
        path=str(model_dir),
        max_positions=int(extra.get("max_positions", 512)),
    )
