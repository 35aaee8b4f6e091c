"""The page as a person uses it, in real Chromium at desktop and phone sizes: a new question dims the old answer,
errors clear it and speak Korean without internal names, a proxy's error page is reported as such, the highlight
is scrolled into view, the passage counter knows the limit. Screenshots of each state are written for a look."""

import pytest

from tests.e2e.test_browser import ARGS, CHROMIUM, answered, ask, wait_until
from tests.support.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
QUESTION = "甲 에서 시작하는 답은 무엇인가?"


@pytest.fixture(scope="module")
def slow_server(tiny_model_dir):
    # 600 ms to gather a batch: the loading state lasts long enough to be seen.
    srv = Server(
        [
            "--model",
            str(tiny_model_dir),
            "--max-context-chars",
            "3000",
            "--max-wait-ms",
            "600",
            "--max-batch-tokens",
            "100000",
        ]
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module", params=list(VIEWPORTS))
def page(request, slow_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=VIEWPORTS[request.param])
        page.goto(slow_server.url + "/")
        wait_until(lambda: "3,000" in page.inner_text("#counter"))
        page.size_name = request.param
        yield page
        browser.close()


def fits(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_answer_then_a_new_question_dims_it_then_an_error_clears_it(page, tmp_path_factory):
    shots = tmp_path_factory.mktemp(f"screens-{page.size_name}")
    ask(page, QUESTION, "가나 다라 甲 마바 丙 사아")
    assert page.inner_text("#answer") == "甲 마바 丙" and fits(page)
    page.screenshot(path=str(shots / "answered.png"), full_page=True)
    page.fill("#question", "甲 은?")
    page.click("#submit")
    assert "stale" in page.get_attribute("#result", "class") and page.is_visible("#spinner")
    assert page.inner_text("#status").startswith("찾는 중")
    page.screenshot(path=str(shots / "loading.png"), full_page=True)
    wait_until(lambda: answered(page))
    assert "stale" not in (page.get_attribute("#result", "class") or "") and not page.is_visible("#spinner")
    page.fill("#context", "가나 " * 1600)  # over the server's 3,000 characters
    assert "over" in page.get_attribute("#counter", "class")
    page.click("#submit")
    wait_until(lambda: page.inner_text("#status").startswith("오류"))
    status = page.inner_text("#status")
    assert "지문이 너무 깁니다" in status and "max_context_chars" not in status
    assert not page.is_visible("#result") and fits(page)
    page.screenshot(path=str(shots / "error.png"), full_page=True)


def test_the_highlight_is_scrolled_into_view_in_a_long_passage(page):
    context = "가나 다라 " * 450 + "甲 마바 丙 사아"  # 2,710 characters: the answer far below the fold
    ask(page, QUESTION, context)
    assert page.inner_text("#answer") == "甲 마바 丙"
    box = page.locator("#passage mark").bounding_box()
    assert box is not None and 0 <= box["y"] <= VIEWPORTS[page.size_name]["height"]


def test_a_proxys_error_page_is_reported_as_such(page):
    page.route(
        "**/v1/answer",
        lambda route: route.fulfill(status=502, body="<html>Bad Gateway</html>", content_type="text/html"),
    )
    try:
        page.fill("#question", "甲 은?")
        page.fill("#context", "가 甲 나 丙")
        page.click("#submit")
        wait_until(lambda: "오류 페이지" in page.inner_text("#status"))
        assert "502" in page.inner_text("#status") and "SyntaxError" not in page.inner_text("#status")
    finally:
        page.unroute("**/v1/answer")
