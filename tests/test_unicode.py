"""Unicode forms: a decomposed (NFD) passage answers like its composed form, with offsets into the text as sent;
invisible characters never edge an answer and never count as a passage."""

import random
import unicodedata

import pytest

from korqa.engine import QAEngine, as_question
from korqa.errors import InputError
from korqa.normalize import to_nfc, trim
from tests.support import tiny

NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731


def test_nfc_map_points_back_to_whole_original_clusters():
    text = NFD("세종은 1446년에 반포하였다") + " e\u0301 ok"  # jamo syllables and a Latin e + combining acute
    form = to_nfc(text)
    assert form.text == unicodedata.normalize("NFC", text)
    i = form.text.index("1446년")
    start, end = form.original_span(i, i + len("1446년"))
    assert text[start:end] == NFD("1446년")
    j = form.text.index("é")
    assert text[slice(*form.original_span(j, j + 1))] == "e\u0301"
    assert to_nfc("이미 NFC").starts is None  # the common case costs nothing


def test_invisible_characters_are_trimmed_and_do_not_count_as_text():
    text = "\ufeff1446년\u200b"
    assert text[slice(*trim(text, 0, len(text)))] == "1446년"
    with pytest.raises(InputError, match="context is empty"):
        as_question("질문?", "\u200b\u200b \ufeff")


def test_an_nfd_passage_answers_like_its_nfc_form_with_offsets_into_the_nfd_text(engine):
    rng = random.Random(3)
    for _ in range(20):
        ex = tiny.make_example(rng, rng.randint(0, 60), rng.randint(0, 10), distractors=True)
        composed = engine.answer(ex.question, ex.context).answers[0]
        context = NFD(ex.context)
        assert context != ex.context
        decomposed = engine.answer(NFD(ex.question), context).answers[0]
        assert decomposed.text == NFD(composed.text) == context[decomposed.start : decomposed.end]
        assert unicodedata.normalize("NFC", context[: decomposed.start]) == ex.context[: composed.start]
        assert decomposed.score == pytest.approx(composed.score, abs=1e-6)


@pytest.fixture(scope="module")
def default_engine():
    return QAEngine.from_config()


def test_the_default_model_answers_decomposed_hangul_with_whole_syllables(default_engine):
    question = "훈민정음을 반포한 해는 언제인가?"
    context = (
        "훈민정음은 조선의 제4대 왕 세종이 만든 문자이다. 세종은 1443년에 훈민정음을 창제하였고, "
        "3년 뒤인 1446년에 이를 반포하였다."
    )
    composed = default_engine.answer(question, context).answers[0]
    decomposed = default_engine.answer(NFD(question), NFD(context)).answers[0]
    assert composed.text == "1446년"
    assert decomposed.text == NFD("1446년")
    assert unicodedata.normalize("NFC", NFD(context)[decomposed.start : decomposed.end]) == "1446년"
    zero_width = default_engine.answer(question, context.replace("1446년", "\ufeff1446년\u200b")).answers[0]
    assert zero_width.text == "1446년"
