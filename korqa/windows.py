"""question + passage -> windows (the model's input features), each with the character offsets of its
passage tokens.

A passage longer than one window is covered by several windows that start `doc_stride` passage tokens apart
(the step, as in BERT's run_squad.py and ratsnlp). Every passage token is in at least one window, so an answer
anywhere in a long passage can be found; the seed truncates to one window and cannot see past it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from korqa.errors import ConfigError
from korqa.tokenizer import PairLayout, QATokenizer


@dataclass(frozen=True)
class Window:
    input_ids: np.ndarray  # int64 [length]
    token_type_ids: np.ndarray  # int64 [length]
    passage_start: int  # index in input_ids of the window's first passage token
    offsets: np.ndarray  # int64 [n_passage_tokens, 2]: char offsets into the passage
    context_index: int  # which passage of the request
    first_token: int  # index of the window's first token within the whole passage's tokens

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class EncodedPassage:
    ids: list[int]
    offsets: list[tuple[int, int]]


def encode_question(tokenizer: QATokenizer, question: str, max_query_length: int) -> list[int]:
    ids, _ = tokenizer.encode(question)
    return ids[:max_query_length]


def encode_passage(tokenizer: QATokenizer, context: str) -> EncodedPassage:
    ids, offsets = tokenizer.encode(context)
    return EncodedPassage(ids, offsets)


def window_spans(n_tokens: int, capacity: int, doc_stride: int) -> list[tuple[int, int]]:
    """[start, end) token ranges that cover 0..n_tokens, each at most `capacity` long."""
    if n_tokens == 0:
        return []
    step = max(1, min(doc_stride, capacity))
    spans = []
    start = 0
    while True:
        end = min(start + capacity, n_tokens)
        spans.append((start, end))
        if end == n_tokens:
            return spans
        start += step


def passage_capacity(layout: PairLayout, question_len: int, max_seq_length: int) -> int:
    capacity = max_seq_length - question_len - layout.num_special
    if capacity < 1:
        raise ConfigError(
            f"max_seq_length {max_seq_length} leaves no room for the passage after a {question_len}-token "
            f"question and {layout.num_special} special tokens; raise max_seq_length or lower max_query_length"
        )
    return capacity


def make_windows(
    layout: PairLayout,
    question_ids: list[int],
    passage: EncodedPassage,
    max_seq_length: int,
    doc_stride: int,
    context_index: int = 0,
) -> list[Window]:
    capacity = passage_capacity(layout, len(question_ids), max_seq_length)
    head = list(layout.prefix) + list(question_ids) + list(layout.middle)
    head_types = list(layout.prefix_types) + [layout.question_type] * len(question_ids) + list(layout.middle_types)
    all_offsets = np.asarray(passage.offsets, dtype=np.int64).reshape(-1, 2)
    windows = []
    for start, end in window_spans(len(passage.ids), capacity, doc_stride):
        ids = head + passage.ids[start:end] + list(layout.suffix)
        types = head_types + [layout.passage_type] * (end - start) + list(layout.suffix_types)
        windows.append(
            Window(
                input_ids=np.asarray(ids, dtype=np.int64),
                token_type_ids=np.asarray(types, dtype=np.int64),
                passage_start=len(head),
                offsets=all_offsets[start:end],
                context_index=context_index,
                first_token=start,
            )
        )
    return windows


def token_span(offsets: np.ndarray, start: int, end: int) -> tuple[int, int] | None:
    """Indices of the first and last token overlapping characters [start, end), or None if there are none."""
    if len(offsets) == 0 or start < offsets[0, 0] or end > offsets[-1, 1]:
        return None
    first = int(np.searchsorted(offsets[:, 1], start, side="right"))  # first token ending after start
    last = int(np.searchsorted(offsets[:, 0], end, side="left")) - 1  # last token starting before end
    return (first, last) if first <= last else None


def label_window(window: Window, answer_start: int, answer_end: int) -> tuple[int, int]:
    """Training labels: the input positions of the first and last token of the answer [answer_start,
    answer_end) (characters), or (0, 0) -- the window's first token -- when the answer is not wholly inside it.
    An answer starting at character 0 is labelled like any other (ratsnlp drops those)."""
    span = token_span(window.offsets, answer_start, answer_end)
    if span is None:
        return 0, 0
    return window.passage_start + span[0], window.passage_start + span[1]
