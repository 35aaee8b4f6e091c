"""korqa against the peers a user would pick, on the same model, the same data and the same machine, in one run.

    .venv/bin/python -m bench.run --data ../shared/data/korquad/korquad1_val_20art.json --readme

Offline systems (one question per call unless "16 per call"; questions/s, p50/p95 ms, EM/F1 with the official
metric; korqa's encoder FLOP/s against an fp32 GEMM peak measured in the same run):
  seed                  the nlpbook `inference_fn`: eager fp32 PyTorch, padded to max_seq_length, one window, argmax
  hf-pipeline           transformers 5.2.0 QuestionAnsweringPipeline, PyTorch fp32 (venv bench/.venv-hf);
                        hf-pipeline-16: the same with 16 questions per call, batch_size 16
  optimum-onnxruntime   Optimum 2.1 + optimum-onnx 0.1: ORTModelForQuestionAnswering(export=True) in the pipeline
                        (transformers 4.57.1: optimum-onnx does not take 5.x; venv bench/.venv-ort)
  optimum-intel         optimum-intel 2.2: OVModelForQuestionAnswering(export=True) in the pipeline (venv .venv-ovi)
  korqa-torch           korqa's engine on the PyTorch fp32 weights
  korqa                 korqa's engine on the shipped model, on the runtime this CPU gets (OpenVINO static int8 with
                        int8 dot products, else ONNX Runtime dynamic int8); korqa-16: 16 questions per call
HTTP, every question once under 1/4/16 concurrent clients on /api, then under 16 in a seeded random order: `korqa
serve` (the shipped model) and the nlpbook chapter's Flask app as written (bench/flask_peer.py: ratsnlp's
`get_web_service_app` + `inference_fn`).
Answers alone vs batched are compared (korqa vs korqa-16 offline, 1 vs 16 clients over HTTP).

The peers run the fp32 weights the shipped int8 file was made from, as far as they can be read back: --torch-model
(default runs/default-fp32, rebuilt from the shipped IR by recipes/ov_to_hf.py when missing). Each peer venv is
made on first use. Results: bench/results/<time>.json/.md/.png; --readme rewrites the README's table.
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


def run_korqa(model_dir: str, items, label: str, hf_config: dict, peak: float, batch: int = 1) -> dict:
    """korqa's engine in this process, `batch` questions per call; the answers' offsets are kept (determinism)."""
    from dataclasses import replace

    from korqa.engine import QAEngine, as_question
    from korqa.models import load_model

    loaded = load_model(model_dir)
    counting = CountingRuntime(loaded.runtime)
    engine = QAEngine(replace(loaded, runtime=counting))
    engine.answer(items[0].question, items[0].context)  # warm-up
    counting.lengths.clear()
    predictions, spans, latencies = {}, {}, []
    started = time.perf_counter()
    for i in range(0, len(items), batch):
        group = items[i : i + batch]
        t = time.perf_counter()
        results = engine.answer_many([as_question(x.question, x.context) for x in group])
        latencies.append(time.perf_counter() - t)
        for item, r in zip(group, results, strict=True):
            best = r.answers[0] if r.answers else r.best_guess
            predictions[item.id] = r.answers[0].text if r.answers else ""
            spans[item.id] = (best.text, best.start, best.end, round(best.score, 6)) if best else None
    seconds = time.perf_counter() - started
    flops = encoder_flops(hf_config, counting.lengths)
    gflops = flops / seconds / 1e9
    return {
        "system": label,
        "questions_per_s": len(items) / seconds,
        "seconds": seconds,
        **(percentiles(latencies) if batch == 1 else {}),
        **score(items, predictions),
        "flops": flops,
        "gflops": gflops,
        "fraction_of_peak": gflops / peak,
        "compute": f"{loaded.runtime.name} {getattr(loaded.runtime, 'compute', '')}".strip(),
        "spans": spans,
    }


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


PEER_SCRIPT = r"""
import json, sys, time, os
import numpy as np
from transformers import AutoTokenizer, pipeline
model_dir, data_path, limit, max_seq_len, doc_overlap, batch, backend = sys.argv[1:8]
limit, max_seq_len, doc_overlap, batch = int(limit), int(max_seq_len), int(doc_overlap), int(batch)
if backend == "torch":
    import torch
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    qa = pipeline("question-answering", model=model_dir, tokenizer=model_dir, device=-1)
else:  # the way Optimum's docs load a Hugging Face dir: exported on load, then the transformers pipeline
    if backend == "onnxruntime":
        from optimum.onnxruntime import ORTModelForQuestionAnswering as Model
    else:
        from optimum.intel import OVModelForQuestionAnswering as Model
    qa = pipeline("question-answering", model=Model.from_pretrained(model_dir, export=True),
                  tokenizer=AutoTokenizer.from_pretrained(model_dir))
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

