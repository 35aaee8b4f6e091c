"""A real server on an int8 ONNX export, and a full queue answering 503 with Retry-After."""

import concurrent.futures as cf
import time

import httpx
import pytest

from korqa.export import export
from tests.support.server import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def onnx_server(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("served-int8")
    export(tiny_model, out, int8=True, keep_fp32=["qa_outputs"])
    srv = Server(["--model", str(out), "--max-queue", "1", "--max-wait-ms", "0", "--max-request-windows", "100000"])
    yield srv
    srv.stop()


def test_the_onnx_model_serves_the_seed_api(onnx_server):
    body = httpx.post(onnx_server.url + "/api", json={"question": "甲 은?", "context": "가나 甲 다라 丙 마"}).json()
    assert body["answer"] == "甲 다라 丙"
    assert httpx.get(onnx_server.url + "/v1/model").json()["runtime"] == "onnxruntime"


def test_a_full_queue_answers_503_with_retry_after_and_recovers(onnx_server):
    long_context = " ".join(["가나 다라"] * 1500)

    def ask(_):
        return httpx.post(
            onnx_server.url + "/v1/answer", json={"question": "甲 은?", "context": long_context}, timeout=60
        )

    with cf.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(ask, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert 200 in statuses and 503 in statuses and set(statuses) <= {200, 503}
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and busy.json()["error"] == "busy"
    assert httpx.post(onnx_server.url + "/api", json={"question": "甲?", "context": "가 甲 나 丙"}).status_code == 200


def test_a_request_whose_client_hung_up_is_dropped(tiny_model_dir):
    # The batcher waits up to 3 s to fill a batch, so the request is still queued when its client gives up.
    srv = Server(["--model", str(tiny_model_dir), "--max-wait-ms", "3000", "--max-batch-tokens", "1000000"])
    try:
        with pytest.raises(httpx.TimeoutException):
            httpx.post(srv.url + "/v1/answer", json={"question": "甲?", "context": "가 甲 나 丙"}, timeout=0.3)
        deadline = time.monotonic() + 10
        while "korqa_dropped_total 1" not in (text := httpx.get(srv.url + "/metrics").text):
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
        assert "korqa_windows_total 0.0" in text  # nothing was computed for it
        after = httpx.post(srv.url + "/api", json={"question": "甲?", "context": "가 甲 나 丙"}, timeout=30)
        assert after.json()["answer"] == "甲 나 丙"  # the server keeps serving
    finally:
        srv.stop()
