"""korqa against its baselines, on the same model, the same data and the same machine, in one run.

    .venv/bin/python -m bench.run --data ../shared/data/korquad/korquad1_val_20art.json \
        --torch-model runs/run1/model --onnx-model runs/export/fp32 --int8-model korqa/default_model

Systems (one question at a time unless "batched": questions/s, p50/p95 latency, EM/F1 with the official metric):
  seed        the nlpbook inference_fn: eager fp32 PyTorch, padded to max_seq_length, one window, argmax, decode
  hf-pipeline transformers 5.2.0 QuestionAnsweringPipeline (its own venv, bench/.venv-hf, made on first run);
              hf-pipeline-batched: the same with 16 questions per call and batch_size=16
  korqa-torch korqa engine, PyTorch runtime;  korqa-onnx: ONNX fp32;  korqa-int8: ONNX int8
plus korqa-int8 offline with many questions per call (the engine's batched throughput), and an HTTP load run:
concurrent clients against a real `korqa serve` (requests/s, p50/p99, errors). Ratios are against hf-pipeline;
FLOP/s is against an fp32 GEMM peak measured in the same run. Results: bench/results/<time>.json and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from korqa.data import QAItem, read_squad
from korqa.metric import score

ROOT = Path(__file__).resolve().parent.parent

HF_VENV = ROOT / "bench" / ".venv-hf"


def percentiles(latencies: list[float]) -> dict:
    a = np.asarray(latencies) * 1e3
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
    }


def timed(items: list[QAItem], answer) -> dict:
    """Run `answer(item) -> text` on every item, one at a time."""
    predictions, latencies = {}, []
    started = time.perf_counter()
    for item in items:
        t = time.perf_counter()
        predictions[item.id] = answer(item)
        latencies.append(time.perf_counter() - t)
    seconds = time.perf_counter() - started
    return {
        "questions_per_s": len(items) / seconds,
        "seconds": seconds,
        **percentiles(latencies),
        **score(items, predictions),
    }


def gemm_peak(threads: int) -> float:
    """fp32 GFLOP/s of a large square matmul with the threads the engine uses (PyTorch's BLAS)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 2048**3 / (time.perf_counter() - t) / 1e9)
    return best


def encoder_flops(config: dict, lengths: list[int]) -> float:
    """Forward FLOPs of the encoder for windows of these (padded) lengths: 2 x weights per token + attention."""
    h, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    per_token = layers * 2 * (4 * h * h + 2 * h * ff)
    return float(sum(per_token * n + layers * 4 * n * n * h for n in lengths))


class CountingRuntime:
    """Wraps a runtime and records the padded length of every row it computes (for FLOP/s)."""

    def __init__(self, inner):
        self.inner, self.name, self.uses_token_type_ids = inner, inner.name, inner.uses_token_type_ids
        self.lengths: list[int] = []

    def forward(self, batch):
        self.lengths += [batch.input_ids.shape[1]] * batch.input_ids.shape[0]
        return self.inner.forward(batch)


def run_korqa(model_dir: str, items, label: str, hf_config: dict, peak: float, batched: bool = False) -> dict:
    from dataclasses import replace

    from korqa.engine import QAEngine, as_question
    from korqa.models import load_model

    loaded = load_model(model_dir)
    counting = CountingRuntime(loaded.runtime)
    engine = QAEngine(replace(loaded, runtime=counting))
    engine.answer(items[0].question, items[0].context)  # warm-up
    counting.lengths.clear()
    if batched:
        predictions, started = {}, time.perf_counter()
        for i in range(0, len(items), 16):
            group = items[i : i + 16]
            for item, r in zip(
                group, engine.answer_many([as_question(x.question, x.context) for x in group]), strict=True
            ):
                predictions[item.id] = r.answers[0].text if r.answers else ""
        seconds = time.perf_counter() - started
        result = {"questions_per_s": len(items) / seconds, "seconds": seconds, **score(items, predictions)}
    else:

        def answer(item):
            r = engine.answer(item.question, item.context)
            return r.answers[0].text if r.answers else ""

        result = timed(items, answer)
    flops = encoder_flops(hf_config, counting.lengths)
    gflops = flops / result["seconds"] / 1e9
    return {"system": label, **result, "flops": flops, "gflops": gflops, "fraction_of_peak": gflops / peak}


def run_seed(model_dir: str, items, max_seq_length: int, max_query_length: int) -> dict:
    import torch
    from transformers import AutoModelForQuestionAnswering, PreTrainedTokenizerFast

    from tests.support.seed import SeedInference

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    from tokenizers import Tokenizer

    path = str(Path(model_dir) / "tokenizer.json")
    xlmr = Tokenizer.from_file(path).token_to_id("<s>") is not None
    cls, sep, pad, unk = ("<s>", "</s>", "<pad>", "<unk>") if xlmr else ("[CLS]", "[SEP]", "[PAD]", "[UNK]")
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=path, cls_token=cls, sep_token=sep, pad_token=pad, unk_token=unk)
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
    seed = SeedInference(tokenizer, model, max_seq_length=max_seq_length, max_query_length=max_query_length)
    return {"system": "seed", **timed(items, lambda item: seed(item.question, item.context)["answer"])}


