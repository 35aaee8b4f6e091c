"""Latency of POST /api on a 1,500-character Korean passage with a kcbert-base-size model (12 layers, hidden 768,
300 positions, random weights -- timing only), through a real `korqa serve`, PyTorch and ONNX int8 runtimes, next
to the seed's one-window inference_fn on the same model. The nlpbook web page gives up after 3 s.

    .venv/bin/python -m bench.kcbert_size
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_model(out: Path) -> Path:
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    from korqa.models import ModelSettings

    syllables = [chr(c) for c in range(0xAC00, 0xD7A4)]
    ascii_ = [chr(c) for c in range(33, 127)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *syllables, *("##" + s for s in syllables), *ascii_]
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=300,
    )
    BertForQuestionAnswering(config).eval().save_pretrained(out)
    ModelSettings(qa={"max_seq_length": 300, "max_query_length": 32, "max_answer_length": 30, "doc_stride": 200}).write(
        out
    )
    return out


def passage(n_chars: int = 1500) -> str:
    rng = random.Random(0)
    words = []
    while sum(len(w) + 1 for w in words) < n_chars:
        words.append("".join(chr(rng.randint(0xAC00, 0xD7A3)) for _ in range(rng.randint(1, 4))))
    return " ".join(words)[:n_chars]


def time_api(model_dir: str, question: str, context: str, n: int = 5) -> dict:
    import httpx

    from tests.support.server import Server

    server = Server(["--model", model_dir])
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            c.post("/api", json={"question": question, "context": context})  # warm-up
            latencies = []
            for _ in range(n):
                t = time.perf_counter()
                assert c.post("/api", json={"question": question, "context": context}).status_code == 200
                latencies.append(time.perf_counter() - t)
    finally:
        server.stop()
    return {"median_s": statistics.median(latencies), "max_s": max(latencies)}


def time_seed(model_dir: str, question: str, context: str, n: int = 5) -> dict:
    from transformers import BertForQuestionAnswering, BertTokenizer

    from tests.support.seed import SeedInference

    seed = SeedInference(
        BertTokenizer.from_pretrained(model_dir, do_lower_case=False),
        BertForQuestionAnswering.from_pretrained(model_dir),
        max_seq_length=128,
        max_query_length=32,
    )
    seed(question, context)
    latencies = []
    for _ in range(n):
        t = time.perf_counter()
        seed(question, context)
        latencies.append(time.perf_counter() - t)
    return {"median_s": statistics.median(latencies), "max_s": max(latencies), "note": "one 128-token window only"}


def main() -> int:
    from korqa.export import export
    from korqa.models import load_model

    question = "이 글에서 가장 중요한 단어는 무엇인가?"
    context = passage()
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(Path(tmp) / "kcbert-size")
        int8 = Path(tmp) / "kcbert-size-int8"
        export(load_model(str(model)), int8, int8=True, per_channel=True, keep_fp32=["qa_outputs"])
        results = {
            "passage_chars": len(context),
            "seed (128 tokens, 1 window)": time_seed(str(model), question, context),
            "korqa /api, PyTorch": time_api(str(model), question, context),
            "korqa /api, ONNX int8": time_api(str(int8), question, context),
        }
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
