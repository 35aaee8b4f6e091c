import numpy as np
import pytest

from korqa.errors import ConfigError
from korqa.windows import EncodedPassage, encode_passage, label_window, make_windows, window_spans


def test_windows_cover_every_token_with_doc_stride_as_step():
    assert window_spans(10, capacity=4, doc_stride=3) == [(0, 4), (3, 7), (6, 10)]


def test_a_step_larger_than_a_window_never_skips_tokens():
    assert window_spans(10, capacity=4, doc_stride=100) == [(0, 4), (4, 8), (8, 10)]


def test_short_passage_is_one_window_and_empty_passage_none():
    assert window_spans(3, capacity=4, doc_stride=2) == [(0, 3)]
    assert window_spans(0, capacity=4, doc_stride=2) == []


@pytest.mark.parametrize("n,capacity,stride", [(1, 1, 1), (57, 10, 3), (100, 30, 30), (31, 30, 29), (500, 93, 64)])
def test_every_token_is_in_some_window_and_windows_fit(n, capacity, stride):
    spans = window_spans(n, capacity, stride)
    covered = set()
    for a, b in spans:
        assert 0 < b - a <= capacity
        covered |= set(range(a, b))
    assert covered == set(range(n))


def test_window_layout_and_offsets(tiny_tokenizer):
    context = "한국 대학 " * 30
    passage = encode_passage(tiny_tokenizer, context)
    question = [tiny_tokenizer.backend.token_to_id("가")] * 5
    windows = make_windows(tiny_tokenizer.layout, question, passage, max_seq_length=32, doc_stride=8)
    assert len(windows) > 1
    for w in windows:
        assert len(w) <= 32
        assert w.passage_start == 1 + 5 + 1
        n = len(w.offsets)
        assert (
            list(w.input_ids[w.passage_start : w.passage_start + n]) == passage.ids[w.first_token : w.first_token + n]
        )
        assert set(w.token_type_ids[w.passage_start :]) == {1}
    assert windows[1].first_token - windows[0].first_token == 8


def test_max_seq_length_too_small_for_the_question_is_a_config_error(tiny_tokenizer):
    passage = EncodedPassage([5, 6], [(0, 1), (1, 2)])
    with pytest.raises(ConfigError, match="no room"):
        make_windows(tiny_tokenizer.layout, [7] * 10, passage, max_seq_length=12, doc_stride=4)


def test_labels_include_answers_at_character_zero(tiny_tokenizer):
    context = "한국 대학 서울"
    w = make_windows(tiny_tokenizer.layout, [], encode_passage(tiny_tokenizer, context), 64, 64)[0]
    assert label_window(w, 0, 2) == (w.passage_start, w.passage_start + 1)
    assert label_window(w, 6, 8) == (w.passage_start + 4, w.passage_start + 5)


def test_labels_point_at_cls_when_the_answer_is_outside_the_window(tiny_tokenizer):
    context = "가 " * 40 + "한국"
    windows = make_windows(tiny_tokenizer.layout, [], encode_passage(tiny_tokenizer, context), 16, 8)
    start = context.index("한국")
    labels = [label_window(w, start, start + 2) for w in windows]
    assert labels[0] == (0, 0)
    assert labels[-1] != (0, 0)
    w = windows[-1]
    s, e = labels[-1]
    assert (w.offsets[s - w.passage_start, 0], w.offsets[e - w.passage_start, 1]) == (start, start + 2)


def test_offsets_are_int_arrays(tiny_tokenizer):
    w = make_windows(tiny_tokenizer.layout, [], encode_passage(tiny_tokenizer, "가나"), 16, 8)[0]
    assert w.offsets.dtype == np.int64 and w.offsets.tolist() == [[0, 1], [1, 2]]
