"""Why korqa export splits SkipLayerNormalization: the fused onnxruntime CPU kernel against the two standard ops it
replaces, on one BERT-size activation, in one run (same process, same threads).

    .venv/bin/python -m bench.ops [--hidden 384] [--tokens 768]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def session(nodes, hidden: int, threads: int) -> ort.InferenceSession:
    weights = [numpy_helper.from_array(np.full(hidden, v, np.float32), n) for n, v in (("gamma", 1.0), ("beta", 0.0))]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("x", "skip")]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", inputs, [output], weights)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def best_ms(sess: ort.InferenceSession, feeds: dict, reps: int = 300) -> float:
    for _ in range(20):
        sess.run(None, feeds)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps // 5):
            sess.run(None, feeds)
        best = min(best, (time.perf_counter() - t) / (reps // 5) * 1e3)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--tokens", type=int, default=768, help="rows x length of one batch")
    args = p.parse_args()
    threads = len(os.sched_getaffinity(0))
    rng = np.random.default_rng(0)
    feeds = {n: rng.normal(size=(1, args.tokens, args.hidden)).astype(np.float32) for n in ("x", "skip")}
    fused = session(
        [
            helper.make_node(
                "SkipLayerNormalization", ["x", "skip", "gamma", "beta"], ["y"], domain="com.microsoft", epsilon=1e-12
            )
        ],
        args.hidden,
        threads,
    )
    plain = session(
        [
            helper.make_node("Add", ["x", "skip"], ["sum"]),
            helper.make_node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12),
        ],
        args.hidden,
        threads,
    )
    diff = np.abs(fused.run(None, feeds)[0] - plain.run(None, feeds)[0]).max()
    a, b = best_ms(fused, feeds), best_ms(plain, feeds)
    print(f"onnxruntime {ort.__version__}, {threads} threads, {args.tokens} x {args.hidden} float32")
    print(f"SkipLayerNormalization        {a:.3f} ms")
    print(f"Add + LayerNormalization      {b:.3f} ms   ({a / b:.2f}x faster, max |diff| {diff:.1e})")


if __name__ == "__main__":
    main()