HF_SCRIPT = r"""
import json, sys, time, os
import numpy as np, torch
from transformers import pipeline
torch.set_num_threads(len(os.sched_getaffinity(0)))
model_dir, data_path, limit, max_seq_len, doc_overlap, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
qa = pipeline("question-answering", model=model_dir, tokenizer=model_dir, device=-1)
data = json.load(open(data_path))["data"]
items = [(qa_["id"], qa_["question"], p["context"]) for a in data for p in a["paragraphs"] for qa_ in p["qas"]][:limit]
qa(question=items[0][1], context=items[0][2])
kw = dict(max_seq_len=max_seq_len, doc_stride=doc_overlap, max_answer_len=30)
preds, lat = {}, []
start = time.perf_counter()
if batch > 1:  # the pipeline's own batching: lists in, batch_size windows per forward
    for i in range(0, len(items), batch):
        group = items[i : i + batch]
        outs = qa(question=[q for _, q, _ in group], context=[c for _, _, c in group], batch_size=batch, **kw)
        for (qid, _, _), out in zip(group, outs if isinstance(outs, list) else [outs]):
            preds[qid] = out["answer"]
else:
    for qid, q, c in items:
        t = time.perf_counter()
        out = qa(question=q, context=c, **kw)
        lat.append(time.perf_counter() - t)
        preds[qid] = out["answer"]
print(json.dumps({"seconds": time.perf_counter() - start, "latencies": lat, "predictions": preds}))
"""


