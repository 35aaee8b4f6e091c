"""The embedded default model: `korqa/default_model/` when the package ships one (see MODEL_CARD.md there).

Until a real Korean model is shipped, the default is the tiny synthetic-task model that the tests use, built
once (a few seconds) into the user cache. It answers its synthetic task, not real questions; `korqa info` says
which one is in use.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from korqa.models import LoadedModel

log = logging.getLogger(__name__)

EMBEDDED = Path(__file__).resolve().parent.parent / "default_model"


def tiny_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "korqa" / "tiny-v1"


def model_dir() -> Path:
    return EMBEDDED if EMBEDDED.is_dir() else tiny_dir()


def load(threads: int | None = None) -> LoadedModel:
    from korqa.models import hf, onnx

    if EMBEDDED.is_dir():
        if (EMBEDDED / "model.onnx").exists():
            loaded = onnx.load(EMBEDDED, threads=threads, source="default")
        else:
            loaded = hf.load(EMBEDDED, threads=threads, source="default")
        return loaded
    target = tiny_dir()
    if not (target / "model.safetensors").exists():
        from korqa.models import tiny

        log.warning("no embedded default model; building the tiny synthetic test model in %s", target)
        tiny.build(target)
    return hf.load(target, threads=threads, name="korqa-tiny-synthetic", source="default")
