"""The end both read-back recipes share (onnx_to_hf, ov_to_hf): a state dict of fp32 arrays -> a saved Hugging Face
BertForQuestionAnswering dir with the export's tokenizer and korqa.json settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from korqa.models import ModelSettings


def save_qa_model(config, state: dict[str, np.ndarray], src: Path, out: Path, where: str):
    import torch
    from transformers import BertForQuestionAnswering

    config.vocab_size = state["bert.embeddings.word_embeddings.weight"].shape[0]
    model = BertForQuestionAnswering(config)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.startswith("bert.pooler.")]  # QA never uses the pooler
    if missing or unexpected:
        raise SystemExit(f"weights not found in the {where}: {missing}; not placed: {unexpected}")
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (src / name).exists():
            shutil.copy(src / name, out / name)
    settings = ModelSettings.read(src)  # window settings, threshold and boundary rules carry over; export details not
    settings.record = {"exported_from": f"rebuilt in fp32 from {src}"}
    settings.write(out)
    return model
