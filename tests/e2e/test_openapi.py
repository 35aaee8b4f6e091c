"""The OpenAPI schema tells the truth: every status a route returned here is documented for that route, and the
body validates against the documented schema (errors included)."""

import httpx
import pytest
from jsonschema import Draft202012Validator

from tests.support.server import Server

pytestmark = pytest.mark.e2e

SMALL = {"question": "甲 은?", "context": "가 甲 나 丙"}
CASES = [
    ("POST", "/v1/answer", {"json": SMALL}, 200),
    ("POST", "/v1/answer", {"json": {"question": "q", "context": "가" * 6000}}, 413),
    ("POST", "/v1/answer", {"content": b"{}", "headers": {"content-type": "text/plain"}}, 415),
    ("POST", "/v1/answer", {"json": {"question": "q"}}, 422),
    ("POST", "/v1/answer", {"json": SMALL | {"top_k": "3"}}, 422),
    ("POST", "/api", {"json": SMALL}, 200),
    ("POST", "/api", {"content": b'{"question": ', "headers": {"content-type": "application/json"}}, 422),
    ("POST", "/v1/answer/batch", {"json": {"items": [SMALL, SMALL]}}, 200),
    ("POST", "/v1/answer/batch", {"json": {"items": [SMALL] * 5}}, 413),
    ("POST", "/", {"json": {"inputs": SMALL}}, 200),
    ("POST", "/", {"json": {"inputs": [SMALL], "parameters": {"top_k": 2}}}, 200),
    ("POST", "/", {"json": {"inputs": SMALL, "parameters": {"max_seq_len": 64}}}, 422),
    ("GET", "/v1/model", {}, 200),
    ("GET", "/healthz", {}, 200),
    ("GET", "/readyz", {}, 200),
]


@pytest.fixture(scope="module")
def schema(server):
    return httpx.get(server.url + "/openapi.json").json()


def check(schema, method, path, response):
    operation = schema["paths"][path][method.lower()]
    documented = operation["responses"]
    assert str(response.status_code) in documented, (method, path, response.status_code, sorted(documented))
    content = documented[str(response.status_code)].get("content", {}).get("application/json")
    if content and content.get("schema"):
        validator = Draft202012Validator(content["schema"] | {"components": schema["components"]})
        errors = [e.message for e in validator.iter_errors(response.json())]
        assert not errors, (method, path, response.status_code, errors, response.text[:300])


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), CASES, ids=[f"{c[0]} {c[1]} {c[3]}" for c in CASES])
def test_responses_match_the_schema(server, schema, method, path, kwargs, status):
    response = httpx.request(method, server.url + path, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    check(schema, method, path, response)


def test_401_is_documented_and_shaped_as_documented(tiny_model_dir, schema):
    srv = Server(["--model", str(tiny_model_dir), "--api-key", "a-long-key-1"])
    try:
        for method, path in (("POST", "/v1/answer"), ("POST", "/api"), ("GET", "/v1/model")):
            response = httpx.request(method, srv.url + path, json=SMALL if method == "POST" else None)
            assert response.status_code == 401
            check(schema, method, path, response)
    finally:
        srv.stop()


def test_the_request_examples_are_korean_and_valid(schema):
    examples = schema["components"]["schemas"]["AnswerRequest"]["examples"]
    assert "훈민정음" in examples[0]["question"]
