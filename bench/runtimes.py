"""Model inference only, windows/s, for the runtimes korqa serves: ONNX Runtime (dynamic int8, the shipped file) and
OpenVINO (static int8, `korqa export --format openvino`) on the same val windows, interleaved repeats in one
process (median of --repeats), one window per call and batches under several token budgets; plus whether each
window's logits are the same alone and batched (the largest difference).

    python -m bench.runtimes --onnx runs/ort-int8 --openvino korqa/default_model --data VAL.json --questions 120

OpenVINO runs both ways: its int8 matrix products, and the same file with the activation quantization bypassed
(f32 compute, what KORQA_OPENVINO_INT8=auto picks on CPUs without int8 dot-product instructions).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from korqa.data import read_squad
from korqa.engine import QAEngine, as_question
from korqa.models import load_model
from korqa.runtime import available_cores, run_windows


def windows_per_s(runtime, windows, pad_id: int, budget: int) -> float:
    started = time.perf_counter()
    run_windows(runtime, windows, pad_id, budget)
    return len(windows) / (time.perf_counter() - started)


def batch_drift(runtime, windows, pad_id: int, budget: int) -> float:
    """Largest |logit alone - logit in its batch| over the windows."""
    batched = run_windows(runtime, windows, pad_id, budget)
    alone = run_windows(runtime, windows, pad_id, 1)  # a budget of 1 token: every window on its own
    return max(
        float(np.abs(a - b).max()) for x, y in zip(alone, batched, strict=True) for a, b in zip(x, y, strict=True)
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", default="korqa/default_model")
    ap.add_argument("--openvino", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--questions", type=int, default=120)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    threads = available_cores()
    from dataclasses import replace

    from korqa.runtime import OpenVinoRuntime

    openvino = load_model(args.openvino, threads=threads)
    xml = str(Path(args.openvino) / "model.xml")
    models = {
        "onnxruntime int8": load_model(args.onnx, threads=threads),
        "openvino int8": replace(openvino, runtime=OpenVinoRuntime(xml, threads, int8=True)),
        "openvino f32 compute": replace(openvino, runtime=OpenVinoRuntime(xml, threads, int8=False)),
    }
    first = next(iter(models.values()))
    engine = QAEngine(first)
    items = read_squad(args.data)[: args.questions]
    windows = [w for it in items for w in engine.windows_for(as_question(it.question, it.context))]
    pad_id = first.tokenizer.pad_id
    longest = max(len(w.input_ids) for w in windows)
    budgets = {"1 window per call": 1, "384-token batches (server default)": 384, "768-token batches": 768,
               "16 windows per batch": 16 * longest}  # fmt: skip
    print(f"{len(windows)} windows from {len(items)} questions, {threads} threads", file=sys.stderr)
    for m in models.values():  # warm: every shape once
        run_windows(m.runtime, windows[:32], pad_id, 384)
    rates: dict = {(name, b): [] for name in models for b in budgets}
    for _ in range(args.repeats):
        for b, budget in budgets.items():
            for name, m in models.items():
                rates[(name, b)].append(windows_per_s(m.runtime, windows, pad_id, budget))
    names = list(models)
    print("\n| batches | " + " | ".join(f"{n} windows/s" for n in names) + " | "
          + " | ".join(f"{n} / onnxruntime" for n in names[1:]) + " |")  # fmt: skip
    print("|---" * (2 * len(models)) + "|")
    for b in budgets:
        med = [statistics.median(rates[(n, b)]) for n in names]
        print(f"| {b} | " + " | ".join(f"{r:.1f}" for r in med) + " | "
              + " | ".join(f"{r / med[0]:.2f}" for r in med[1:]) + " |")  # fmt: skip
    for name, m in models.items():
        drift = batch_drift(m.runtime, windows[:64], pad_id, 16 * longest)
        print(f"{name}: largest |logit alone - batched| over 64 windows: {drift:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
