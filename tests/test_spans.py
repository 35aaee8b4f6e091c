"""The span decoder on hand-made logits: numpy in, answers out."""

import numpy as np
import pytest

from korqa.spans import best_spans, decode
from korqa.windows import Window

NEG = -20.0


def make_window(context, token_chars, question_len=2, context_index=0, first_token=0):
    """[CLS] q*question_len [SEP] passage tokens [SEP] with the given (start, end) char offsets."""
    n = len(token_chars)
    length = 1 + question_len + 1 + n + 1
    return Window(
        input_ids=np.arange(length),
        token_type_ids=np.zeros(length, dtype=np.int64),
        passage_start=question_len + 2,
        offsets=np.asarray(token_chars, dtype=np.int64).reshape(-1, 2),
        context_index=context_index,
        first_token=first_token,
    )


def logits_for(window, starts=(), ends=(), cls=0.0, base=NEG):
    s = np.full(len(window), base)
    e = np.full(len(window), base)
    s[0] = e[0] = cls
    for pos, value in starts:
        s[pos] = value
    for pos, value in ends:
        e[pos] = value
    return s, e


CONTEXT = "서울 은 한국 의 수도 이다"
TOKENS = [(0, 2), (3, 4), (5, 7), (8, 9), (10, 12), (13, 15)]


def test_best_span_is_the_joint_argmax_with_start_before_end():
    w = make_window(CONTEXT, TOKENS)
    p = w.passage_start
    # The end argmax alone (token 0) lies before the start argmax (token 2): the seed would return nothing sane.
    s, e = logits_for(w, starts=[(p + 2, 10)], ends=[(p + 0, 10), (p + 4, 9)])
    (answer,) = decode([w], [s], [e], [CONTEXT]).answers
    assert (answer.text, answer.start, answer.end) == ("한국 의 수도", 5, 12)


def test_question_and_special_tokens_are_never_part_of_an_answer():
    w = make_window(CONTEXT, TOKENS)
    p = w.passage_start
    s, e = logits_for(w, starts=[(1, 30), (p + 2, 5)], ends=[(2, 30), (len(w) - 1, 30), (p + 2, 5)])
    (answer,) = decode([w], [s], [e], [CONTEXT]).answers
    assert answer.text == "한국"


def test_answers_are_capped_at_max_answer_length_tokens():
    w = make_window(CONTEXT, TOKENS)
    p = w.passage_start
    s, e = logits_for(w, starts=[(p + 0, 10)], ends=[(p + 5, 10), (p + 1, 3)])
    assert decode([w], [s], [e], [CONTEXT], max_answer_length=6).answers[0].text == CONTEXT
    assert decode([w], [s], [e], [CONTEXT], max_answer_length=2).answers[0].text == "서울 은"


def test_scores_are_probabilities_and_sorted():
    w = make_window(CONTEXT, TOKENS)
    rng = np.random.default_rng(0)
    s, e = rng.normal(size=len(w)), rng.normal(size=len(w))
    answers = decode([w], [s], [e], [CONTEXT], top_k=10).answers
    scores = [a.score for a in answers]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= x <= 1.0 for x in scores)
    assert sum(scores) <= 1.0 + 1e-9


def test_top_k_answers_are_distinct_by_offsets_across_overlapping_windows():
    context = "가 나 다 라 마"
    toks = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    w1 = make_window(context, toks[0:3], first_token=0)
    w2 = make_window(context, toks[2:5], first_token=2)
    s1, e1 = logits_for(w1, starts=[(w1.passage_start + 2, 8)], ends=[(w1.passage_start + 2, 8)])
    s2, e2 = logits_for(w2, starts=[(w2.passage_start + 0, 8)], ends=[(w2.passage_start + 0, 8)])
    answers = decode([w1, w2], [s1, s2], [e1, e2], [context], top_k=5).answers
    keys = [(a.start, a.end) for a in answers]
    assert len(keys) == len(set(keys))
    assert answers[0].text == "다"


def test_the_best_answer_wins_across_passages_with_its_passage_index():
    contexts = ["가 나", "다 라"]
    w0 = make_window(contexts[0], [(0, 1), (2, 3)], context_index=0)
    w1 = make_window(contexts[1], [(0, 1), (2, 3)], context_index=1)
    s0, e0 = logits_for(w0, starts=[(w0.passage_start, 2)], ends=[(w0.passage_start, 2)], cls=5)
    s1, e1 = logits_for(w1, starts=[(w1.passage_start + 1, 9)], ends=[(w1.passage_start + 1, 9)])
    answers = decode([w0, w1], [s0, s1], [e0, e1], contexts, top_k=2).answers
    assert (answers[0].text, answers[0].context_index) == ("라", 1)
    assert answers[1].context_index == 0 and answers[1].score < answers[0].score


def test_a_window_that_bets_on_cls_scores_its_spans_low():
    w = make_window(CONTEXT, TOKENS)
    s, e = logits_for(w, starts=[(w.passage_start, 1)], ends=[(w.passage_start, 1)], cls=8)
    decoded = decode([w], [s], [e], [CONTEXT])
    assert decoded.answers[0].score < 0.01
    assert decoded.no_answer_score > 0.9


