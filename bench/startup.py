"""Seconds from `korqa serve` process start to a ready server (/readyz answers), median of several starts.

.venv/bin/python -m bench.startup [--model DIR] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parent.parent


def start_to_ready(args: list[str]) -> float:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "korqa.cli", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"korqa serve exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", help="default: the embedded default model")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    extra = ["--model", args.model] if args.model else []
    times = [start_to_ready(extra) for _ in range(args.runs)]
    print(f"start to ready: median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
