"""The nlpbook / ratsnlp way: a PyTorch Lightning checkpoint of a fine-tuned *ForQuestionAnswering whose
`state_dict` keys start with `model.`, plus the pretrained model name it started from (config and vocab).

Checkpoints are pickles, and unpickling can run code. They are read with `torch.load(weights_only=True)`; a file
that needs more is refused unless the user opts in with `--trust-checkpoint`. A `.safetensors` file needs neither.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

from korqa.errors import ModelLoadError, UnsafeCheckpointError
from korqa.models import Source
from korqa.models.hf import HEAD_PREFIX, download, ensure_tokenizer, first_line, position_limit, qa_model_class
from korqa.runtime import TorchRuntime, available_cores

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

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 -- a truncated or foreign file
            raise ModelLoadError(f"could not read checkpoint {path} ({type(exc).__name__}: {first_line(exc)})") from exc
    try:
        lenient = {"pickle_module": _lenient} if trust else {}
        ckpt = torch.load(path, map_location="cpu", weights_only=not trust, **lenient)
    except pickle.UnpicklingError as exc:
        if trust:
            raise ModelLoadError(f"could not read checkpoint {path}: {first_line(exc)}") from exc
        raise UnsafeCheckpointError(
            f"{path} holds more than tensors (Python objects that unpickling would execute). "
            "If you trust the file, pass --trust-checkpoint (trust_checkpoint=True) to load it anyway."
        ) from exc
    except Exception as exc:  # noqa: BLE001 -- truncated or foreign files
        raise ModelLoadError(f"could not read checkpoint {path} ({type(exc).__name__}: {first_line(exc)})") from exc
    if trust:
        log.warning("loaded %s with full unpickling (--trust-checkpoint)", path)
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        return ckpt["state_dict"]
    if isinstance(ckpt, dict) and ckpt and all(hasattr(v, "shape") for v in ckpt.values()):
        return ckpt
    raise ModelLoadError(f"{path} has no 'state_dict' (not a PyTorch Lightning checkpoint)")


class _Missing(dict):
    """Stands for a class the checkpoint pickled from a package that is not installed (Lightning < 1.5 pickled
    its own objects, e.g. `pytorch_lightning.utilities.parsing.AttributeDict`); only the tensors are needed, so
    whatever the pickle puts in it (items, list elements, state) is kept and never used."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.items_ = []

    def append(self, item):
        self.items_.append(item)

    def extend(self, items):
        self.items_.extend(items)

    def __setstate__(self, state):
        self.state = state


class _LenientUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            log.info("checkpoint pickles %s.%s, which is not installed; kept as a placeholder", module, name)
            return type(name, (_Missing,), {"__module__": module})


class _lenient:  # noqa: N801 -- a stand-in for the `pickle` module that torch.load takes as pickle_module
    Unpickler = _LenientUnpickler
    load = pickle.load
    __name__ = "pickle"


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
        hint = ""
        if missing and all(k.startswith(HEAD_PREFIX) for k in missing):
            hint = " -- it has no question-answering head: is it a checkpoint of a QA fine-tuning run?"
        raise ModelLoadError(f"checkpoint keys do not match {kind} ({source}): {'; '.join(parts)}{hint}")
    shapes = model.state_dict()
    wrong = [
        (k, tuple(state_dict[k].shape), tuple(shapes[k].shape))
        for k in sorted(expected & given)
        if tuple(state_dict[k].shape) != tuple(shapes[k].shape)
    ]
    if wrong:
        name, got, want = wrong[0]
        raise ModelLoadError(
            f"checkpoint {source} does not fit the --pretrained model: {name} is {list(got)} in the checkpoint but "
            f"{list(want)} in the pretrained config ({len(wrong)} tensor(s) differ). Was it fine-tuned from another "
            "pretrained model? Pass that one as --pretrained."
        )
    if harmless:
        log.info("ignoring %d unused checkpoint keys (%s)", len(harmless), ", ".join(harmless[:3]))
    for key in harmless:
        del state_dict[key]
    model.load_state_dict(state_dict, strict=False)


def load(
    pretrained: str, checkpoint: str, trust_checkpoint: bool = False, threads: int | None = None
) -> tuple[Path, Source]:
    """The model `checkpoint` holds, built from `pretrained`'s config; returns the pretrained dir too (its
    korqa.json, if any, holds the settings)."""
    from transformers import AutoConfig

    pretrained_dir = Path(pretrained)
    if not pretrained_dir.is_dir():  # a hub id: config and vocab only, the weights come from the checkpoint
        pretrained_dir = download(pretrained, ["*.json", "vocab.txt", "*.model"])
    try:
        hf_config = AutoConfig.from_pretrained(str(pretrained_dir))
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"no model config in {pretrained_dir}: {first_line(exc)}") from exc
    model = qa_model_class(hf_config, str(pretrained_dir))(hf_config)
    load_state(model, strip_prefix(read_checkpoint(checkpoint, trust_checkpoint)), checkpoint)
    return pretrained_dir, Source(
        tokenizer=ensure_tokenizer(pretrained_dir),
        runtime=TorchRuntime(model, threads=threads or available_cores()),
        max_positions=position_limit(hf_config),
    )
