"""An OpenVINO export (`korqa export --format openvino`): model.xml + model.bin + tokenizer.json + korqa.json.
Serving it needs openvino, tokenizers and numpy only -- no torch, no transformers."""

from __future__ import annotations

from pathlib import Path

from korqa.errors import ModelLoadError
from korqa.models import Source
from korqa.tokenizer import load_tokenizer


def load(model_dir: Path, threads: int | None = None) -> Source:
    from korqa.runtime import OpenVinoRuntime

    try:
        runtime = OpenVinoRuntime(str(model_dir / "model.xml"), threads=threads)
    except ImportError:
        raise  # openvino not installed: the CLI names the install command
    except Exception as exc:  # noqa: BLE001 -- a truncated or foreign file: one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"OpenVINO could not load {model_dir / 'model.xml'}: {first}") from exc
    missing = {"start_logits", "end_logits"} - runtime.output_names
    if missing or "input_ids" not in runtime.input_names:
        raise ModelLoadError(
            f"{model_dir / 'model.xml'} is not a question-answering model (inputs {sorted(runtime.input_names)}, "
            f"outputs {sorted(runtime.output_names)}); export one with korqa export --format openvino"
        )
    return Source(tokenizer=load_tokenizer(model_dir), runtime=runtime, max_positions=None)
