"""The nlpbook deployment chapter's web service as written -- ratsnlp's `get_web_service_app` (taken unchanged from
the ratsnlp 1.0.53 wheel) around the chapter's `inference_fn` (tests/support/seed.py), on Flask's own server --
against `korqa serve`, both under 1, 4 and 16 HTTP clients posting the same val questions to `/api`.

    python -m bench.flask_peer --data VAL.json --torch-model runs/e6 --limit 200

The Flask app runs the PyTorch model (eager fp32, one window of --max-seq-length) as the chapter does; korqa serve
runs its embedded model. Ratios in one run. Needs flask and flask-cors (pip install flask flask-cors) and pip to
fetch the ratsnlp wheel (no dependencies) into bench/.ratsnlp/ once.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx

from bench.run import ROOT, drive
from korqa.data import read_squad
from tests.support.server import Server, free_port

WHEEL_DIR = ROOT / "bench" / ".ratsnlp"

APP = r"""
import sys, types, zipfile
from pathlib import Path
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForQuestionAnswering, PreTrainedTokenizerFast
from tests.support.seed import SeedInference

wheel, model_dir, port, max_seq_length, max_query_length = sys.argv[1:6]
deploy = types.ModuleType("ratsnlp_deploy")  # ratsnlp's package __init__ imports its trainer: load the one file
exec(zipfile.ZipFile(wheel).read("ratsnlp/nlpbook/qa/deploy.py").decode(), deploy.__dict__)
path = str(Path(model_dir) / "tokenizer.json")
xlmr = Tokenizer.from_file(path).token_to_id("<s>") is not None
cls, sep, pad, unk = ("<s>", "</s>", "<pad>", "<unk>") if xlmr else ("[CLS]", "[SEP]", "[PAD]", "[UNK]")
tokenizer = PreTrainedTokenizerFast(tokenizer_file=path, cls_token=cls, sep_token=sep, pad_token=pad, unk_token=unk)
model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
inference_fn = SeedInference(tokenizer, model, int(max_seq_length), int(max_query_length))
app = deploy.get_web_service_app(inference_fn, is_colab=False)
app.run(host="127.0.0.1", port=int(port))
"""


def ratsnlp_wheel() -> Path:
    found = sorted(WHEEL_DIR.glob("ratsnlp-1.0.53-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "ratsnlp==1.0.53", "-d", str(WHEEL_DIR)], check=True
        )
        found = sorted(WHEEL_DIR.glob("ratsnlp-1.0.53-*.whl"))
    zipfile.ZipFile(found[0]).getinfo("ratsnlp/nlpbook/qa/deploy.py")  # the file is there
    return found[0]


def flask_server(model_dir: str, max_seq_length: int, max_query_length: int):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            APP,
            str(ratsnlp_wheel()),
            model_dir,
            str(port),
            str(max_seq_length),
            str(max_query_length),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.post(url + "/api", json={"question": "q", "context": "c"}, timeout=5)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the Flask app did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--torch-model", required=True, help="the fine-tuned model the Flask app serves (HF directory)")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--max-seq-length", type=int, default=384)
    ap.add_argument("--max-query-length", type=int, default=64)
    args = ap.parse_args()
    items = read_squad(args.data)[: args.limit]
    results: dict = {}
    proc, url = flask_server(args.torch_model, args.max_seq_length, args.max_query_length)
    try:
        results["nlpbook Flask app"] = {c: drive(url, items, c, path="/api") for c in (1, 4, 16)}
    finally:
        proc.kill()
    server = Server([])
    try:
        results["korqa serve"] = {c: drive(server.url, items, c, path="/api") for c in (1, 4, 16)}
    finally:
        server.stop()
    base = results["nlpbook Flask app"]
    print(f"\n{len(items)} questions | clients | questions/s | x nlpbook Flask | p50 / p99 ms | errors")
    print("|---|---|---|---|---|---|")
    for name, by_clients in results.items():
        for c, r in by_clients.items():
            ratio = r["requests_per_s"] / base[c]["requests_per_s"]
            print(
                f"| {name} | {c} | {r['requests_per_s']:.2f} | {ratio:.2f} | {r['p50_ms']:.0f} / {r['p99_ms']:.0f} "
                f"| {r['errors']} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
