"""A real server on an int8 ONNX export, and a full queue answering 503 with Retry-After."""

import concurrent.futures as cf

import httpx
import pytest

from korqa.export import export
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def onnx_server(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("served-int8")
    export(tiny_model, out, int8=True, keep_fp32=["qa_outputs"])
    srv = Server(["--model", str(out), "--max-queue", "1", "--max-wait-ms", "0"])
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
