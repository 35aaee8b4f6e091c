"""One long passage: its windows one batch after another on all cores (what korqa does), or spread over
streams (one core each, windows in flight at once)? For both runtimes of the embedded model: OpenVINO streams, and
ONNX Runtime as several one-thread sessions, each taking every n-th window on a thread of its own.

    .venv/bin/python -m bench.streams --data VAL.json --chars 5000

Passages are val paragraphs joined to --chars characters; each run answers one question over one passage. The
embedded model's OpenVINO file, computing the way this CPU gets by default (KORQA_OPENVINO_INT8=auto), and its
ONNX file. Median of --repeats interleaved runs, ms per passage.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from korqa.data import read_squad
from korqa.engine import QAEngine, as_question
from korqa.models import EMBEDDED, load_model
from korqa.runtime import (
    OnnxRuntime,
    OpenVinoRuntime,
    available_cores,
    openvino_int8_wanted,
    run_windows,
    without_activation_quantization,
)


def passages(path: str, chars: int, count: int) -> list[tuple[str, str]]:
    items = read_squad(path)
    contexts = list(dict.fromkeys(it.context for it in items))
    out = []
    for i in range(count):
        text, j = "", i
        while len(text) < chars:
            text += contexts[j % len(contexts)] + " "
            j += 1
        out.append((items[i * 7 % len(items)].question, text[:chars]))
    return out


def streams_runner(xml: str, streams: int):
    """Each window its own infer request, `streams` requests in flight, one thread per stream."""
    import openvino as ov

    model = ov.Core().read_model(xml)
    if not openvino_int8_wanted():  # as OpenVinoRuntime decides
        without_activation_quantization(model)
    compiled = ov.Core().compile_model(
        model,
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "THROUGHPUT",
            "NUM_STREAMS": streams,
            "INFERENCE_NUM_THREADS": available_cores(),
            "ENABLE_CPU_PINNING": False,
        },
    )
    queue = ov.AsyncInferQueue(compiled, streams)

    def run(windows) -> None:
        for w in windows:
            n = len(w.input_ids)
            width = -(-n // 32) * 32
            feeds = {k: np.zeros((1, width), dtype=np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
            feeds["input_ids"][0, :n] = w.input_ids
            feeds["attention_mask"][0, :n] = 1
            feeds["token_type_ids"][0, :n] = w.token_type_ids
            queue.start_async(feeds)
        queue.wait_all()

    return run


def onnx_sessions_runner(path: str, sessions: int):
    """`sessions` one-thread ONNX Runtime sessions, session i running windows i, i + sessions, ... on its own
    Python thread (ONNX Runtime releases the GIL while it computes)."""
    from concurrent.futures import ThreadPoolExecutor

    runtimes = [OnnxRuntime(path, threads=1, window_at_a_time=True) for _ in range(sessions)]
    pool = ThreadPoolExecutor(sessions)

    def part(runtime, windows) -> None:
        for w in windows:
            ids = np.asarray([w.input_ids], dtype=np.int64)
            runtime.run(ids, np.ones_like(ids), np.asarray([w.token_type_ids], dtype=np.int64))

    def run(windows) -> None:
        list(pool.map(part, runtimes, [windows[i::sessions] for i in range(sessions)]))

    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--chars", type=int, default=5000)
    ap.add_argument("--passages", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    loaded = load_model(str(EMBEDDED))
    engine = QAEngine(loaded)
    openvino = OpenVinoRuntime(str(EMBEDDED / "model.xml"))  # whichever runtime the CPU picked, compare OpenVINO
    work = [engine.windows_for(as_question(q, c)) for q, c in passages(args.data, args.chars, args.passages)]
    pad = loaded.tokenizer.pad_id
    cores = available_cores()
    modes = {f"batches on {cores} threads (korqa, 384-token budget)": lambda ws: run_windows(openvino, ws, pad, 384)}
    for streams in (2,) if cores >= 2 else ():
        modes[f"{streams} streams, a window per request"] = streams_runner(str(EMBEDDED / "model.xml"), streams)
    onnx = EMBEDDED / "model.onnx"
    if onnx.exists():
        one = OnnxRuntime(str(onnx), window_at_a_time=True)
        name = f"ONNX Runtime, a window at a time on {cores} threads (korqa)"
        modes[name] = lambda ws: run_windows(one, ws, pad, 384)
        if cores >= 2:
            modes[f"ONNX Runtime, {cores} one-thread sessions"] = onnx_sessions_runner(str(onnx), cores)
    for run in modes.values():  # warm every shape
        run(work[0])
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, run in modes.items():
            for windows in work:
                t = time.perf_counter()
                run(windows)
                times[name].append((time.perf_counter() - t) * 1e3)
    windows = statistics.mean(len(w) for w in work)
    print(
        f"{args.passages} passages of {args.chars} characters ({windows:.1f} windows each), {cores} cores, "
        f"OpenVINO compute {openvino.compute}",
        file=sys.stderr,
    )
    print("| mode | ms per passage | x korqa's way on the same runtime |\n|---|---|---|")
    for name, t in times.items():
        base = statistics.median(times[next(n for n in times if n.startswith("ONNX") == name.startswith("ONNX"))])
        print(f"| {name} | {statistics.median(t):.0f} ms | {base / statistics.median(t):.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
