"""The engine with the tiny trained model: it must find the known answer span wherever it lies."""

import random

import pytest

from korqa.config import QAConfig
from korqa.engine import QAEngine, Question
from korqa.errors import ConfigError, InputError
from tests.support import tiny


def example(seed, before, after, distractors=True):
    return tiny.make_example(random.Random(seed), before, after, distractors=distractors)


def test_finds_the_answer_in_a_one_window_passage(engine):
    ex = example(1, 5, 5)
    (best,) = engine.answer(ex.question, ex.context).answers
    assert (best.text, best.start) == (ex.answer_text, ex.answer_start)


@pytest.mark.parametrize("before", [60, 110, 160])
def test_finds_the_answer_in_later_windows_of_a_long_passage(engine, before):
    ex = example(before, before, 20)
    result = engine.answer(ex.question, ex.context)
    assert result.windows >= 3
    best = result.answers[0]
    assert (best.text, best.start) == (ex.answer_text, ex.answer_start)
    assert ex.context[best.start : best.end] == best.text


def test_many_long_passages_are_all_answered(engine):
    rng = random.Random(7)
    examples = [tiny.make_example(rng, rng.randint(0, 150), rng.randint(0, 150), True) for _ in range(40)]
    results = engine.answer_many([Question(ex.question, (ex.context,)) for ex in examples])
    hits = sum(r.answers[0].start == ex.answer_start for r, ex in zip(results, examples, strict=True))
    assert hits == len(examples)


def test_the_passage_holding_the_answer_wins_among_several(engine):
    rng = random.Random(3)
    ex = tiny.make_example(rng, 30, 10)
    others = [" ".join(tiny.random_word(rng) for _ in range(40)) for _ in range(3)]
    contexts = [others[0], others[1], ex.context, others[2]]
    result = engine.answer(ex.question, contexts, top_k=3)
    best = result.answers[0]
    assert (best.context_index, best.text) == (2, ex.answer_text)
    assert all(a.score <= best.score for a in result.answers)


def test_top_k_returns_distinct_spans_best_first_without_fragments_of_better_ones(engine, tiny_model):
    ex = example(4, 10, 10)
    answers = engine.answer(ex.question, ex.context, top_k=5).answers
    assert 1 <= len(answers) <= 5 and answers[0].text == ex.answer_text
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)
    for i, a in enumerate(answers):  # no candidate shares a character with a better one (overlap_threshold 0)
        assert all(a.end <= b.start or b.end <= a.start for b in answers[:i])
    # overlap_threshold 1 keeps every distinct span, fragments included: five of them
    everything = QAEngine(tiny_model, QAConfig(overlap_threshold=1.0)).answer(ex.question, ex.context, top_k=5).answers
    assert len({(a.start, a.end) for a in everything}) == 5 and len(everything) > len(answers)


def test_empty_question_or_passage_is_an_input_error(engine):
    with pytest.raises(InputError, match="question is empty"):
        engine.answer("  ", "가나")
    with pytest.raises(InputError, match="context is empty"):
        engine.answer("가?", ["", " \n"])


def test_max_seq_length_is_clamped_to_the_position_limit(tiny_model, caplog):
    engine = QAEngine(tiny_model, tiny_model.config.with_(max_seq_length=1000))
    assert engine.config.max_seq_length == tiny_model.max_positions == 128
    assert "exceeds the model's 128 positions" in caplog.text


def test_a_question_limit_that_leaves_no_room_fails_at_start_up(tiny_model):
    with pytest.raises(ConfigError, match="no room"):
        QAEngine(tiny_model, QAConfig(max_seq_length=20, max_query_length=18))


def test_timings_are_reported_per_stage(engine):
    ex = example(2, 3, 3)
    timings = engine.answer(ex.question, ex.context).timings
    assert set(timings) == {"tokenize_ms", "forward_ms", "decode_ms"}
    assert all(v >= 0 for v in timings.values())


def test_answer_many_takes_questions_pairs_and_dicts_alike(engine):
    from korqa import Question

    rng = random.Random(21)
    ex = tiny.make_example(rng, 30, 5, distractors=True)
    results = engine.answer_many(
        [
            Question(ex.question, (ex.context,)),
            (ex.question, ex.context),
            {"question": ex.question, "context": ex.context},
            {"question": ex.question, "contexts": ["가 나", ex.context]},
        ]
    )
    assert [r.answers[0].text for r in results] == [ex.answer_text] * 4
    assert results[3].answers[0].context_index == 1
    with pytest.raises(InputError, match="item 0"):
        engine.answer_many([{"question": ex.question}])
