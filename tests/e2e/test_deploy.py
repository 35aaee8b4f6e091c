"""Deploying korqa: API keys, CORS, configuration from the environment, the JSON access log, a reverse proxy on a
sub-path, the Hugging Face Inference route, and a server started from a notebook -- each against real processes
(and real Chromium where a page is involved)."""

import json
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.e2e.test_browser import ARGS, CHROMIUM, ask, wait_until
from tests.support.proxy import reverse_proxy
from tests.support.server import Server

pytestmark = pytest.mark.e2e

KEYS = ("first-key-123", "second-key-456")
SMALL = {"question": "甲 은?", "context": "가 甲 나 丙"}


@pytest.fixture(scope="module")
def keyed(tiny_model_dir):
    srv = Server(["--model", str(tiny_model_dir), "--api-key", KEYS[0]], env=os.environ | {"KORQA_API_KEY": KEYS[1]})
    yield srv
    srv.stop()


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_an_api_key_is_required_where_data_is_and_nowhere_else(keyed):
    for method, path in (
        ("POST", "/v1/answer"),
        ("POST", "/api"),
        ("GET", "/metrics"),
        ("GET", "/v1/model"),
        ("POST", "/"),
    ):
        refused = httpx.request(method, keyed.url + path, json=SMALL if method == "POST" else None)
        assert refused.status_code == 401, path
        assert refused.json()["error"] == "unauthorized" and refused.headers["www-authenticate"].startswith("Bearer")
        wrong = httpx.request(
            method, keyed.url + path, json=SMALL if method == "POST" else None, headers=bearer("not-the-key")
        )
        assert wrong.status_code == 401
    for key in KEYS:  # the flag's key and the environment's key both work
        assert httpx.post(keyed.url + "/v1/answer", json=SMALL, headers=bearer(key)).status_code == 200
    for path in ("/healthz", "/readyz", "/", "/docs", "/static/app.js"):
        assert httpx.get(keyed.url + path).status_code == 200, path


def test_the_page_asks_for_the_key_once_and_answers(keyed):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        prompts = []
        page.on("dialog", lambda d: (prompts.append(d.message), d.accept(KEYS[1])))
        page.goto(keyed.url + "/")
        ask(page, "甲 에서 시작하는 답은 무엇인가?", "가나 다라 甲 마바 丙 사아")
        assert page.inner_text("#answer") == "甲 마바 丙"
        ask(page, "甲 은?", "가 甲 나 丙")  # the key is kept for the tab: no second prompt
        assert page.inner_text("#answer") == "甲 나 丙"
        assert len(prompts) == 1 and "API" in prompts[0]
        browser.close()