TORCH = "torch==2.13.0"
PEERS = {  # backend -> (venv, requirements installed after torch, removed after); pinned to what was measured
    "torch": (ROOT / "bench" / ".venv-hf", ["transformers==5.2.0", "numpy"], []),
    "onnxruntime": (
        ROOT / "bench" / ".venv-ort",
        ["transformers==4.57.1", "optimum==2.1.0", "optimum-onnx==0.1.0", "onnxruntime==1.32.0", "onnx==1.23.2"],
        [],
    ),
    "openvino": (
        ROOT / "bench" / ".venv-ovi",
        ["transformers==5.2.0", "optimum-intel==2.2.0", "openvino==2026.4.1", "nncf==3.4.0", "torchvision==0.28.0"],
        # optimum-intel requires torchvision, but PyPI's build does not load against the CPU torch 2.13.0
        # ("operator torchvision::nms does not exist") and breaks the pipeline import; QA never uses it
        ["torchvision"],
    ),
}


def peer_python(backend: str) -> Path:
    venv, requirements, remove = PEERS[backend]
    if not (venv / "bin" / "python").exists():
        print(f"creating {venv.relative_to(ROOT)} ({', '.join(requirements)})...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, TORCH], check=True)
        subprocess.run([*pip, *requirements, "numpy"], check=True)
        if remove:
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-y", "-q", *remove], check=True)
    return venv / "bin" / "python"


def run_peer(label: str, backend: str, model_dir: str, data: str, items, settings: dict, batch: int = 1) -> dict:
    overlap = max(0, settings["max_seq_length"] - settings["doc_stride"] - 64)  # korqa's step -> an overlap
    args = [model_dir, data, len(items), settings["max_seq_length"], overlap, batch, backend]
    out = subprocess.run(
        [str(peer_python(backend)), "-c", PEER_SCRIPT, *map(str, args)], capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(f"{label} failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "system": label,
        "questions_per_s": len(items) / r["seconds"],
        "seconds": r["seconds"],
        **(percentiles(r["latencies"]) if r["latencies"] else {}),
        **score(items, r["predictions"]),
    }


def http_load(url: str, items, clients_list: list[int], path: str = "/api") -> dict[int | str, dict]:
    """Every question once per client count, against a server that is already up; then once more under the most
    clients with the questions in a seeded random order (key "N, shuffled"). In file order consecutive questions
    share a passage, so the concurrent clients all ask about the same long passage at once and the queue's work
    comes in bursts; independent users' requests are not ordered that way."""
    runs: dict[int | str, dict] = {clients: drive(url, items, clients, path=path) for clients in clients_list}
    most = max(clients_list)
    if most > 1:
        order = np.random.default_rng(0).permutation(len(items))
        shuffled = drive(url, [items[i] for i in order], most, path=path)
        shuffled["answers"] = {int(order[i]): a for i, a in shuffled["answers"].items()}  # back to file order
        runs[f"{most}, shuffled"] = shuffled
    return runs


def drive(url: str, items, clients: int, path: str = "/v1/answer") -> dict:
    """Every question once, sent by `clients` concurrent clients, each posting its next one as soon as it has an
    answer (the same questions as the offline runs, so the throughputs compare). The answers come back in
    `answers` (question index -> (text, start, end) for /api, or the whole body elsewhere).

    The clients share the server's 2 cores, so they are kept lean: stdlib http.client on a kept-alive connection
    and bodies encoded beforehand (httpx cost 4 ms of CPU per request here, 5% of the machine at 25 requests/s).
    Their CPU time is reported (client_cpu_s)."""
    import http.client
    from urllib.parse import urlparse

    address = urlparse(url)
    bodies = [json.dumps({"question": x.question, "context": x.context}).encode() for x in items]
    headers = {"Content-Type": "application/json"}
    latencies, answers, errors, lock = [], {}, 0, threading.Lock()
    queue = iter(enumerate(bodies))

    def post(conn: http.client.HTTPConnection, body: bytes):
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        data = response.read()
        return response.status == 200, data

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        while True:
            with lock:
                i, body = next(queue, (None, None))
            if body is None:
                break
            t = time.perf_counter()
            try:
                ok, data = post(conn, body)
            except (OSError, http.client.HTTPException):
                ok, data = False, b""
                conn.close()
                conn = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
            with lock:
                latencies.append(time.perf_counter() - t)
                errors += not ok
                if ok:
                    answers[i] = data
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
        "answers": {i: answer_of(json.loads(data)) for i, data in answers.items()},
    }


def answer_of(body: dict):
    """What must not change with batch-mates: the answer and its offsets (the /api body), or the whole body."""
    if "answer" in body:
        return [body["answer"], body.get("start"), body.get("end"), body.get("score")]
    return body


def torch_weights(model: str, torch_model: str | None) -> str:
    """The fp32 weights for the peers: given, or the shipped IR read back (recipes/ov_to_hf.py) once."""
    if torch_model:
        return torch_model
    out = ROOT / "runs" / "default-fp32"
    if not (out / "config.json").exists():
        from recipes.ov_to_hf import rebuild

        print(f"rebuilding fp32 weights from {model} into {out.relative_to(ROOT)}...", file=sys.stderr)
        rebuild(Path(model), out)
    return str(out)


def machine() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            name = line.split(":", 1)[1].strip()
            vnni = "avx512_vnni" in Path("/proc/cpuinfo").read_text()
            return f"{len(os.sched_getaffinity(0))}-core {name}" + (" (AVX-512 VNNI)" if vnni else "")
    return f"{len(os.sched_getaffinity(0))} cores"


def identical(a: dict, b: dict) -> tuple[int, int]:
    keys = a.keys() & b.keys()
    return sum(a[k] == b[k] for k in keys), len(keys)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = results["systems"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
    names = [s["system"] for s in systems]
    ax1.bar(names, [s["questions_per_s"] for s in systems], color="#2656c9")
    ax1.set_ylabel(f"questions / s ({results['cores']} cores)")
    ax1.tick_params(axis="x", rotation=35)
    ax2.bar(names, [s["f1"] for s in systems], color="#e0a100")
    ax2.set_ylabel("F1 (KorQuAD 1.0 metric)")
    ax2.tick_params(axis="x", rotation=35)
    fig.suptitle(f"korqa vs peers, {results['count']} questions, same weights, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


DESCRIPTIONS = {
    "seed": "nlpbook `inference_fn` (PyTorch fp32, pad to 384, one window, argmax)",
    "hf-pipeline": "HF `QuestionAnsweringPipeline` (transformers 5.2.0, PyTorch fp32)",
    "hf-pipeline-16": "HF pipeline, 16 questions per call (batch_size 16)",
    "optimum-onnxruntime": "Optimum `ORTModelForQuestionAnswering` (ONNX Runtime fp32) in the pipeline",
    "optimum-intel": "optimum-intel `OVModelForQuestionAnswering` (OpenVINO) in the pipeline",
    "korqa-torch": "korqa engine, PyTorch fp32",
    "korqa": "**korqa, shipped model ({compute}), one question per call**",
    "korqa-16": "**korqa, shipped model ({compute}), 16 questions per call**",
    "korqa-onnx": "korqa, ONNX Runtime dynamic int8 export of the same weights, one question per call",
}


def markdown(results: dict) -> str:
    base = {s["system"]: s for s in results["systems"]}.get("hf-pipeline")
    lines = [
        f"`python -m bench.run --data VAL.json` ({results['date']}, {results['machine']}; all "
        f"{results['count']} val questions; every system on the same weights: the shipped int8 model and its fp32 "
        f"read-back; fp32 GEMM peak {results['gemm_peak_gflops']:.0f} GFLOP/s in the same run; the shipped model ran "
        f"as {results.get('korqa_compute', '?')}):",
        "",
        "| system | questions/s | x HF pipeline | p50 / p95 ms | EM | F1 | encoder GFLOP/s (x fp32 GEMM peak) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in results["systems"]:
        ratio = f"{s['questions_per_s'] / base['questions_per_s']:.2f}" if base else "-"
        lat = f"{s['p50_ms']:.0f} / {s['p95_ms']:.0f}" if "p50_ms" in s else "-"
        flops = f"{s['gflops']:.0f} ({s['fraction_of_peak']:.0%})" if "gflops" in s else "-"
        lines.append(
            f"| {DESCRIPTIONS.get(s['system'], s['system']).format(compute=s.get('compute', '?'))} | {s['questions_per_s']:.2f} | {ratio} | {lat} "
            f"| {s['exact_match']:.1f} | {s['f1']:.1f} | {flops} |"
        )
    http = results["http"]
    if http:
        lines += [
            "",
            "| HTTP `/api`, clients | `korqa serve` q/s (p50 / p99 ms) | x HF pipeline | x nlpbook Flask app "
            "| nlpbook Flask app q/s (p50 / p99 ms) | korqa p99/p50 | korqa vs offline 16 per call |",
            "|---|---|---|---|---|---|---|",
        ]
        for c, r in http.get("korqa serve", {}).items():
            f = http.get("nlpbook Flask app", {}).get(c)
            lines.append(
                f"| {c} | {r['requests_per_s']:.2f} ({r['p50_ms']:.0f} / {r['p99_ms']:.0f}) "
                f"| {r['requests_per_s'] / base['questions_per_s']:.2f} | "
                + (f"{r['requests_per_s'] / f['requests_per_s']:.2f} | " if f else "- | ")
                + (f"{f['requests_per_s']:.2f} ({f['p50_ms']:.0f} / {f['p99_ms']:.0f}) | " if f else "- | ")
                + f"{r['p99_ms'] / r['p50_ms']:.2f} | {r.get('fraction_of_offline', float('nan')):.0%} |"
            )
    lines.append("")
    for name, (same, n) in results["identical"].items():
        lines.append(f"Answers identical, {name}: {same} / {n}.")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="SQuAD/KorQuAD JSON (val)")
    p.add_argument("--model", default=str(ROOT / "korqa" / "default_model"), help="the korqa model (default: shipped)")
    p.add_argument("--torch-model", help="its fp32 Hugging Face dir (default: read back from --model)")
    p.add_argument("--onnx-model", help="also korqa on this ONNX export of the same weights (korqa export --int8)")
    p.add_argument("--limit", type=int, default=0, help="first N questions only (0: all)")
    p.add_argument("--skip", nargs="*", default=[], help=f"systems to skip: {', '.join(DESCRIPTIONS)}, http, flask")
    p.add_argument("--clients", type=int, nargs="*", default=[1, 4, 16])
    p.add_argument("--readme", action="store_true", help="write the table into README.md (between its markers)")
    args = p.parse_args()

    items = read_squad(args.data)
    items = items[: args.limit] if args.limit else items
    torch_model = torch_weights(args.model, args.torch_model)
    settings = json.loads((Path(torch_model) / "korqa.json").read_text())
    settings = {"max_seq_length": 384, "doc_stride": 256, "max_query_length": 64} | settings
    hf_config = json.loads((Path(torch_model) / "config.json").read_text())
    threads = len(os.sched_getaffinity(0))
    peak = gemm_peak(threads)
    print(f"{len(items)} questions, {machine()}, fp32 GEMM peak {peak:.1f} GFLOP/s", file=sys.stderr)

    def peer(label, backend, batch=1):
        return lambda: run_peer(label, backend, torch_model, args.data, items, settings, batch)

    plan = [
        ("seed", lambda: run_seed(torch_model, items, settings["max_seq_length"], settings["max_query_length"])),
        ("hf-pipeline", peer("hf-pipeline", "torch")),
        ("hf-pipeline-16", peer("hf-pipeline-16", "torch", 16)),
        ("optimum-onnxruntime", peer("optimum-onnxruntime", "onnxruntime")),
        ("optimum-intel", peer("optimum-intel", "openvino")),
        ("korqa-torch", lambda: run_korqa(torch_model, items, "korqa-torch", hf_config, peak)),
        ("korqa", lambda: run_korqa(args.model, items, "korqa", hf_config, peak)),
        ("korqa-16", lambda: run_korqa(args.model, items, "korqa-16", hf_config, peak, batch=16)),
    ]
    if args.onnx_model:
        plan.append(("korqa-onnx", lambda: run_korqa(args.onnx_model, items, "korqa-onnx", hf_config, peak)))
    systems = []
    for name, run in plan:
        if name in args.skip:
            continue
        print(f"running {name}...", file=sys.stderr)
        systems.append(run())
        print(json.dumps({k: v for k, v in systems[-1].items() if k != "spans"}), file=sys.stderr)
    by_name = {s["system"]: s for s in systems}
    same = {}
    if "korqa" in by_name and "korqa-16" in by_name:
        same["korqa one per call vs 16 per call (text, offsets, score to 1e-6)"] = identical(
            by_name["korqa"]["spans"], by_name["korqa-16"]["spans"]
        )

    http: dict[str, dict] = {}
    if "http" not in args.skip:
        from tests.support.server import Server  # the same real-process helper the end-to-end tests use

        server = Server(["--model", args.model, "--max-queue", "256"])
        try:
            print("HTTP load, korqa serve...", file=sys.stderr)
            http["korqa serve"] = http_load(server.url, items, args.clients)
        finally:
            server.stop()
        if "flask" not in args.skip:
            from bench.flask_peer import flask_server

            print("HTTP load, the nlpbook Flask app...", file=sys.stderr)
            proc, url = flask_server(torch_model, settings["max_seq_length"], settings["max_query_length"])
            try:
                http["nlpbook Flask app"] = http_load(url, items, args.clients)
            finally:
                proc.kill()
        runs = http["korqa serve"]
        most = max(c for c in runs if isinstance(c, int))
        if 1 in runs and most > 1:
            same[f"`korqa serve` 1 client vs {most} clients (answer, offsets, score)"] = identical(
                runs[1]["answers"], runs[most]["answers"]
            )
            if f"{most}, shuffled" in runs:
                same[f"`korqa serve` 1 client vs {most} clients in random order"] = identical(
                    runs[1]["answers"], runs[f"{most}, shuffled"]["answers"]
                )
        offline = by_name.get("korqa-16")
        for r in runs.values():
            if offline:
                r["fraction_of_offline"] = r["requests_per_s"] / offline["questions_per_s"]

    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "count": len(items),
        "cores": threads,
        "gemm_peak_gflops": peak,
        "systems": [{k: v for k, v in s.items() if k != "spans"} for s in systems],
        "http": {
            name: {c: {k: v for k, v in r.items() if k != "answers"} for c, r in runs.items()}
            for name, runs in http.items()
        },
        "identical": same,
        "korqa_compute": by_name.get("korqa", {}).get("compute"),
    }
    table = markdown(results)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    (out_dir / f"{stamp}.md").write_text(table)
    chart(results, out_dir / f"{stamp}.png")
    print("\n" + table)
    if args.readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        begin, end = "<!-- bench.run: begin -->\n", "<!-- bench.run: end -->"
        if begin not in text or end not in text:
            raise SystemExit("README.md has no bench.run markers")
        head, rest = text.split(begin, 1)
        readme.write_text(head + begin + table + rest[rest.index(end) :])
        print("README.md table rewritten")
    print(f"results: bench/results/{stamp}.json, .md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
