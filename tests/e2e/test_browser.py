"""The web page in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)."""

import shutil

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a machine with no network: no background connections, no sandbox as root.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_page(browser, url):
    page = browser.new_page()
    external = []
    page.on("request", lambda r: None if r.url.startswith(url) else external.append(r.url))
    page.goto(url + "/")
    return page, external


@pytest.fixture(scope="module")
def page(browser, server):
    page, external = open_page(browser, server.url)
    yield page
    assert external == [], f"the page tried to reach {external}"


def wait_until(check, timeout=30.0):
    """Poll from Python: page.wait_for_function would evaluate a string in the page, which the CSP forbids."""
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def answered(page):
    return page.inner_text("#status").endswith("ms")


def ask(page, question, context):
    page.fill("#question", question)
    page.fill("#context", context)
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    wait_until(lambda: answered(page))


def test_typed_question_shows_the_highlighted_answer(page):
    context = "가나 다라 甲 마바 丙 사아"
    ask(page, "甲 에서 시작하는 답은 무엇인가?", context)
    assert page.inner_text("#answer") == "甲 마바 丙"
    assert page.inner_text("#passage mark") == "甲 마바 丙"
    assert page.inner_text("#passage") == context
    assert "%" in page.inner_text("#score")
    assert page.locator("#others li").count() >= 1


def test_the_highlight_is_right_after_emoji_and_characters_outside_the_bmp(page):
    """The API counts code points, JavaScript strings UTF-16 units: 😀 and 𠀀 (CJK Ext-B) are two units each."""
    context = "😀 가나 𠀀 다라 甲 마바 丙 사아"
    ask(page, "甲 에서 시작하는 답은 무엇인가?", context)
    assert page.inner_text("#answer") == "甲 마바 丙"
    assert page.inner_text("#passage mark") == "甲 마바 丙"
    assert page.inner_text("#passage") == context


def test_markup_in_the_passage_is_shown_not_run(page):
    page.evaluate("window.__pwned = 0")
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    context = f"가나 甲 {payload} 丙 다라"
    ask(page, "甲 은?", context)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") == 0
    assert page.locator("#passage img, #passage script, #answer img").count() == 0
    assert payload in page.inner_text("#passage")


def test_empty_input_asks_for_both_fields(page):
    page.fill("#question", "")
    page.fill("#context", "")
    page.click("#submit")
    assert "질문과 지문" in page.inner_text("#status")


def test_the_default_model_answers_the_example_question(browser):
    """A new user's first click: the embedded Korean model answers the page's example."""
    from tests.e2e.test_default_model import Server

    srv = Server([])
    try:
        page, external = open_page(browser, srv.url)
        page.click("#example")  # fills the form and asks at once
        wait_until(lambda: answered(page))
        assert page.inner_text("#answer") == "1446년"
        assert page.inner_text("#passage mark") == "1446년"
        assert external == []
    finally:
        srv.stop()


def test_the_api_page_renders_offline_under_the_csp(browser, server):
    """/docs loads Swagger UI from korqa itself: every other address is blocked, and nothing breaks the CSP."""
    page = browser.new_page()
    outside, console = [], []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(server.url)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    page.on("console", lambda m: console.append(m.text))
    page.goto(server.url + "/docs")
    wait_until(lambda: page.locator(".opblock").count() >= 3)
    text = page.inner_text("#swagger-ui")
    assert "/v1/answer" in text and "/api" in text
    assert outside == [] and not [m for m in console if "Content Security Policy" in m], console
    page.close()