def run_hf_pipeline(model_dir: str, data: str, items, max_seq_length: int, doc_stride: int, batch: int = 1) -> dict:
    if not (HF_VENV / "bin" / "python").exists():
        print("creating bench/.venv-hf (torch 2.13.0 CPU + transformers 5.2.0)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(HF_VENV)], check=True)
        pip = [str(HF_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "torch==2.13.0"], check=True)
        subprocess.run([*pip, "transformers==5.2.0", "numpy"], check=True)
    overlap = max(0, max_seq_length - doc_stride - 64)  # korqa's step -> the pipeline's overlap, roughly
    out = subprocess.run(
        [
            str(HF_VENV / "bin" / "python"),
            "-c",
            HF_SCRIPT,
            model_dir,
            data,
            str(len(items)),
            str(max_seq_length),
            str(overlap),
            str(batch),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "system": "hf-pipeline" if batch == 1 else "hf-pipeline-batched",
        "questions_per_s": len(items) / r["seconds"],
        "seconds": r["seconds"],
        **(percentiles(r["latencies"]) if r["latencies"] else {}),
        **score(items, r["predictions"]),
    }


def http_load(model_dir: str, items, clients: int) -> dict:
    """Every question once through a real `korqa serve` process (see `drive`)."""
    from tests.support.server import Server  # the same real-process helper the end-to-end tests use

    server = Server(["--model", model_dir, "--max-queue", "256"])
    try:
        return drive(server.url, items, clients)
    finally:
        server.stop()


def drive(url: str, items, clients: int, path: str = "/v1/answer") -> dict:
    """Every question once, sent by `clients` concurrent clients, each posting its next one as soon as it has an
    answer (the same questions as the offline runs, so the throughputs compare).

    The clients share the server's 2 cores, so they are kept lean: stdlib http.client on a kept-alive connection
    and bodies encoded beforehand (httpx cost 4 ms of CPU per request here, 5% of the machine at 25 requests/s).
    Their CPU time is reported (client_cpu_s)."""
    import http.client
    from urllib.parse import urlparse

    address = urlparse(url)
    bodies = [json.dumps({"question": x.question, "context": x.context}).encode() for x in items]
    headers = {"Content-Type": "application/json"}
    latencies, errors, lock = [], 0, threading.Lock()
    queue = iter(bodies)

    def post(conn: http.client.HTTPConnection, body: bytes) -> bool:
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        response.read()
        return response.status == 200

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        while True:
            with lock:
                body = next(queue, None)
            if body is None:
                break
            t = time.perf_counter()
            try:
                ok = post(conn, body)
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
            with lock:
                latencies.append(time.perf_counter() - t)
                errors += not ok
        conn.close()

    warm = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    for body in bodies[:4]:
        post(warm, body)
    warm.close()
    cpu, started = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "clients": clients,
        "requests": len(latencies),
        "requests_per_s": len(latencies) / seconds,
        "errors": errors,
        "client_cpu_s": cpu,
        "seconds": seconds,
        **percentiles(latencies),
    }


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = results["systems"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    names = [s["system"] for s in systems]
    ax1.bar(names, [s["questions_per_s"] for s in systems], color="#2656c9")
    ax1.set_ylabel("questions / s (2 cores)")
    ax1.tick_params(axis="x", rotation=30)
    ax2.bar(names, [s["f1"] for s in systems], color="#e0a100")
    ax2.set_ylabel("F1 (KorQuAD 1.0 metric)")
    ax2.tick_params(axis="x", rotation=30)
    fig.suptitle(f"korqa vs baselines, {results['count']} questions, same model, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--torch-model", required=True, help="Hugging Face dir of the model (seed, pipeline, korqa-torch)")
    p.add_argument("--onnx-model", help="korqa export of the same model, fp32")
    p.add_argument("--int8-model", help="korqa export of the same model, int8")
    p.add_argument("--limit", type=int, default=0, help="first N questions only (0: all)")
    p.add_argument("--skip", nargs="*", default=[], help="systems to skip (seed, hf-pipeline, korqa-torch, ...)")
    p.add_argument("--clients", type=int, nargs="*", default=[1, 4, 16])
    args = p.parse_args()

    items = read_squad(args.data)
    items = items[: args.limit] if args.limit else items
    settings = json.loads((Path(args.torch_model) / "korqa.json").read_text())
    hf_config = json.loads((Path(args.torch_model) / "config.json").read_text())
    threads = len(os.sched_getaffinity(0))
    peak = gemm_peak(threads)
    print(f"{len(items)} questions, {threads} cores, fp32 GEMM peak {peak:.1f} GFLOP/s", file=sys.stderr)

    systems = []
    plan = [
        ("seed", lambda: run_seed(args.torch_model, items, settings["max_seq_length"], settings["max_query_length"])),
        (
            "hf-pipeline",
            lambda: run_hf_pipeline(
                args.torch_model, args.data, items, settings["max_seq_length"], settings["doc_stride"]
            ),
        ),
        (
            "hf-pipeline-batched",
            lambda: run_hf_pipeline(
                args.torch_model, args.data, items, settings["max_seq_length"], settings["doc_stride"], batch=16
            ),
        ),
        ("korqa-torch", lambda: run_korqa(args.torch_model, items, "korqa-torch", hf_config, peak)),
        (
            "korqa-onnx",
            lambda: run_korqa(args.onnx_model, items, "korqa-onnx", hf_config, peak) if args.onnx_model else None,
        ),
        (
            "korqa-int8",
            lambda: run_korqa(args.int8_model, items, "korqa-int8", hf_config, peak) if args.int8_model else None,
        ),
        (
            "korqa-int8-batched",
            lambda: (
                run_korqa(args.int8_model, items, "korqa-int8-batched", hf_config, peak, batched=True)
                if args.int8_model
                else None
            ),
        ),
    ]
    for name, run in plan:
        if name in args.skip:
            continue
        print(f"running {name}...", file=sys.stderr)
        result = run()
        if result:
            systems.append(result)
            print(json.dumps(result), file=sys.stderr)
    base = next((s for s in systems if s["system"] == "hf-pipeline"), None)
    for s in systems:
        if base:
            s["speedup_vs_hf_pipeline"] = s["questions_per_s"] / base["questions_per_s"]
    load = []
    serve_model = args.int8_model or args.onnx_model
    if serve_model and "http" not in args.skip:
        for clients in args.clients:
            print(f"HTTP load, {clients} clients...", file=sys.stderr)
            load.append(http_load(serve_model, items, clients))
            print(json.dumps(load[-1]), file=sys.stderr)
    offline = next((s for s in systems if s["system"] == "korqa-int8-batched"), None)
    for r in load:
        r["p99_over_p50"] = r["p99_ms"] / r["p50_ms"]
        if offline and serve_model == args.int8_model:
            r["fraction_of_offline"] = r["requests_per_s"] / offline["questions_per_s"]
            # the server computes the same windows as the offline run (padding may differ a little)
            r["gflops"] = offline["flops"] / r["seconds"] / 1e9
            r["fraction_of_peak"] = r["gflops"] / peak
    results = {"count": len(items), "cores": threads, "gemm_peak_gflops": peak, "systems": systems, "http": load}
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    chart(results, out_dir / f"{stamp}.png")
    print(
        f"\n{'system':<20}{'q/s':>8}{'x HF':>7}{'p50 ms':>9}{'p95 ms':>9}{'EM':>7}{'F1':>7}{'GFLOP/s':>9}{'of peak':>8}"
    )
    for s in systems:
        print(
            f"{s['system']:<20}{s['questions_per_s']:>8.2f}{s.get('speedup_vs_hf_pipeline', float('nan')):>7.2f}"
            f"{s.get('p50_ms', float('nan')):>9.0f}{s.get('p95_ms', float('nan')):>9.0f}{s['exact_match']:>7.1f}{s['f1']:>7.1f}"
            f"{s.get('gflops', float('nan')):>9.1f}{s.get('fraction_of_peak', float('nan')):>8.0%}"
        )
    for r in load:
        print(
            f"HTTP {r['clients']:>2} clients: {r['requests_per_s']:.2f} req/s"
            f" ({r.get('fraction_of_offline', float('nan')):.0%} of offline batched),"
            f" p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms (p99/p50 {r['p99_over_p50']:.2f}), {r['errors']} errors,"
            f" ~{r.get('gflops', float('nan')):.0f} GFLOP/s ({r.get('fraction_of_peak', float('nan')):.0%} of peak)"
        )
    print(f"\nresults: bench/results/{stamp}.json, bench/results/{stamp}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
