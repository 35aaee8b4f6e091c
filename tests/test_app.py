"""The HTTP edge in-process: a fault of the server's own is a 500 JSON body with a request id that the log and
the X-Request-ID header carry too, with the security headers like every other response."""

import logging
from dataclasses import replace

from fastapi.testclient import TestClient

from korqa.engine import QAEngine
from korqa.server.app import create_app


class BrokenRuntime:
    name, uses_token_type_ids = "broken", True

    def forward(self, batch):
        raise RuntimeError("the accelerator caught fire")


def test_a_server_fault_is_a_500_with_a_request_id_in_body_header_and_log(tiny_model, caplog):
    app = create_app(QAEngine(replace(tiny_model, runtime=BrokenRuntime())))
    with TestClient(app, base_url="http://127.0.0.1") as client, caplog.at_level(logging.ERROR):
        response = client.post("/v1/answer", json={"question": "甲 은?", "context": "가 甲 나 丙"})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal" and "fire" not in body["detail"]  # no internals in the body
    assert body["request_id"] == response.headers["x-request-id"]
    assert "frame-ancestors" in response.headers["content-security-policy"]
    (record,) = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_metrics_have_the_library_series_from_the_start(tiny_model):
    app = create_app(QAEngine(tiny_model))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        before = client.get("/metrics").text
        client.post("/api", json={"question": "甲 은?", "context": "가 甲 나 丙"})
        after = client.get("/metrics").text
    for series in (
        "korqa_rejected_total 0.0",
        "korqa_timed_out_total 0.0",
        "korqa_dropped_total 0.0",
        'korqa_build_info{model="korqa-tiny-synthetic"',
        "process_resident_memory_bytes",
        "korqa_requests_in_flight",
    ):
        assert series in before, series
    assert 'korqa_request_duration_seconds_count{route="/api",status="200"} 1.0' in after
    assert "korqa_windows_total 1.0" in after
