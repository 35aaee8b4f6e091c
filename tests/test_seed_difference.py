"""The nlpbook `inference_fn` next to korqa on the same model: where the naive decoding goes wrong."""

import random

import pytest
from transformers import BertForQuestionAnswering, BertTokenizer

from tests.support import tiny
from tests.support.seed import SeedInference


@pytest.fixture(scope="module")
def seed(tiny_model_dir):
    tokenizer = BertTokenizer.from_pretrained(str(tiny_model_dir), do_lower_case=False)
    model = BertForQuestionAnswering.from_pretrained(str(tiny_model_dir))
    s = tiny.SETTINGS
    return SeedInference(tokenizer, model, max_seq_length=s.max_seq_length, max_query_length=s.max_query_length)


def test_seed_pads_every_input_to_max_seq_length(seed):
    inputs = seed.encode_plus([5, 6], "가 나")
    assert len(inputs["input_ids"]) == seed.max_seq_length
    assert inputs["attention_mask"].count(1) == 1 + 2 + 1 + 2 + 1


def test_seed_cannot_see_an_answer_past_its_one_window_korqa_can(seed, engine):
    ex = tiny.make_example(random.Random(11), 120, 10, distractors=True)
    assert ex.answer_text not in seed(ex.question, ex.context)["answer"]
    assert engine.answer(ex.question, ex.context).answers[0].text == ex.answer_text


def test_seed_argmaxes_give_spans_korqa_never_returns(seed, engine):
    """Over many passages, the seed's independent argmaxes produce end < start and spans in the question."""
    rng = random.Random(5)
    end_before_start = in_question = 0
    for _ in range(60):
        ex = tiny.make_example(rng, rng.randint(10, 40), rng.randint(0, 10), distractors=True)
        input_ids, start, end = seed.positions(ex.question, ex.context)
        first_passage = input_ids.index(seed.tokenizer.sep_token_id) + 1
        end_before_start += end < start
        in_question += start < first_passage or end < first_passage
        for a in engine.answer(ex.question, ex.context, top_k=5).answers:
            assert a.start < a.end and ex.context[a.start : a.end] == a.text
    assert end_before_start + in_question > 0


@pytest.mark.parametrize("answer", ["甲 한뷁 丙", "甲 한국,어 丙", "甲  한국\n어 丙"])
def test_seed_decode_is_not_a_substring_of_the_passage_korqa_is(seed, engine, answer):
    """[UNK] for characters outside the vocabulary, re-spaced punctuation, collapsed whitespace."""
    context = f"가나 {answer} 다라"
    seed_answer = seed(tiny.QUESTION, context)["answer"]
    best = engine.answer(tiny.QUESTION, context).answers[0]
    assert best.text == context[best.start : best.end] == answer
    assert seed_answer not in context


def test_seed_returns_an_empty_answer_for_empty_input(seed):
    assert seed("", "가나")["answer"] == "" and seed("가?", "")["answer"] == ""
