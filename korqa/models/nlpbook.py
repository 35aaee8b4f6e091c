"""The nlpbook / ratsnlp way: a PyTorch Lightning checkpoint of a fine-tuned *ForQuestionAnswering whose
`state_dict` keys start with `model.`, plus the pretrained model name it started from (config and vocab).

Checkpoints are pickles, and unpickling can run code. They are read with `torch.load(weights_only=True)`; a file
that needs more is refused unless the user opts in with `--trust-checkpoint`. A `.safetensors` file needs neither.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

from korqa.config import QAConfig
from korqa.errors import ModelLoadError, UnsafeCheckpointError
from korqa.models import LoadedModel, read_settings
from korqa.models.hf import download, ensure_tokenizer, position_limit
from korqa.runtime import TorchRuntime

log = logging.getLogger(__name__)

PREFIX = "model."
# Keys a checkpoint may carry that a QA model does not use: old transformers saved the position_ids buffer, and
# a checkpoint made from a model with a pooler carries its weights. Ignored with a log line, not an error.
HARMLESS_SUFFIXES = ("position_ids",)
HARMLESS_PARTS = (".pooler.",)


def read_checkpoint(path: str | Path, trust: bool = False) -> dict:
    """The state dict of a Lightning checkpoint (or of a bare state-dict file)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path} holds more than tensors (Python objects that unpickling would execute): {exc}. "
            "If you trust the file, pass --trust-checkpoint (trust_checkpoint=True) to load it anyway."
        ) from exc
    except Exception as exc:  # noqa: BLE001 -- truncated or foreign files
        raise ModelLoadError(f"could not read checkpoint {path}: {exc}") from exc
    if trust:
        log.warning("loaded %s with full unpickling (--trust-checkpoint)", path)
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        return ckpt["state_dict"]
    if isinstance(ckpt, dict) and ckpt and all(hasattr(v, "shape") for v in ckpt.values()):
        return ckpt
    raise ModelLoadError(f"{path} has no 'state_dict' (not a PyTorch Lightning checkpoint)")


def strip_prefix(state_dict: dict) -> dict:
    """Remove only the *leading* `model.` (the seed's `k.replace("model.", "")` also mangles inner names)."""
    return {(k[len(PREFIX) :] if k.startswith(PREFIX) else k): v for k, v in state_dict.items()}


def load_state(model, state_dict: dict, source: str) -> None:
    expected = set(model.state_dict())
    given = set(state_dict)
    missing = sorted(expected - given)
    unexpected = sorted(given - expected)
    harmless = [k for k in unexpected if k.endswith(HARMLESS_SUFFIXES) or any(p in k for p in HARMLESS_PARTS)]
    unexpected = [k for k in unexpected if k not in harmless]
    if missing or unexpected:
        kind = type(model).__name__
        parts = []
        if missing:
            parts.append(
                f"missing {', '.join(missing[:8])}" + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else "")
            )
        if unexpected:
            parts.append(
                f"unexpected {', '.join(unexpected[:8])}"
                + (f" (+{len(unexpected) - 8} more)" if len(unexpected) > 8 else "")
            )
        raise ModelLoadError(f"checkpoint keys do not match {kind} ({source}): {'; '.join(parts)}")
    if harmless:
        log.info("ignoring %d unused checkpoint keys (%s)", len(harmless), ", ".join(harmless[:3]))
    for key in harmless:
        del state_dict[key]
    model.load_state_dict(state_dict, strict=False)


def load(pretrained: str, checkpoint: str, trust_checkpoint: bool = False, threads: int | None = None) -> LoadedModel:
    from transformers import AutoConfig, AutoModelForQuestionAnswering

    pretrained_dir = Path(pretrained)
    if not pretrained_dir.is_dir():  # a hub id: config and vocab only, the weights come from the checkpoint
        pretrained_dir = download(pretrained, ["*.json", "vocab.txt", "*.model"])
    try:
        hf_config = AutoConfig.from_pretrained(str(pretrained_dir))
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"no model config in {pretrained_dir}: {exc}") from exc
    model = AutoModelForQuestionAnswering.from_config(hf_config)
    load_state(model, strip_prefix(read_checkpoint(checkpoint, trust_checkpoint)), checkpoint)
    return LoadedModel(
        tokenizer=ensure_tokenizer(pretrained_dir),
        runtime=TorchRuntime(model, threads=threads),
        config=QAConfig(**read_settings(pretrained_dir)),
        name=f"{pretrained} + {Path(checkpoint).name}",
        source="nlpbook",
        path=str(checkpoint),
        max_positions=position_limit(hf_config),
    )
