"""Hugging Face models with a QA head (AutoModelForQuestionAnswering: BERT, ELECTRA, RoBERTa, XLM-R, ...),
from a local directory or a hub id.

A directory without a trained QA head (a pretrained encoder such as beomi/kcbert-base itself) is refused:
transformers would add a randomly initialised head that answers nonsense, differently on every run."""

from __future__ import annotations

import logging
from pathlib import Path

from korqa.errors import ModelLoadError
from korqa.models import Source
from korqa.runtime import TorchRuntime, available_cores
from korqa.tokenizer import QATokenizer, load_tokenizer

log = logging.getLogger(__name__)

# Files worth fetching from the hub: config, tokenizer, weights (safetensors first; .bin is loaded weights-only).
HUB_FILES = ["*.json", "vocab.txt", "*.model", "*.safetensors", "pytorch_model.bin"]
HEAD_PREFIX = "qa_outputs."  # the QA head of every transformers *ForQuestionAnswering korqa serves


def download(repo_id: str, patterns: list[str] | None = None) -> Path:
    """Fetch a hub model into the local cache (the user's network; none here)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=patterns or HUB_FILES))
    except ImportError:
        raise
    except Exception as exc:  # noqa: BLE001 -- every hub failure becomes one actionable message
        raise ModelLoadError(
            f"could not get '{repo_id}' from the Hugging Face Hub ({type(exc).__name__}: {first_line(exc)}); "
            "check the name and your network, or pass a local model directory"
        ) from exc


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def position_limit(config) -> int:
    """Longest input the position embeddings allow. RoBERTa-style models offset positions by pad_token_id + 1."""
    limit = int(getattr(config, "max_position_embeddings", 512))
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert", "longformer"):
        limit -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    return limit


def ensure_tokenizer(model_dir: Path) -> QATokenizer:
    """The tokenizer beside the model; transformers converts sentencepiece-only models to a fast tokenizer."""
    if (model_dir / "tokenizer.json").exists() or (model_dir / "vocab.txt").exists():
        return load_tokenizer(model_dir)
    from transformers import AutoTokenizer

    try:
        hf_tok = AutoTokenizer.from_pretrained(str(model_dir))
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"no usable tokenizer in {model_dir}: {first_line(exc)}") from exc
    if not getattr(hf_tok, "is_fast", False):
        raise ModelLoadError(f"the tokenizer in {model_dir} has no fast version (offsets are needed)")
    return QATokenizer(hf_tok.backend_tokenizer)


def qa_model_class(hf_config, where: str):
    """The *ForQuestionAnswering class for this config, or a clear error for an architecture without one."""
    from transformers import AutoModelForQuestionAnswering

    try:
        return AutoModelForQuestionAnswering._model_mapping[type(hf_config)]
    except KeyError:
        raise ModelLoadError(
            f"{where}: model type '{getattr(hf_config, 'model_type', '?')}' has no question-answering architecture "
            "in transformers (korqa serves BERT, ELECTRA, RoBERTa, XLM-R and other encoders)"
        ) from None


def load(model_dir: Path, threads: int | None = None) -> Source:
    from transformers import AutoConfig

    try:
        hf_config = AutoConfig.from_pretrained(str(model_dir))
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"no usable config.json in {model_dir}: {first_line(exc)}") from exc
    cls = qa_model_class(hf_config, str(model_dir))
    try:
        model, info = cls.from_pretrained(str(model_dir), config=hf_config, output_loading_info=True)
    except Exception as exc:  # noqa: BLE001
        reason = first_line(exc).replace(" For details look at the above report!", "")
        raise ModelLoadError(
            f"could not load a question-answering model from {model_dir}: {reason} (korqa -v shows transformers' report)"
        ) from exc
    missing = sorted(info.get("missing_keys") or [])
    if any(k.startswith(HEAD_PREFIX) for k in missing):
        raise ModelLoadError(
            f"{model_dir} has no trained question-answering head ({HEAD_PREFIX}weight is not in its weights): it is "
            "a pretrained encoder, and would answer at random. Serve a model fine-tuned for QA -- for an nlpbook "
            "checkpoint: --pretrained "
            + str(model_dir)
            + " --checkpoint FILE.ckpt; or train one: korqa train --base "
            + str(model_dir)
        )
    if missing:
        raise ModelLoadError(f"{model_dir}: weights missing for {', '.join(missing[:5])}" + _more(missing))
    return Source(
        tokenizer=ensure_tokenizer(model_dir),
        runtime=TorchRuntime(model, threads=threads or available_cores()),
        max_positions=position_limit(hf_config),
    )


def _more(items: list) -> str:
    return f" (+{len(items) - 5} more)" if len(items) > 5 else ""
