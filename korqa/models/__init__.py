"""Where a model comes from. One entry point, `load_model`, for every source:

- nothing given            -> the embedded default model (korqa/default_model), see default.py
- a directory with model.onnx -> ONNX Runtime, no torch (onnx.py)
- a directory with config.json or a hub id -> Hugging Face *ForQuestionAnswering (hf.py)
- `checkpoint=` a Lightning .ckpt + `pretrained=` name/dir -> the nlpbook / ratsnlp way (nlpbook.py)

A model directory may hold `korqa.json` with the QA settings it was trained or exported with (max_seq_length,
doc_stride, ...); they become the defaults of the engine that serves it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from korqa.boundaries import BoundaryRules
from korqa.config import QAConfig
from korqa.errors import ModelLoadError
from korqa.runtime import Runtime
from korqa.tokenizer import QATokenizer

log = logging.getLogger(__name__)

SETTINGS_FILE = "korqa.json"


@dataclass
class LoadedModel:
    tokenizer: QATokenizer
    runtime: Runtime
    config: QAConfig  # the settings this model is served with by default
    name: str
    source: str  # default | onnx | huggingface | hub | nlpbook
    path: str
    max_positions: int  # longest window the model's position embeddings allow
    load_seconds: float = 0.0
    boundaries: BoundaryRules | None = None  # learned character-level answer boundaries (korqa.json)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "path": self.path,
            "runtime": self.runtime.name,
            "max_positions": self.max_positions,
            "vocab_size": self.tokenizer.vocab_size,
            "max_seq_length": self.config.max_seq_length,
            "max_query_length": self.config.max_query_length,
            "max_answer_length": self.config.max_answer_length,
            "doc_stride": self.config.doc_stride,
            "boundary_rules": self.boundaries.count() if self.boundaries else 0,
        }


def read_saved(model_dir: Path) -> dict[str, Any]:
    """Everything in the model's korqa.json (settings, name, boundary rules, export details)."""
    path = model_dir / SETTINGS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def read_settings(model_dir: Path) -> dict[str, Any]:
    """The QAConfig fields saved with the model."""
    known = {f.name for f in fields(QAConfig)}
    return {k: v for k, v in read_saved(model_dir).items() if k in known}


def read_boundaries(model_dir: Path) -> BoundaryRules | None:
    return BoundaryRules.from_json(read_saved(model_dir).get("boundaries"))


def write_settings(model_dir: str | Path, config: QAConfig, **extra: Any) -> None:
    keys = ("max_seq_length", "max_query_length", "max_answer_length", "doc_stride")
    settings = {k: getattr(config, k) for k in keys} | extra
    (Path(model_dir) / SETTINGS_FILE).write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")


def resolve(model: str | None = None, pretrained: str | None = None, checkpoint: str | None = None) -> dict:
    """What would load, and from where, without loading it (for `korqa info`)."""
    from korqa.models import default

    if checkpoint:
        if not pretrained:
            raise ModelLoadError("a checkpoint needs --pretrained (the model name or dir it was fine-tuned from)")
        return {"source": "nlpbook", "checkpoint": checkpoint, "pretrained": pretrained}
    target = model or pretrained
    if target is None:
        return {"source": "default", "path": str(default.model_dir())}
    path = Path(target)
    if path.is_dir():
        if (path / "model.onnx").exists():
            return {"source": "onnx", "path": str(path)}
        if (path / "config.json").exists():
            return {"source": "huggingface", "path": str(path)}
        raise ModelLoadError(f"{path} holds neither model.onnx nor config.json")
    if path.suffix in (".ckpt", ".pt", ".pth", ".bin", ".safetensors") or path.exists():
        raise ModelLoadError(
            f"{target} is a file; pass a checkpoint with --checkpoint and the model it came from with --pretrained"
        )
    return {"source": "hub", "id": target}


def load_model(
    model: str | None = None,
    *,
    pretrained: str | None = None,
    checkpoint: str | None = None,
    trust_checkpoint: bool = False,
    config: QAConfig | None = None,
    threads: int | None = None,
) -> LoadedModel:
    """Load a model from any source korqa knows. `config` fields override the model's saved settings."""
    from korqa.models import default, hf, nlpbook, onnx

    started = time.perf_counter()
    where = resolve(model, pretrained, checkpoint)
    source = where["source"]
    log.info("loading %s model from %s", source, where.get("path") or where.get("id") or where.get("checkpoint"))
    if source == "nlpbook":
        loaded = nlpbook.load(pretrained, checkpoint, trust_checkpoint=trust_checkpoint, threads=threads)
    elif source == "default":
        loaded = default.load(threads=threads)
    elif source == "onnx":
        loaded = onnx.load(Path(where["path"]), threads=threads)
    elif source == "huggingface":
        loaded = hf.load(Path(where["path"]), threads=threads)
    else:
        loaded = hf.load(hf.download(where["id"]), threads=threads, name=where["id"], source="hub")
    if config is not None:
        loaded.config = merge_config(loaded.config, config)
    if loaded.boundaries is None and Path(loaded.path).is_dir():
        loaded.boundaries = read_boundaries(Path(loaded.path))
    loaded.load_seconds = time.perf_counter() - started
    log.info("loaded %s (%s, %s) in %.2f s", loaded.name, loaded.source, loaded.runtime.name, loaded.load_seconds)
    return loaded


def merge_config(model_config: QAConfig, user: QAConfig) -> QAConfig:
    """Fields the user set (different from QAConfig's defaults) win over the model's saved settings."""
    base = QAConfig()
    changed = {
        f.name: getattr(user, f.name) for f in fields(QAConfig) if getattr(user, f.name) != getattr(base, f.name)
    }
    changed.pop("extra", None)
    return model_config.with_(**changed) if changed else model_config
