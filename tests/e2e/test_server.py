"""Every route of a real `korqa serve` process, good and bad input; the server keeps serving."""

import json

import httpx
import pytest

pytestmark = pytest.mark.e2e

QUESTION = "甲 에서 시작하는 답은 무엇인가?"
CONTEXT = "가나 다라 甲 마바 丙 사아 자차"


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_health_ready_and_model(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True
    info = client.get("/v1/model").json()
    assert info["max_seq_length"] == 64 and info["limits"]["max_context_chars"] == 5000


def test_seed_api_contract(client):
    body = client.post("/api", json={"question": QUESTION, "context": CONTEXT}).json()
    assert (body["question"], body["context"], body["answer"]) == (QUESTION, CONTEXT, "甲 마바 丙")
    assert CONTEXT[body["start"] : body["end"]] == body["answer"]


@pytest.mark.parametrize("question,context", [("", CONTEXT), (QUESTION, ""), ("", "")])
def test_seed_api_empty_input_gives_an_empty_answer(client, question, context):
    response = client.post("/api", json={"question": question, "context": context, "extra": 1})
    assert response.status_code == 200 and response.json()["answer"] == ""


def test_answer_with_offsets_scores_and_top_k(client):
    body = client.post("/v1/answer", json={"question": QUESTION, "context": CONTEXT, "top_k": 3}).json()
    assert 1 <= len(body["answers"]) <= 3  # distinct answers only: fragments of a better one are dropped
    assert body["no_answer"] is False and body["best_guess"] == body["answers"][0]
    best = body["answers"][0]
    assert best["text"] == "甲 마바 丙" == CONTEXT[best["start"] : best["end"]]
    assert 0 <= best["score"] <= 1 and best["context_index"] == 0
    assert body["model"] and set(body["timings"]) >= {"forward_ms"}


def test_answer_over_several_passages(client):
    body = client.post("/v1/answer", json={"question": QUESTION, "contexts": ["가나 다라", CONTEXT]}).json()
    assert body["answers"][0]["context_index"] == 1


def test_batch(client):
    items = [{"question": QUESTION, "context": CONTEXT}, {"question": QUESTION, "contexts": ["자 甲 차 丙"]}]
    body = client.post("/v1/answer/batch", json={"items": items}).json()
    assert [r["answers"][0]["text"] for r in body["results"]] == ["甲 마바 丙", "甲 차 丙"]


@pytest.mark.parametrize(
    "path,payload,status,needle",
    [
        ("/v1/answer", {"question": 5, "context": "가"}, 422, "question"),
        ("/v1/answer", {"context": "가"}, 422, "question"),
        ("/v1/answer", {"question": "가?", "context": "가", "contexts": ["나"]}, 422, "exactly one"),
        ("/v1/answer", {"question": "가?"}, 422, "exactly one"),
        ("/v1/answer", {"question": " ", "context": "가"}, 422, "question is empty"),
        ("/v1/answer", {"question": "가?", "contexts": []}, 422, "context is empty"),
        ("/v1/answer", {"question": "가?", "context": "가", "top_k": 0}, 422, "top_k"),
        ("/v1/answer", {"question": "가?", "context": "가", "top_k": 50}, 413, "max_top_k"),
        ("/v1/answer", {"question": "가?", "context": "가" * 6000}, 413, "max_context_chars"),
        ("/v1/answer", {"question": "가" * 2000, "context": "가"}, 413, "max_question_chars"),
        ("/v1/answer", {"question": "가?", "contexts": ["가"] * 40}, 413, "max_contexts"),
        ("/v1/answer", {"question": "가?", "context": "가", "bogus": 1}, 422, "bogus"),
        ("/v1/answer", [1, 2], 422, "body"),
        ("/v1/answer/batch", {"items": []}, 422, "items is empty"),
        ("/v1/answer/batch", {"items": [{"question": "가?", "context": "가"}] * 5}, 413, "max_batch_items"),
        ("/v1/answer/batch", {"items": [{"question": "가?", "context": " "}]}, 422, "items.0"),
        ("/api", {"question": None, "context": "가"}, 422, "question"),
        ("/api", {"question": "가?", "context": "가" * 6000}, 413, "max_context_chars"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, path, payload, status, needle):
    response = client.post(path, json=payload)
    assert response.status_code == status, response.text
    body = response.json()
    assert needle in body["detail"] and body["error"]


def test_malformed_json_and_wrong_content(client):
    response = client.post("/v1/answer", content=b'{"question": "a", ', headers={"content-type": "application/json"})
    assert response.status_code == 422 and "not valid JSON" in response.json()["detail"]
    response = client.post("/v1/answer", content=b"\xff\xfe garbage", headers={"content-type": "application/json"})
    assert response.status_code == 422
    response = client.post(
        "/v1/answer", content=b'{"question":"\\ud800","context":"x"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and "surrogate" in response.json()["detail"]


def test_oversized_bodies_are_refused_before_parsing(client):
    big = json.dumps({"question": "가?", "context": "가" * 3_000_000}).encode()
    response = client.post("/v1/answer", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["limit"] == "max_body_bytes"

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(300):
            yield b"x" * 10_000

    response = client.post("/v1/answer", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_unknown_route_and_method(client):
    assert client.get("/nope").status_code == 404
    assert client.get("/v1/answer").status_code == 405


def test_docs_and_page_are_served(client):
    assert client.get("/docs").status_code == 200
    assert "/v1/answer" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert (
        page.status_code == 200 and "질문" in page.text and "http" not in page.text.split("<body>")[1].split("/docs")[0]
    )


def test_the_server_still_answers_after_all_of_that(client):
    assert client.post("/api", json={"question": QUESTION, "context": CONTEXT}).json()["answer"] == "甲 마바 丙"


def test_metrics_are_prometheus_text(client):
    client.post("/api", json={"question": QUESTION, "context": CONTEXT})
    text = client.get("/metrics").text
    assert 'korqa_requests_total{route="/api",status="200"}' in text
    assert "korqa_batch_size_bucket" in text and "korqa_stage_seconds_sum" in text
    assert "# TYPE korqa_queue_size gauge" in text
