"""The embedded default model, served with no arguments, answers real Korean questions.

The passages were written for this test (they are not KorQuAD data); the model never saw them.
"""

import httpx
import pytest

from tests.support.server import Server

pytestmark = pytest.mark.e2e

HANGUL = (
    "훈민정음은 조선의 제4대 왕 세종이 만든 문자이다. 세종은 1443년에 훈민정음을 창제하였고, "
    "3년 뒤인 1446년에 이를 반포하였다. 오늘날 한국에서는 이 문자를 한글이라고 부르며, "
    "반포를 기념하는 한글날은 10월 9일이다."
)
BUSAN = (
    "부산은 대한민국 남동부에 있는 항구 도시로, 인구는 약 330만 명이다. 부산국제영화제는 1996년에 "
    "처음 열렸으며 매년 가을 해운대 일대에서 개최된다. 부산항은 국내 최대의 컨테이너 항만이다."
)
YI = (
    "이순신은 조선 중기의 무신으로, 임진왜란 때 수군을 이끌었다. 그는 1592년 한산도 대첩에서 "
    "학익진 전법으로 일본 수군을 크게 물리쳤다. 1598년 노량 해전에서 전사하였다."
)
CASES = [
    ("훈민정음을 반포한 해는 언제인가?", HANGUL, "1446년"),
    ("훈민정음을 만든 왕은 누구인가?", HANGUL, "세종"),
    ("부산국제영화제가 처음 열린 해는?", BUSAN, "1996년"),
    ("이순신이 전사한 해전은?", YI, "노량 해전"),
]


@pytest.fixture(scope="module")
def default_server():
    srv = Server([])  # no --model: the embedded default
    yield srv
    srv.stop()


def test_serves_the_embedded_model_on_the_runtime_this_cpu_runs_fastest(default_server):
    from korqa.runtime import int8_dot_product

    info = httpx.get(default_server.url + "/v1/model").json()
    expected = ("openvino", "int8") if int8_dot_product() else ("onnxruntime", "dynamic int8")
    assert (info["source"], info["runtime"], info["compute"]) == ("default", *expected)
    assert info["boundary_rules"] > 0 and info["vocab_size"] == 44_424


@pytest.mark.parametrize("question,context,expected", CASES)
def test_answers_real_korean_questions(default_server, question, context, expected):
    body = httpx.post(default_server.url + "/api", json={"question": question, "context": context}, timeout=30).json()
    assert body["answer"] == expected
    assert context[body["start"] : body["end"]] == expected


# Questions these passages do not answer (each asked over another passage). The shipped model was trained with
# such pairs and withholds above its calibrated threshold (korqa.json: no_answer_threshold).
UNANSWERED = [
    ("이순신 장군이 태어난 해는 언제인가?", HANGUL),
    ("부산국제영화제가 처음 열린 해는?", YI),
    ("훈민정음을 만든 왕은 누구인가?", BUSAN),
]


@pytest.mark.parametrize("question,context", UNANSWERED)
def test_withholds_what_the_passage_does_not_say(default_server, question, context):
    body = httpx.post(default_server.url + "/api", json={"question": question, "context": context}, timeout=30).json()
    assert body["answer"] == "" and body["no_answer"] is True
    v1 = httpx.post(default_server.url + "/v1/answer", json={"question": question, "context": context}).json()
    assert v1["answers"] == [] and v1["no_answer_score"] >= 0.5 and v1["best_guess"]["text"]


def test_the_page_answers_the_example_and_withholds_yi_sun_sin(default_server):
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_browser import ARGS, CHROMIUM, ask

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(default_server.url + "/")
        page.click("#example")  # asks at once
        page.wait_for_selector("#passage mark")
        assert page.inner_text("#passage mark") == "1446년"
        ask(page, "이순신 장군이 태어난 해는 언제인가?", page.input_value("#context"))
        assert page.inner_text("#answer") == "지문에서 답을 찾지 못했습니다"
        assert page.locator("#passage mark").count() == 0
        browser.close()


def test_an_answer_is_the_same_alone_or_among_concurrent_requests(default_server):
    """The shipped static-int8 model through the real server: the questions above and the 32 mixed-script ones
    (tests/data/mixed_script_qa.json), withheld ones too, each alone and then 16 at a time, give the same answers, offsets and scores."""
    from pathlib import Path

    from korqa.data import read_squad
    from tests.support.server import assert_same_alone_and_together

    mixed = read_squad(Path(__file__).parent.parent / "data" / "mixed_script_qa.json")
    pairs = [(q, c) for q, c, _ in CASES] + UNANSWERED + [(x.question, x.context) for x in mixed]
    bodies = [{"question": q, "context": c} for q, c in pairs]
    assert_same_alone_and_together(default_server.url, bodies * 2)