def test_the_environment_configures_every_option_and_flags_win(tiny_model_dir):
    env = os.environ | {
        "KORQA_MAX_QUEUE": "7",
        "KORQA_MAX_TOP_K": "3",
        "KORQA_DOC_STRIDE": "5",
        "KORQA_LOG_BODIES": "true",
        "KORQA_MODEL": str(tiny_model_dir),
    }
    srv = Server(["--max-top-k", "4"], env=env)
    try:
        info = httpx.get(srv.url + "/v1/model").json()
        assert info["limits"]["max_queue"] == 7  # environment over the default
        assert info["limits"]["max_top_k"] == 4  # the flag over the environment
        assert info["doc_stride"] == 5  # environment over the model's korqa.json (32)
        assert info["name"] == "korqa-tiny-synthetic"  # KORQA_MODEL
    finally:
        srv.stop()
    import subprocess
    import sys

    # A bad value is one line naming the variable.
    result = subprocess.run(
        [sys.executable, "-m", "korqa", "serve"],
        env=os.environ | {"KORQA_MAX_QUEUE": "many"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "KORQA_MAX_QUEUE='many'" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_the_access_log_is_json_with_the_request_id_and_no_text_unless_asked(tiny_model_dir):
    for log_bodies in (False, True):
        srv = Server(["--model", str(tiny_model_dir), *(["--log-bodies"] if log_bodies else [])])
        try:
            response = httpx.post(srv.url + "/v1/answer", json=SMALL, headers={"X-Request-ID": "req-42"})
            assert response.headers["x-request-id"] == "req-42"
        finally:
            log = srv.stop()
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        (line,) = [x for x in lines if x["request_id"] == "req-42"]
        assert line["route"] == "/v1/answer" and line["status"] == 200 and line["method"] == "POST"
        assert line["windows"] == 1 and line["queue_ms"] >= 0 and line["duration_ms"] > 0 and "T" in line["time"]
        assert ("가 甲 나 丙" in log) == log_bodies


def test_listening_beyond_loopback_without_a_key_is_warned_about(tiny_model_dir):
    srv = Server(["--model", str(tiny_model_dir), "--host", "0.0.0.0"])
    assert "without an API key" in srv.stop()


def serve_directory(directory):
    handler = lambda *a, **k: SimpleHTTPRequestHandler(*a, directory=str(directory), **k)  # noqa: E731
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("allowed", [True, False])
def test_a_page_from_another_origin_may_call_the_api_only_when_allowed(tiny_model_dir, tmp_path, allowed):
    from playwright.sync_api import sync_playwright

    other = serve_directory(tmp_path)
    origin = f"http://127.0.0.1:{other.server_address[1]}"
    srv = Server(["--model", str(tiny_model_dir), *(["--cors-origin", origin] if allowed else [])])
    (tmp_path / "index.html").write_text(
        "<!doctype html><title>waiting</title><script>"
        f"fetch('{srv.url}/v1/answer', {{method: 'POST', headers: {{'Content-Type': 'application/json'}},"
        f" body: JSON.stringify({json.dumps(SMALL)})}})"
        ".then(r => r.json()).then(b => document.title = 'answer:' + b.answers[0].text)"
        ".catch(e => document.title = 'failed');</script>",
        encoding="utf-8",
    )
    try:
        preflight = httpx.options(
            srv.url + "/v1/answer",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert (preflight.headers.get("access-control-allow-origin") == origin) == allowed
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(origin + "/index.html")
            wait_until(lambda: page.title() != "waiting")
            assert page.title() == ("answer:甲 나 丙" if allowed else "failed")
            browser.close()
    finally:
        srv.stop()
        other.shutdown()


def test_behind_a_reverse_proxy_on_a_sub_path_the_page_and_docs_work(tiny_model_dir):
    from playwright.sync_api import sync_playwright

    srv = Server(["--model", str(tiny_model_dir), "--root-path", "/qa", "--forwarded-allow-ips", "127.0.0.1"])
    proxy = reverse_proxy(srv.port, "/qa")
    base = f"http://127.0.0.1:{proxy.server_address[1]}/qa"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            failed = []
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            page.goto(base + "/")
            ask(page, "甲 에서 시작하는 답은 무엇인가?", "가나 다라 甲 마바 丙 사아")
            assert page.inner_text("#answer") == "甲 마바 丙"
            page.goto(base + "/docs")
            wait_until(lambda: page.locator(".opblock").count() >= 3)
            assert failed == []
            browser.close()
    finally:
        proxy.shutdown()
        srv.stop()


def test_the_hugging_face_inference_payload(server):
    url = server.url + "/"
    one = httpx.post(url, json={"inputs": SMALL}).json()
    assert one["answer"] == "甲 나 丙" and SMALL["context"][one["start"] : one["end"]] == one["answer"]
    several = httpx.post(url, json={"inputs": SMALL, "parameters": {"top_k": 2, "max_answer_len": 5}}).json()
    assert isinstance(several, list) and len(several) == 2 and several[0]["score"] >= several[1]["score"]
    batch = httpx.post(url, json={"inputs": [SMALL, SMALL]}).json()
    assert [b["answer"] for b in batch] == ["甲 나 丙"] * 2
    impossible = httpx.post(url, json={"inputs": SMALL, "parameters": {"top_k": 5, "handle_impossible_answer": True}})
    assert "" in [a["answer"] for a in impossible.json()]
    refused = httpx.post(url, json={"inputs": SMALL, "parameters": {"doc_stride": 64}})
    assert refused.status_code == 422 and "doc_stride" in refused.json()["detail"]


def test_a_notebook_starts_and_stops_the_server_twice_in_one_process(tiny_model):
    from korqa import QAEngine
    from korqa.server import start

    engine = QAEngine(tiny_model)
    for _ in range(2):
        running = start(engine)
        assert httpx.post(running.url + "/api", json=SMALL).json()["answer"] == "甲 나 丙"
        running.stop()
        assert not running.thread.is_alive()
        with pytest.raises(httpx.ConnectError):
            httpx.get(running.url + "/healthz")
