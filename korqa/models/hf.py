"""Hugging Face models with a QA head (AutoModelForQuestionAnswering: BERT, ELECTRA, RoBERTa, XLM-R, ...),
from a local directory or a hub id."""

from __future__ import annotations

import logging
from pathlib import Path

from korqa.config import QAConfig
from korqa.errors import ModelLoadError
from korqa.models import LoadedModel, read_saved, read_settings
from korqa.runtime import TorchRuntime
from korqa.tokenizer import QATokenizer, load_tokenizer

log = logging.getLogger(__name__)

# Files worth fetching from the hub: config, tokenizer, weights (safetensors first; .bin is loaded weights-only).
HUB_FILES = ["*.json", "vocab.txt", "*.model", "*.safetensors", "pytorch_model.bin"]


def download(repo_id: str, patterns: list[str] | None = None) -> Path:
    """Fetch a hub model into the local cache (the user's network; none here)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=patterns or HUB_FILES))
    except Exception as exc:  # noqa: BLE001 -- every hub failure becomes one actionable message
        raise ModelLoadError(
            f"could not get '{repo_id}' from the Hugging Face Hub ({type(exc).__name__}: {exc}); "
            "check the name and your network, or pass a local model directory"
        ) from exc


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
        raise ModelLoadError(f"no usable tokenizer in {model_dir}: {exc}") from exc
    if not getattr(hf_tok, "is_fast", False):
        raise ModelLoadError(f"the tokenizer in {model_dir} has no fast version (offsets are needed)")
    return QATokenizer(hf_tok.backend_tokenizer)


def load(
    model_dir: Path, threads: int | None = None, name: str | None = None, source: str = "huggingface"
) -> LoadedModel:
    from transformers import AutoConfig, AutoModelForQuestionAnswering

    try:
        hf_config = AutoConfig.from_pretrained(str(model_dir))
        model = AutoModelForQuestionAnswering.from_pretrained(str(model_dir), config=hf_config)
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(f"could not load a question-answering model from {model_dir}: {exc}") from exc
    tokenizer = ensure_tokenizer(model_dir)
    config = QAConfig(**read_settings(model_dir))
    return LoadedModel(
        tokenizer=tokenizer,
        runtime=TorchRuntime(model, threads=threads),
        config=config,
        name=name or read_saved(model_dir).get("name") or model_dir.name,
        source=source,
        path=str(model_dir),
        max_positions=position_limit(hf_config),
    )
