"""Latency for one user: one client, one question at a time, through a real `korqa serve` process per model, on
KorQuAD questions and on long passages (1,500 and 5,000 characters made of consecutive val paragraphs).

    python -m bench.latency --data VAL.json --models korqa/default_model runs/e6-int8

p50 / p99 in ms per model and passage size, measured one model after another in one run.
"""

from __future__ import annotations

import argparse
import sys
import time

import httpx
import numpy as np

from korqa.data import read_squad
from tests.support.server import Server


def long_passages(items, chars: int, n: int) -> list[dict]:
    """Questions whose passage is grown to `chars` characters with the following distinct paragraphs."""
    contexts = list(dict.fromkeys(i.context for i in items))
    out = []
    for item in items[:n]:
        text, k = item.context, contexts.index(item.context) + 1
        while len(text) < chars and k < len(contexts):
            text += "\n" + contexts[k]
            k += 1
        out.append({"question": item.question, "context": text[: max(chars, len(item.context))]})
    return out


def one_client(url: str, bodies: list[dict]) -> dict:
    latencies = []
    with httpx.Client(timeout=120) as http:
        http.post(url + "/v1/answer", json=bodies[0])  # warm
        for body in bodies:
            t = time.perf_counter()
            r = http.post(url + "/v1/answer", json=body)
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
    a = np.asarray(latencies) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", nargs="+", default=["korqa/default_model"])
    ap.add_argument("--questions", type=int, default=100)
    args = ap.parse_args()
    items = read_squad(args.data)
    sets = {
        "KorQuAD questions": [{"question": i.question, "context": i.context} for i in items[: args.questions]],
        "1,500-character passages": long_passages(items, 1500, args.questions // 2),
        "5,000-character passages": long_passages(items, 5000, args.questions // 4),
    }
    print("| model | " + " | ".join(f"{s} p50 / p99 ms" for s in sets) + " |")
    print("|---" * (len(sets) + 1) + "|")
    for model in args.models:
        server = Server(["--model", model, "--max-context-chars", "20000"])
        try:
            row = [one_client(server.url, bodies) for bodies in sets.values()]
        finally:
            server.stop()
        print(f"| {model} | " + " | ".join(f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f}" for r in row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
