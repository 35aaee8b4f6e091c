"""The HTTP edge of a real `korqa serve` process: security headers on every response, the Host allow-list, one
documented status per malformed body, strict types, HEAD, and an API page that works offline."""

import json

import httpx
import pytest

from tests.support.server import Server

pytestmark = pytest.mark.e2e

QUESTION, CONTEXT = "甲 은?", "가 甲 나 丙"


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def security_headers_of(response):
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/", None, 200),
        ("GET", "/docs", None, 200),
        ("GET", "/static/app.js", None, 200),
        ("GET", "/v1/model", None, 200),
        ("POST", "/v1/answer", {"question": QUESTION, "context": CONTEXT}, 200),
        ("POST", "/v1/answer", {"question": QUESTION}, 422),
        ("POST", "/v1/answer", {"question": QUESTION, "context": "가" * 6000}, 413),
        ("GET", "/nowhere", None, 404),
    ],
)
def test_every_response_carries_the_security_headers(client, method, path, body, status):
    response = client.request(method, path, json=body)
    assert response.status_code == status
    security_headers_of(response)


def test_the_request_id_is_taken_from_the_client_or_made(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/v1/model", "/metrics", "/docs", "/static/app.js"])
def test_head_is_answered_where_get_is(client, path):
    response = client.head(path)
    assert response.status_code == 200 and response.content == b""


@pytest.mark.parametrize(
    ("content", "headers", "status", "kind", "words"),
    [
        (
            b'{"question": "\xff\xfe", "context": "x"}',
            {"content-type": "application/json"},
            422,
            "invalid_request",
            "not valid JSON",
        ),
        (
            b"[" * 100_000 + b"]" * 100_000,
            {"content-type": "application/json"},
            422,
            "invalid_request",
            "not valid JSON",
        ),
        (
            b'{"question": "q", "context": ',
            {"content-type": "application/json"},
            422,
            "invalid_request",
            "not valid JSON",
        ),
        (
            b'{"question": "q", "context": "c"}',
            {"content-type": "text/plain"},
            415,
            "unsupported_media_type",
            "Content-Type: application/json",
        ),
        (
            b"question=q&context=c",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
            "JSON",
        ),
    ],
    ids=["invalid-utf8", "deep-json", "truncated-json", "text-plain", "form"],
)
def test_each_malformed_body_has_one_documented_status(client, content, headers, status, kind, words):
    for path in ("/api", "/v1/answer"):
        response = client.post(path, content=content, headers=headers)
        assert response.status_code == status, response.text
        body = response.json()
        assert body["error"] == kind and words in body["detail"]


@pytest.mark.parametrize("value", ["3", True, 2.0])
def test_numbers_must_be_numbers(client, value):
    response = client.post("/v1/answer", json={"question": QUESTION, "context": CONTEXT, "top_k": value})
    assert response.status_code == 422 and "top_k" in response.json()["detail"]


def test_model_info_shows_no_file_system_paths(client, tiny_model_dir):
    text = client.get("/v1/model").text
    assert str(tiny_model_dir) not in text and "/tmp" not in text


def test_a_host_that_is_not_ours_is_refused(client, server):
    response = client.get("/v1/model", headers={"Host": "attacker.example:8000"})
    assert response.status_code == 400 and response.json()["error"] == "bad_host"
    security_headers_of(response)
    for host in ("localhost", f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_allowed_hosts_can_be_set(tiny_model_dir):
    srv = Server(["--model", str(tiny_model_dir), "--allowed-hosts", "qa.example.org", "127.0.0.1"])
    try:
        ok = httpx.get(srv.url + "/healthz", headers={"Host": "qa.example.org"})
        refused = httpx.get(srv.url + "/healthz", headers={"Host": "localhost"})  # a default no longer listed
        assert ok.status_code == 200 and refused.status_code == 400
    finally:
        srv.stop()


def test_the_openapi_schema_describes_the_routes(client):
    schema = client.get("/openapi.json").json()
    assert {"/api", "/v1/answer", "/v1/answer/batch"} <= set(schema["paths"])
    assert json.dumps(schema)  # serialisable as served
