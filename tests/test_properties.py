"""For any Unicode passage and question, every answer is context[start:end], in range, scored in [0, 1]."""

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from korqa.engine import as_question
from korqa.errors import InputError
from korqa.normalize import has_visible, is_invisible

HANGUL = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
ANY = st.characters(codec="utf-8")  # every code point except lone surrogates
MIXED = st.one_of(HANGUL, ANY, st.sampled_from(list(" \t\r\n\u200b\u200d\ufeff甲丙😀é漢字ABC123.,")))
TEXT = st.text(MIXED, min_size=1, max_size=300)


def check(engine, question, contexts):
    try:
        q = as_question(question, contexts)
    except InputError:
        assert not has_visible(question) or not any(has_visible(c) for c in contexts)
        return
    (result,) = engine.answer_many([q], top_k=3)
    assert 0.0 <= result.no_answer_score <= 1.0
    for a in result.answers:
        context = contexts[a.context_index]
        assert 0 <= a.start < a.end <= len(context)
        assert a.text == context[a.start : a.end]
        assert a.text == a.text.strip() and not is_invisible(a.text[0]) and not is_invisible(a.text[-1])
        assert 0.0 <= a.score <= 1.0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=TEXT, context=TEXT)
def test_answers_are_exact_substrings_for_any_text(engine, question, context):
    check(engine, question, [context])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=TEXT, contexts=st.lists(TEXT, min_size=1, max_size=4))
def test_answers_are_exact_substrings_across_several_passages(engine, question, contexts):
    check(engine, question, contexts)


@pytest.mark.parametrize(
    "context",
    [
        "가나 甲 한국 丙 다라",  # plain
        unicodedata.normalize("NFD", "가나 甲 한국 丙 다라"),  # decomposed Hangul (jamo)
        "가나\r\n甲\t한국\u200b 丙\r\n다라",  # CRLF, tab, zero-width space
        "가나 甲 😀한국🇰🇷 丙 漢字 abc 123",  # emoji, flags, Hanja, Latin, digits
        "뷁뷁 甲 뷁 丙 뷁",  # characters the vocabulary maps to [UNK]
        "\u0000\u0007 甲 \ufeff한 丙 \u202e다",  # control and format characters
    ],
)
def test_hard_passages_keep_exact_offsets(engine, context):
    check(engine, "甲 은?", [context])
    assert engine.answer("甲 은?", context).answers


def test_lone_surrogates_are_rejected_as_input(engine):
    with pytest.raises(InputError, match="lone surrogate"):
        engine.answer("가?", "가\ud800나")
