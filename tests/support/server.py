"""A real `korqa serve` process on a free loopback port (end-to-end tests, browser tests, benchmarks)."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, args: list[str], env: dict | None = None, preexec_fn=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: a pipe nobody reads blocks the server once 64 KB of log lines have piled up.
        self.log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 -- closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "korqa", "serve", "--port", str(self.port), *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            preexec_fn=preexec_fn,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"korqa serve exited {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("korqa serve did not become ready in 120 s")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        """Stop the server; returns everything it logged."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.output()


def assert_same_alone_and_together(url: str, bodies: list[dict], clients: int = 16) -> None:
    """Each body posted alone, then all of them by `clients` concurrent clients: the same answers (text,
    offsets), scores and no-answer scores to 1e-6, and the concurrent ones did share batches."""
    from concurrent.futures import ThreadPoolExecutor

    from prometheus_client.parser import text_string_to_metric_families

    def post(body: dict) -> dict:
        response = httpx.post(url + "/v1/answer", json=body, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    alone = [post(b) for b in bodies]
    with ThreadPoolExecutor(clients) as pool:
        together = list(pool.map(post, bodies))
    metrics = {f.name: f for f in text_string_to_metric_families(httpx.get(url + "/metrics").text)}
    samples = {(s.name, s.labels.get("le")): s.value for s in metrics["korqa_batch_size"].samples}
    assert samples[("korqa_batch_size_count", None)] > samples[("korqa_batch_size_bucket", "1.0")]  # shared batches
    for a, b in zip(alone, together, strict=True):
        for key in ("answers", "best_guess"):
            x, y = a.get(key) or [], b.get(key) or []
            x, y = (x if isinstance(x, list) else [x]), (y if isinstance(y, list) else [y])
            assert [(v["text"], v["start"], v["end"]) for v in x] == [(v["text"], v["start"], v["end"]) for v in y]
            assert all(abs(v["score"] - w["score"]) <= 1e-6 for v, w in zip(x, y, strict=True))
        assert abs(a["no_answer_score"] - b["no_answer_score"]) <= 1e-6
