"""The same load through `korqa serve` and through Ray Serve (1 replica x 2 threads, 2 replicas x 1 thread), and the
same file through `korqa batch` in one process and on Ray Data (2 actors x 1 thread), on this machine, in one run:
ratios, Ray's overhead per request at one client, and whether the batch answers are identical.

    python -m bench.ray_scale --data ../shared/data/korquad/korquad1_val_20art.json --limit 300

Every number compares runs of this process on the same cores; printed as a table and saved to
bench/results/ray_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from bench.run import ROOT, drive
from korqa.batch import answer_in_process, answer_rows
from korqa.data import read_squad
from korqa.engine import QAEngine
from tests.support.server import Server, free_port


def serve_load(url: str, items, clients: int, one_client: int) -> dict:
    loaded = drive(url, items, clients)
    single = drive(url, items[:one_client], 1)
    return {"many": loaded, "one": single}


def ray_load(items, replicas: int, threads: int, clients: int, one_client: int) -> dict:
    from ray import serve

    from korqa.ray import deployment

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(deployment({"threads": threads}).options(num_replicas=replicas).bind(), name="korqa", route_prefix="/")
    url = f"http://127.0.0.1:{port}"
    try:
        return serve_load(url, items, clients, one_client)
    finally:
        serve.shutdown()


def batch_runs(items, actors: int) -> dict:
    from korqa.ray import answer_dataset

    rows = [{"id": x.id, "question": x.question, "context": x.context} for x in items]
    engine = QAEngine.from_config(threads=os.cpu_count())
    answer_rows(engine, rows[:4])  # warm
    t = time.perf_counter()
    one = {a["id"]: a for a in answer_in_process(engine, rows)}
    one_s = time.perf_counter() - t
    config = engine.config
    t = time.perf_counter()
    on_ray, first = {}, None
    for a in answer_dataset(rows, None, 1, actors, config):
        first = first or time.perf_counter()
        on_ray[a["id"]] = a
    ray_s = time.perf_counter() - t
    steady_s = time.perf_counter() - first  # after the first answer: the actors are up and the model loaded
    same = sum((one[k]["answer"], one[k]["start"]) == (on_ray[k]["answer"], on_ray[k]["start"]) for k in one)
    return {
        "one_process_questions_per_s": len(rows) / one_s,
        "ray_data_questions_per_s": len(rows) / ray_s,
        "ray_data_after_first_answer_questions_per_s": (len(rows) - 1) / steady_s,
        "identical_answers": same,
        "questions": len(rows),
        "nodes": len({a["node"] for a in on_ray.values()}),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/korquad/korquad1_val_20art.json"))
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--one-client", type=int, default=60, help="questions sent by a lone client (latency)")
    ap.add_argument("--batch-only", action="store_true", help="only the batch job (one process vs Ray Data)")
    args = ap.parse_args()
    import ray

    items = read_squad(args.data)[: args.limit]
    print(f"{len(items)} questions, {os.cpu_count()} cores", file=sys.stderr)
    results: dict = {}
    if not args.batch_only:
        server = Server([])
        try:
            results["korqa serve (2 threads)"] = serve_load(server.url, items, args.clients, args.one_client)
        finally:
            server.stop()
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    ray.init(num_cpus=os.cpu_count(), object_store_memory=200 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        if not args.batch_only:
            results["Ray Serve 1 replica x 2 threads"] = ray_load(items, 1, 2, args.clients, args.one_client)
            results["Ray Serve 2 replicas x 1 thread"] = ray_load(items, 2, 1, args.clients, args.one_client)
        results["batch"] = batch_runs(items, actors=2)
    finally:
        ray.shutdown()
    print_tables(results, args)
    out = ROOT / "bench" / "results" / "ray_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return 0


def print_tables(results: dict, args) -> None:
    b = results["batch"]
    print(
        f"\nbatch: one process {b['one_process_questions_per_s']:.2f} q/s, Ray Data 2 actors "
        f"{b['ray_data_questions_per_s']:.2f} q/s ({b['ray_data_questions_per_s'] / b['one_process_questions_per_s']:.2f}x "
        f"with actor start-up; {b['ray_data_after_first_answer_questions_per_s']:.2f} q/s = "
        f"{b['ray_data_after_first_answer_questions_per_s'] / b['one_process_questions_per_s']:.2f}x after the first "
        f"answer); identical answers {b['identical_answers']}/{b['questions']}"
    )
    if args.batch_only:
        return
    base = results["korqa serve (2 threads)"]
    print(
        f"\n| server | {args.clients} clients q/s | vs korqa serve | p50 / p99 ms | p99/p50 | errors | 1 client p50 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        if name == "batch":
            continue
        many, one = r["many"], r["one"]
        print(
            f"| {name} | {many['requests_per_s']:.2f} | {many['requests_per_s'] / base['many']['requests_per_s']:.2f}x "
            f"| {many['p50_ms']:.0f} / {many['p99_ms']:.0f} | {many['p99_ms'] / many['p50_ms']:.2f} "
            f"| {many['errors']} | {one['p50_ms']:.1f} |"
        )
    same_threads = results["Ray Serve 1 replica x 2 threads"]["one"]["p50_ms"] - base["one"]["p50_ms"]
    print(f"\nRay's overhead per request, 1 client, both on 2 threads: {same_threads:+.1f} ms at p50")


if __name__ == "__main__":
    sys.exit(main())
