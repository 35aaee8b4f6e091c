"""Work, time and connection limits of a real `korqa serve` process: no request can take the whole server, idle
or slow sockets are closed, SIGTERM drains, and a socket flood leaves a few log lines, not a flood."""

import contextlib
import resource
import signal
import socket
import threading
import time

import httpx
import pytest

from tests.support.server import Server

pytestmark = pytest.mark.e2e

SMALL = {"question": "甲 은?", "context": "가 甲 나 丙"}


def test_the_readme_limits_at_their_maximum_are_refused_by_the_work_budget(tiny_model_dir):
    """16 passages at max_context_chars each are under every size limit, but far over the work budget."""
    srv = Server(["--model", str(tiny_model_dir), "--max-request-windows", "64"])
    try:
        big = {"question": "甲 은?", "contexts": [" ".join(["가나 다라"] * 400)] * 16}
        response = httpx.post(srv.url + "/v1/answer", json=big, timeout=60)
        assert response.status_code == 413
        body = response.json()
        assert body["limit"] == "max_request_windows" and "max_request_windows (64)" in body["detail"]
        assert httpx.post(srv.url + "/v1/answer", json=SMALL).status_code == 200
    finally:
        srv.stop()


def test_a_request_past_its_deadline_gets_504(tiny_model_dir):
    # The batcher waits 3 s to fill a batch, longer than the 1 s request timeout.
    srv = Server(
        [
            "--model",
            str(tiny_model_dir),
            "--max-wait-ms",
            "3000",
            "--max-batch-tokens",
            "100000",
            "--request-timeout",
            "1",
        ]
    )
    try:
        started = time.monotonic()
        response = httpx.post(srv.url + "/v1/answer", json=SMALL, timeout=30)
        assert response.status_code == 504 and response.json()["error"] == "timeout"
        assert time.monotonic() - started < 5
        assert "korqa_timed_out_total 1" in httpx.get(srv.url + "/metrics").text
    finally:
        srv.stop()


def post_in_thread(url, results):
    def go():
        try:
            results.append(httpx.post(url + "/v1/answer", json=SMALL, timeout=30))
        except httpx.HTTPError as exc:
            results.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    return thread


@pytest.mark.parametrize(("shutdown_timeout", "expected"), [("10", 200), ("0.5", 503)])
def test_sigterm_drains_then_fails_the_rest_cleanly(tiny_model_dir, shutdown_timeout, expected):
    """A request held 2 s in the queue when SIGTERM arrives: readiness turns 503 at once; with time enough it is
    answered, else it gets a clean 503; then the process exits."""
    srv = Server(
        [
            "--model",
            str(tiny_model_dir),
            "--max-wait-ms",
            "2000",
            "--max-batch-tokens",
            "100000",
            "--shutdown-timeout",
            shutdown_timeout,
        ]
    )
    try:
        results = []
        thread = post_in_thread(srv.url, results)
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        ready = httpx.get(srv.url + "/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["error"] == "shutting_down"
        late = httpx.post(srv.url + "/v1/answer", json=SMALL, timeout=5)
        assert late.status_code == 503 and late.headers["retry-after"] == "1"
        thread.join(30)
        (response,) = results
        assert response.status_code == expected, response.text
        if expected == 503:
            assert "shutdown_timeout" in response.json()["detail"]
        srv.proc.wait(timeout=30)
    finally:
        srv.stop()


def test_slow_and_idle_connections_are_closed_and_others_are_served(tiny_model_dir):
    """A slowloris (a header byte every 0.3 s) and idle sockets are closed after read_timeout; meanwhile normal
    requests are answered."""
    srv = Server(["--model", str(tiny_model_dir), "--read-timeout", "1.5", "--idle-timeout", "1"])
    try:
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(20)]
        slow = socket.create_connection(("127.0.0.1", srv.port))
        slow.sendall(b"POST /v1/answer HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        closed_at = None
        started = time.monotonic()
        for _ in range(20):
            assert httpx.post(srv.url + "/v1/answer", json=SMALL, timeout=10).status_code == 200
            try:
                slow.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed_at = closed_at or time.monotonic() - started
            time.sleep(0.3)
        assert closed_at is not None and closed_at < 4
        for s in idle:
            s.settimeout(1)
            assert s.recv(1) == b""  # closed by the server
            s.close()
    finally:
        srv.stop()


def test_a_connection_flood_under_a_low_file_limit_costs_a_few_log_lines(tiny_model_dir):
    """1,100 sockets against a server allowed 256 open files and 64 connections: the ones past the cap get 503
    and are closed, the server keeps answering, and the log holds a bounded number of lines."""

    def low_file_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    srv = Server(
        ["--model", str(tiny_model_dir), "--max-connections", "64", "--read-timeout", "2"], preexec_fn=low_file_limit
    )
    sockets = []
    try:
        refused = 0
        for _ in range(1100):
            try:
                sockets.append(socket.create_connection(("127.0.0.1", srv.port), timeout=2))
            except OSError:
                refused += 1
        answered = []
        for _ in range(10):
            with contextlib.suppress(httpx.HTTPError):
                answered.append(httpx.post(srv.url + "/v1/answer", json=SMALL, timeout=10).status_code)
            time.sleep(0.3)
        for s in sockets:
            s.close()
        sockets.clear()
        time.sleep(3)  # the held sockets are closed; the server recovers fully
        assert httpx.post(srv.url + "/v1/answer", json=SMALL, timeout=10).status_code == 200
        assert 503 in answered or 200 in answered
    finally:
        for s in sockets:
            s.close()
        log = srv.stop()
    assert log.count("\n") < 100, log[-3000:]
    assert "Traceback" not in log or log.count("Traceback") <= 3, log[-3000:]