def test_no_answer_threshold_withholds_answers_only_when_set():
    w = make_window(CONTEXT, TOKENS)
    s, e = logits_for(w, starts=[(w.passage_start, 1)], ends=[(w.passage_start, 1)], cls=8)
    assert decode([w], [s], [e], [CONTEXT], no_answer_threshold=0.5).answers == []
    assert len(decode([w], [s], [e], [CONTEXT], no_answer_threshold=None).answers) == 1


def test_answer_text_is_the_exact_substring_without_surrounding_whitespace():
    context = "가\t나 \r\n다"
    w = make_window(context, [(0, 1), (1, 3), (3, 7)])
    s, e = logits_for(w, starts=[(w.passage_start + 1, 9)], ends=[(w.passage_start + 2, 9)])
    (answer,) = decode([w], [s], [e], [context]).answers
    assert answer.text == context[answer.start : answer.end] == "나 \r\n다"


def test_padding_beyond_the_window_is_ignored():
    w = make_window(CONTEXT, TOKENS)
    s, e = logits_for(w, starts=[(w.passage_start + 4, 9)], ends=[(w.passage_start + 4, 9)])
    s_pad, e_pad = np.concatenate([s, [50.0] * 5]), np.concatenate([e, [50.0] * 5])
    assert decode([w], [s_pad], [e_pad], [CONTEXT]).answers[0].text == "수도"


def test_no_windows_means_no_answer():
    decoded = decode([], [], [], [""])
    assert decoded.answers == [] and decoded.no_answer_score == 1.0


@pytest.mark.parametrize("n,max_len", [(1, 1), (5, 3), (7, 30)])
def test_best_spans_enumerates_only_valid_spans(n, max_len):
    rng = np.random.default_rng(n)
    ps, pe = rng.random(n), rng.random(n)
    spans = best_spans(ps, pe, max_len, k=1000)
    assert len(spans) == sum(min(max_len, n - i) for i in range(n))
    for i, j, score in spans:
        assert 0 <= i <= j < n and j - i < max_len
        assert score == pytest.approx(ps[i] * pe[j])
    brute = max(ps[i] * pe[j] for i in range(n) for j in range(i, min(n, i + max_len)))
    assert spans[0][2] == pytest.approx(brute)


def test_a_withheld_answer_keeps_its_best_guess_apart():
    w = make_window(CONTEXT, TOKENS)
    s, e = logits_for(w, starts=[(w.passage_start, 1)], ends=[(w.passage_start, 1)], cls=8)
    decoded = decode([w], [s], [e], [CONTEXT], no_answer_threshold=0.5)
    answered = decode([w], [s], [e], [CONTEXT])
    assert decoded.answers == [] and decoded.best_guess == answered.answers[0]


def test_overlap_rule_keeps_no_fragments_of_a_better_answer():
    from korqa.spans import distinct, overlap

    ranked = [((0, 10, 15), 0.9), ((0, 14, 15), 0.05), ((0, 3, 15), 0.04), ((0, 20, 24), 0.01), ((1, 10, 15), 0.008)]
    assert [k for k, _ in distinct(ranked, 5, 0.0)] == [(0, 10, 15), (0, 20, 24), (1, 10, 15)]
    assert len(distinct(ranked, 5, 1.0)) == 5  # 1.0: every distinct span
    assert overlap((0, 10), (5, 20)) == 0.5 and overlap((0, 4), (4, 8)) == 0.0


def test_temperature_changes_the_score_shown_never_the_answers_or_the_no_answer_decision():
    rng = np.random.default_rng(5)
    contexts = ["가 나 다 라 마 바", "사 아 자 차"]
    windows = [
        make_window(contexts[0], [(0, 1), (2, 3), (4, 5), (6, 7)]),
        make_window(contexts[0], [(4, 5), (6, 7), (8, 9), (10, 11)], first_token=2),
        make_window(contexts[1], [(0, 1), (2, 3), (4, 5), (6, 7)], context_index=1),
    ]
    flips = 0
    for _ in range(30):
        starts = [rng.normal(0, 3, len(w)) for w in windows]
        ends = [rng.normal(0, 3, len(w)) for w in windows]
        at_one = decode(windows, starts, ends, contexts, top_k=3, no_answer_threshold=0.05)
        for t in (0.5, 3.0):
            scaled = decode(windows, starts, ends, contexts, top_k=3, no_answer_threshold=0.05, temperature=t)
            assert [(a.text, a.start, a.end, a.context_index) for a in scaled.answers] == [
                (a.text, a.start, a.end, a.context_index) for a in at_one.answers
            ]
            assert scaled.no_answer_score == at_one.no_answer_score
            assert (scaled.best_guess.start, scaled.best_guess.end) == (at_one.best_guess.start, at_one.best_guess.end)
            if at_one.answers:
                assert scaled.answers[0].score != at_one.answers[0].score  # the score shown is rescaled
            flips += scaled.best_guess.score != at_one.best_guess.score
    assert flips > 0
