"""Where a model comes from. One entry point, `load_model`, for every source:

- nothing given               -> the embedded default model (korqa/default_model, OpenVINO)
- a directory with model.onnx -> ONNX Runtime, no torch (onnx.py)
- a directory with model.xml  -> OpenVINO, no torch (openvino.py; korqa export --format openvino)
- a directory with config.json or a hub id -> Hugging Face *ForQuestionAnswering (hf.py)
- `checkpoint=` a Lightning .ckpt + `pretrained=` name/dir -> the nlpbook / ratsnlp way (nlpbook.py)

Each source gives a tokenizer, a runtime and the longest window its positions allow; `load_model` adds the
model's saved settings (korqa.json, read once here, see saved.py) under what the caller set.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from korqa.boundaries import BoundaryRules
from korqa.config import QAConfig
from korqa.errors import ModelLoadError
from korqa.models.saved import SETTINGS_FILE, ModelSettings
from korqa.runtime import Runtime
from korqa.tokenizer import QATokenizer

__all__ = ["SETTINGS_FILE", "LoadedModel", "ModelSettings", "Source", "load_model", "resolve"]

log = logging.getLogger(__name__)

EMBEDDED = Path(__file__).resolve().parent.parent / "default_model"
# owner/name (or a bare name) as the Hugging Face Hub spells repositories; anything else is meant as a path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".safetensors")


@dataclass
class Source:
    """What one source gives: the rest of a LoadedModel comes from korqa.json and the caller."""

    tokenizer: QATokenizer
    runtime: Runtime
    max_positions: int | None  # None: the source cannot tell (ONNX files); korqa.json's, else 512


@dataclass
class LoadedModel:
    tokenizer: QATokenizer
    runtime: Runtime
    config: QAConfig  # resolved: the caller's settings over the model's saved ones over DEFAULTS
    name: str
    source: str  # default | onnx | openvino | huggingface | hub | nlpbook
    path: str
    max_positions: int  # longest window the model's position embeddings allow
    load_seconds: float = 0.0
    boundaries: BoundaryRules | None = None  # learned character-level answer boundaries (korqa.json)
    settings: ModelSettings | None = None  # the korqa.json it came with

    def describe(self) -> dict[str, Any]:
        """What the model is, without where it lives on disk (that is for the operator's logs, not the API)."""
        return {
            "name": self.name,
            "source": self.source,
            "runtime": self.runtime.name,
            "threads": getattr(self.runtime, "threads", None),
            # OpenVINO: int8 or f32 (KORQA_OPENVINO_INT8); ONNX Runtime: "dynamic int8" for korqa's int8 exports
            "compute": getattr(self.runtime, "compute", None),
            "max_positions": self.max_positions,
            "vocab_size": self.tokenizer.vocab_size,
            "max_seq_length": self.config.max_seq_length,
            "max_query_length": self.config.max_query_length,
            "max_answer_length": self.config.max_answer_length,
            "doc_stride": self.config.doc_stride,
            "boundary_rules": self.boundaries.count() if self.boundaries else 0,
        }


def _looks_like_path(target: str) -> bool:
    return target.startswith(("/", ".", "~")) or "\\" in target or not _HUB_ID.match(target)


def resolve(model: str | None = None, pretrained: str | None = None, checkpoint: str | None = None) -> dict:
    """What would load, and from where, without loading it (for `korqa info`)."""
    if checkpoint:
        if not pretrained:
            raise ModelLoadError("a checkpoint needs --pretrained (the model name or dir it was fine-tuned from)")
        if model:
            raise ModelLoadError("give either --model or --checkpoint with --pretrained, not both")
        if not Path(checkpoint).is_file():
            raise ModelLoadError(f"checkpoint {checkpoint} does not exist")
        if _looks_like_path(pretrained) and not Path(pretrained).is_dir():
            raise ModelLoadError(f"--pretrained {pretrained}: no such directory (and not a Hugging Face Hub id)")
        return {"source": "nlpbook", "checkpoint": checkpoint, "pretrained": pretrained}
    target = model or pretrained
    if target is None:
        if not any((EMBEDDED / name).is_file() for name in ("model.xml", "model.onnx")):
            raise ModelLoadError(f"this installation has no embedded default model ({EMBEDDED}); pass --model")
        return {"source": "default", "path": str(EMBEDDED)}
    path = Path(target).expanduser()
    if path.is_dir():
        if (path / "model.onnx").exists():
            return {"source": "onnx", "path": str(path)}
        if (path / "model.xml").exists():
            return {"source": "openvino", "path": str(path)}
        if (path / "config.json").exists():
            return {"source": "huggingface", "path": str(path)}
        raise ModelLoadError(
            f"{path} holds none of model.onnx, model.xml (OpenVINO), config.json: not a model directory"
        )
    if path.suffix in _CHECKPOINT_SUFFIXES or path.exists():
        raise ModelLoadError(
            f"{target} is a file; pass a checkpoint with --checkpoint and the model it came from with --pretrained"
        )
    if _looks_like_path(target):
        raise ModelLoadError(f"{target}: no such directory (and not a Hugging Face Hub id like owner/name)")
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
    """Load a model from any source korqa knows. The settings set in `config` win over the model's saved ones."""
    if not isinstance(trust_checkpoint, bool):  # "false" is a non-empty string: truthy, and it unpickles
        raise ModelLoadError(f"trust_checkpoint must be True or False, got {trust_checkpoint!r}")
    started = time.perf_counter()
    where = resolve(model, pretrained, checkpoint)
    kind = where["source"]
    log.info("loading %s model from %s", kind, where.get("path") or where.get("id") or where.get("checkpoint"))
    if kind == "nlpbook":
        from korqa.models import nlpbook

        directory, source = nlpbook.load(pretrained, checkpoint, trust_checkpoint=trust_checkpoint, threads=threads)
        name = f"{pretrained} + {Path(checkpoint).name}"
    elif kind == "hub":
        from korqa.models import hf

        directory = hf.download(where["id"])
        source, name = hf.load(directory, threads=threads), where["id"]
    else:
        directory = Path(where["path"])
        source, name = _load_dir(directory, threads), None
    saved = ModelSettings.read(directory)
    user = config or QAConfig()
    loaded = LoadedModel(
        tokenizer=source.tokenizer,
        runtime=source.runtime,
        config=user.over(saved.qa).resolved(),
        name=name or saved.name or directory.name,
        source=kind,
        path=str(checkpoint or directory),
        max_positions=source.max_positions or saved.max_positions or 512,
        boundaries=saved.boundaries,
        settings=saved,
    )
    loaded.load_seconds = time.perf_counter() - started
    runtime = loaded.runtime.name + (f", {loaded.runtime.compute}" if getattr(loaded.runtime, "compute", None) else "")
    log.info("loaded %s (%s, %s) in %.2f s", loaded.name, kind, runtime, loaded.load_seconds)
    return loaded


def prefer_onnx(directory: Path) -> bool:
    """A directory with both an OpenVINO int8 file and an ONNX int8 file (the embedded model) runs OpenVINO where
    the CPU has int8 dot-product instructions, ONNX Runtime elsewhere (OpenVINO's int8 measured 0.5x ONNX Runtime's
    dynamic int8 there). KORQA_OPENVINO_INT8=on forces OpenVINO int8, off forces ONNX Runtime."""
    from korqa.runtime import openvino_int8_wanted

    return (directory / "model.onnx").exists() and not openvino_int8_wanted()


def _load_dir(directory: Path, threads: int | None) -> Source:
    if (directory / "model.xml").exists() and not prefer_onnx(directory):
        from korqa.models import openvino

        return openvino.load(directory, threads=threads)
    if (directory / "model.onnx").exists():
        from korqa.models import onnx

        return onnx.load(directory, threads=threads)
    if not (directory / "config.json").exists():
        raise ModelLoadError(
            f"{directory} holds none of model.onnx, model.xml (OpenVINO), config.json: not a model directory"
        )
    from korqa.models import hf

    return hf.load(directory, threads=threads)
