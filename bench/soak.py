"""Soak a real `korqa serve` with mixed traffic and report what happened to every request.

    .venv/bin/python -m bench.soak --minutes 5                    # the embedded default model
    .venv/bin/python -m bench.soak --minutes 1 --model DIR --json  # a short run, one JSON line at the end

Clients, all on loopback, each a bounded loop that stops by itself:
  normal       one-sentence questions over a short passage, back to back (the latency that must stay low)
  heavy        16 passages of 20,000 characters per request (413 under the default work budget; answered, slowly,
               with --heavy-budget): measures whether one client can starve the others
  malformed    broken JSON, wrong types, wrong content type, oversized bodies -> must get 4xx, never 5xx
  disconnect   sends a request and hangs up before the answer
  slow         a header byte every 0.5 s (slowloris) -> closed by the server's read timeout

Reported: requests by client and outcome (status code, or 'abandoned' for the disconnecting client), lost
requests (sent but neither answered nor refused with a status: must be 0), 5xx count (must be 0), p50/p99 of the
normal client alone on the idle server and under the mixed load (and their ratio), and the server's RSS before
and after (the baseline is taken after a warm-up that includes full-length windows).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from tests.support.server import Server

QUESTION = "훈민정음을 반포한 해는 언제인가?"
PASSAGE = (
    "훈민정음은 조선의 제4대 왕 세종이 만든 문자이다. 세종은 1443년에 훈민정음을 창제하였고, "
    "3년 뒤인 1446년에 이를 반포하였다. 오늘날 한국에서는 이 문자를 한글이라고 부르며, "
    "반포를 기념하는 한글날은 10월 9일이다."
)
HEAVY_PASSAGE = (PASSAGE + " ") * (20_000 // (len(PASSAGE) + 1))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def post(port: int, path: str, body: bytes, content_type: str = "application/json", timeout: float = 120):
    """(status, seconds); raises OSError/http errors on a lost connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request("POST", path, body, {"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        conn.close()


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes: dict[str, Counter] = {}
        self.sent: Counter = Counter()
        self.latencies: list[float] = []

    def record(self, client: str, outcome: str, seconds: float | None = None) -> None:
        with self.lock:
            self.sent[client] += 1
            self.outcomes.setdefault(client, Counter())[outcome] += 1
            if client == "normal" and outcome == "200" and seconds is not None:
                self.latencies.append(seconds)


def normal_client(port: int, tally: Tally, stop: threading.Event) -> None:
    body = json.dumps({"question": QUESTION, "context": PASSAGE}).encode()
    while not stop.is_set():
        try:
            status, seconds = post(port, "/v1/answer", body)
            tally.record("normal", str(status), seconds)
        except OSError as exc:
            tally.record("normal", f"lost:{type(exc).__name__}")


def heavy_client(port: int, tally: Tally, stop: threading.Event) -> None:
    body = json.dumps({"question": QUESTION, "contexts": [HEAVY_PASSAGE] * 16}).encode()
    while not stop.is_set():
        try:
            status, _ = post(port, "/v1/answer", body)
            tally.record("heavy", str(status))
        except OSError as exc:
            tally.record("heavy", f"lost:{type(exc).__name__}")
        stop.wait(0.1)


MALFORMED = [
    (b'{"question": "q", "context": ', "application/json"),
    (b'{"question": "q", "context": "c", "top_k": "3"}', "application/json"),
    (b'{"question": 1, "context": "c"}', "application/json"),
    (b'{"question": "q", "context": "c"}', "text/plain"),
    (b'{"question": "\xff", "context": "c"}', "application/json"),
    (b"[" * 50_000, "application/json"),
    (json.dumps({"question": "q", "context": "가" * 30_000}).encode(), "application/json"),
]


def malformed_client(port: int, tally: Tally, stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        body, content_type = MALFORMED[i % len(MALFORMED)]
        i += 1
        try:
            status, _ = post(port, "/v1/answer", body, content_type)
            tally.record("malformed", str(status))
        except OSError as exc:
            tally.record("malformed", f"lost:{type(exc).__name__}")
        stop.wait(0.05)


def disconnect_client(port: int, tally: Tally, stop: threading.Event) -> None:
    body = json.dumps({"question": QUESTION, "context": PASSAGE * 20}).encode()
    while not stop.is_set():
        with socket.create_connection(("127.0.0.1", port)) as s:
            head = "POST /v1/answer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            s.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.01)
        tally.record("disconnect", "abandoned")
        stop.wait(0.2)


def slow_client(port: int, tally: Tally, stop: threading.Event) -> None:
    while not stop.is_set():
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/answer HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        outcome = "open-at-end"
        while not stop.is_set():
            try:
                s.sendall(b"X-Slow: 1\r\n")
                if s.recv(1, socket.MSG_DONTWAIT) == b"":
                    outcome = "closed-by-server"
                    break
            except BlockingIOError:
                pass
            except OSError:
                outcome = "closed-by-server"
                break
            stop.wait(0.5)
        s.close()
        tally.record("slow", outcome, time.monotonic() - started)


CLIENTS = {
    "normal": normal_client,
    "heavy": heavy_client,
    "malformed": malformed_client,
    "disconnect": disconnect_client,
    "slow": slow_client,
}


def percentiles(latencies: list[float]) -> dict:
    if not latencies:
        return {"count": 0}
    a = np.asarray(latencies) * 1e3
    return {
        "count": len(a),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
    }


def soak(args) -> dict:
    server_args = [*(["--model", args.model] if args.model else []), "--read-timeout", "3"]
    if args.heavy_budget:  # ~700 windows each: answered in minutes, not refused
        server_args += ["--max-request-windows", "1000", "--request-timeout", "600"]
    srv = Server(server_args)
    try:
        port = srv.port
        body = json.dumps({"question": QUESTION, "context": PASSAGE}).encode()
        # Warm-up, with one passage of full-length windows: ONNX Runtime's arena grows once to the largest batch
        # it has run (+~20 MB on the first 384-token windows, then flat), which is working size, not a leak.
        for _ in range(5):
            post(port, "/v1/answer", body)
        post(port, "/v1/answer", json.dumps({"question": QUESTION, "context": PASSAGE * 20}).encode())
        idle = [post(port, "/v1/answer", body)[1] for _ in range(args.idle_requests)]
        rss_before = rss_kb(srv.proc.pid)
        tally, stop = Tally(), threading.Event()
        clients = [CLIENTS[name] for name in args.clients]
        threads = [threading.Thread(target=c, args=(port, tally, stop), daemon=True) for c in clients]
        for t in threads:
            t.start()
        stop.wait(args.minutes * 60)
        stop.set()
        for t in threads:
            t.join(180)
        time.sleep(1)
        after = [post(port, "/v1/answer", body)[1] for _ in range(args.idle_requests)]
        rss_after = rss_kb(srv.proc.pid)
    finally:
        log = srv.stop()
    lost = {c: sum(n for o, n in counts.items() if o.startswith("lost")) for c, counts in tally.outcomes.items()}
    fivexx = {
        c: sum(n for o, n in counts.items() if o.isdigit() and o.startswith("5") and o != "503")
        for c, counts in tally.outcomes.items()
    }
    idle_p = percentiles(idle)
    load_p = percentiles(tally.latencies)
    return {
        "minutes": args.minutes,
        "sent": dict(tally.sent),
        "outcomes": {c: dict(v) for c, v in tally.outcomes.items()},
        "lost": sum(lost.values()),
        "server_errors_5xx": sum(fivexx.values()),
        "normal_idle": idle_p,
        "normal_under_load": load_p,
        "normal_after": percentiles(after),
        "p99_ratio": round(load_p["p99_ms"] / idle_p["p99_ms"], 2) if load_p.get("count") else None,
        "rss_mb_before": round(rss_before / 1024, 1),
        "rss_mb_after": round(rss_after / 1024, 1),
        "rss_growth": round(rss_after / rss_before - 1, 3) if rss_before else None,
        "access_log_lines": sum(1 for line in log.splitlines() if line.startswith('{"time"')),
        "other_log_lines": sum(1 for line in log.splitlines() if line.strip() and not line.startswith('{"time"')),
        "tracebacks_in_log": log.count("Traceback"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--model", help="model directory (default: the embedded default model)")
    p.add_argument("--idle-requests", type=int, default=50, help="normal requests on the idle server, for p50/p99")
    p.add_argument(
        "--heavy-budget",
        action="store_true",
        help="let the heavy client's 16 x 20,000-character requests through (max_request_windows 1000)",
    )
    p.add_argument("--clients", nargs="+", choices=list(CLIENTS), default=list(CLIENTS), help="which clients run")
    p.add_argument("--json", action="store_true", help="print the report as one JSON line")
    args = p.parse_args()
    report = soak(args)
    print(json.dumps(report, ensure_ascii=False) if args.json else json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
