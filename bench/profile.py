"""Where the embedded ONNX model's time goes on this CPU, and how far int8 matrix products could take it.

    .venv/bin/python -m bench.profile --data VAL.json --questions 60

1. ONNX Runtime's own profiler over the val windows of --questions questions, one window at a time (as korqa runs
   it): milliseconds per window by operator type.
2. The ceilings of this CPU, in the same run: an fp32 MatMul and an int8 MatMulInteger (uint8 x int8, what dynamic
   int8 computes) of the feed-forward shape [mean window length x hidden] x [hidden x 4 hidden].
3. The best case for this graph: every int8 matrix product at that int8 ceiling, everything else (attention in
   fp32, layer norms, GELU) as measured -- the most any int8 kernel could give without changing the model.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from korqa.data import read_squad
from korqa.engine import QAEngine, as_question
from korqa.models import EMBEDDED, load_model
from korqa.runtime import available_cores

INT8_MATMULS = {"DynamicQuantizeMatMul", "MatMulInteger", "QAttention"}


def options(threads: int, profile_prefix: str | None = None) -> ort.SessionOptions:
    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        o.enable_profiling, o.profile_file_prefix = True, profile_prefix
    return o


def matmul_rate(rows: int, inner: int, cols: int, int8: bool, threads: int, repeats: int = 30) -> float:
    """Multiply-accumulates per second of one [rows x inner] x [inner x cols] product."""
    rng = np.random.default_rng(0)
    if int8:
        a = rng.integers(0, 255, (rows, inner), dtype=np.uint8)
        b = rng.integers(-127, 127, (inner, cols), dtype=np.int8)
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
        types, out = (TensorProto.UINT8, TensorProto.INT8), TensorProto.INT32
    else:
        a = rng.standard_normal((rows, inner), dtype=np.float32)
        b = rng.standard_normal((inner, cols), dtype=np.float32)
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
        types, out = (TensorProto.FLOAT, TensorProto.FLOAT), TensorProto.FLOAT
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("a", types[0], a.shape)],
        [helper.make_tensor_value_info("y", out, None)],
        [helper.make_tensor("b", types[1], b.shape, b.tobytes(), raw=True)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), options(threads), providers=["CPUExecutionProvider"])
    for _ in range(3):
        session.run(None, {"a": a})
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, {"a": a})
        best = min(best, time.perf_counter() - t)
    return rows * inner * cols / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default=str(EMBEDDED), help="a directory with model.onnx (default: embedded)")
    ap.add_argument("--questions", type=int, default=60)
    ap.add_argument("--hidden", type=int, default=384, help="the model's hidden size (embedded: 384, FF 4x)")
    ap.add_argument("--layers", type=int, default=12, help="its layers (embedded: 12)")
    args = ap.parse_args()
    threads = available_cores()
    loaded = load_model(args.model)
    engine = QAEngine(loaded)
    items = read_squad(args.data)[: args.questions]
    windows = [w for it in items for w in engine.windows_for(as_question(it.question, it.context))]
    lengths = [len(w.input_ids) for w in windows]
    hidden, ff, layers = args.hidden, 4 * args.hidden, args.layers

    with tempfile.TemporaryDirectory() as tmp:
        session = ort.InferenceSession(
            str(Path(args.model) / "model.onnx"), options(threads, f"{tmp}/ort"), providers=["CPUExecutionProvider"]
        )
        types = {i.name for i in session.get_inputs()}

        def run(w) -> None:
            ids = np.asarray([w.input_ids], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            if "token_type_ids" in types:
                feeds["token_type_ids"] = np.asarray([w.token_type_ids], dtype=np.int64)
            session.run(None, feeds)

        for w in windows[:3]:
            run(w)
        started = time.perf_counter()
        for w in windows:
            run(w)
        seconds = time.perf_counter() - started
        events = json.loads(Path(session.end_profiling()).read_text())
    by_op: collections.Counter = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"] / 1e3 / len(windows)
    total = sum(by_op.values())
    mean = float(np.mean(lengths))
    print(
        f"{len(windows)} windows of {len(items)} questions, mean {mean:.0f} tokens, {threads} threads: "
        f"{len(windows) / seconds:.2f} windows/s ({seconds / len(windows) * 1e3:.1f} ms per window, profiler on)",
        file=sys.stderr,
    )
    print("| operator | ms per window | share |\n|---|---|---|")
    for op, ms in by_op.most_common():
        if ms >= 0.05:
            print(f"| {op} | {ms:.2f} | {ms / total:.1%} |")

    rows = int(round(mean))
    fp32 = matmul_rate(rows, hidden, ff, int8=False, threads=threads)
    int8 = matmul_rate(rows, hidden, ff, int8=True, threads=threads)
    linear_macs = layers * (4 * hidden * hidden + 2 * hidden * ff) * mean
    attention_macs = layers * 2 * mean * mean * hidden
    int8_ms = sum(ms for op, ms in by_op.items() if op in INT8_MATMULS)
    other_ms = total - int8_ms
    # QAttention also holds the attention itself (fp32): at best it runs at the fp32 ceiling
    floor_ms = linear_macs / int8 * 1e3 + attention_macs / fp32 * 1e3 + other_ms
    print(
        f"\nCeilings, [{rows} x {hidden}] x [{hidden} x {ff}]: fp32 MatMul {2 * fp32 / 1e9:.0f} GFLOP/s, "
        f"int8 MatMulInteger {2 * int8 / 1e9:.0f} GOP/s ({int8 / fp32:.2f}x fp32).\n"
        f"Per window: int8 linear layers + attention {int8_ms:.1f} ms as run "
        f"({linear_macs / 1e9:.2f} G int8 MACs, {attention_macs / 1e9:.2f} G fp32 MACs), the rest {other_ms:.1f} ms.\n"
        f"Best case, every int8 product at the int8 ceiling and attention at the fp32 one: {floor_ms:.1f} ms per "
        f"window, {total / floor_ms:.2f}x what runs now."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
