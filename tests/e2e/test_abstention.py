"""A withheld answer is said the same way everywhere: /api gives "" (what nlpbook clients already show) and
no_answer, /v1/answer an empty list, no_answer and a separate best_guess, the page 지문에서 답을 찾지 못했습니다 with
the guess dimmed, `korqa ask` the same words. The threshold is the server's, or the request's."""

import httpx
import pytest

from korqa.cli import main
from tests.e2e.test_browser import ARGS, CHROMIUM, ask
from tests.support.server import Server

pytestmark = pytest.mark.e2e

SMALL = {"question": "甲 은?", "context": "가 甲 나 丙"}


@pytest.fixture(scope="module")
def withholding(tiny_model_dir):
    srv = Server(["--model", str(tiny_model_dir), "--no-answer-threshold", "0"])  # withhold everything
    yield srv
    srv.stop()


def test_the_server_threshold_withholds_in_every_route(withholding):
    seed = httpx.post(withholding.url + "/api", json=SMALL).json()
    assert seed["answer"] == "" and seed["no_answer"] is True and seed["start"] is None
    v1 = httpx.post(withholding.url + "/v1/answer", json=SMALL).json()
    assert v1["answers"] == [] and v1["no_answer"] is True
    assert v1["best_guess"]["text"] == "甲 나 丙"  # the guess is there, apart from the answers
    batch = httpx.post(withholding.url + "/v1/answer/batch", json={"items": [SMALL]}).json()
    assert batch["results"][0]["no_answer"] is True and batch["results"][0]["best_guess"]["text"] == "甲 나 丙"


def test_a_request_may_set_its_own_threshold(withholding, server):
    answered = httpx.post(withholding.url + "/v1/answer", json=SMALL | {"no_answer_threshold": "off"}).json()
    assert answered["no_answer"] is False and answered["answers"][0]["text"] == "甲 나 丙"
    withheld = httpx.post(server.url + "/v1/answer", json=SMALL | {"no_answer_threshold": 0.0}).json()
    assert withheld["no_answer"] is True and withheld["answers"] == []
    for bad in ("0.5", 2.0, True):
        response = httpx.post(server.url + "/v1/answer", json=SMALL | {"no_answer_threshold": bad})
        assert response.status_code == 422 and "no_answer_threshold" in response.json()["detail"]


def test_the_page_says_it_found_no_answer_and_dims_the_guess(withholding):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(withholding.url + "/")
        ask(page, SMALL["question"], SMALL["context"])
        assert page.inner_text("#answer") == "지문에서 답을 찾지 못했습니다"
        assert page.locator("#passage mark").count() == 0
        assert "甲 나 丙" in page.inner_text("#guess") and page.locator("#guess").is_visible()
        browser.close()


def test_korqa_ask_says_it_too(tiny_model_dir, capsys):
    args = ["ask", SMALL["question"], "--context", SMALL["context"], "--model", str(tiny_model_dir)]
    assert main([*args, "--no-answer-threshold", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("지문에서 답을 찾지 못했습니다") and "a guess, not an answer: 甲 나 丙" in out
