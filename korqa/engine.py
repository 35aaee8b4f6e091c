"""QAEngine.answer(question, contexts) ties the steps together:

    question + passages -> windows -> batches -> runtime (logits) -> span decoding -> answers

Each step is one method the serving queue (korqa.batcher) also calls: `windows_for`, `forward`, `decode`.
`answer_many` puts the windows of many questions into the same batches, which is what batch requests, evaluation
and training's validation use.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from korqa.config import QAConfig, withhold_threshold
from korqa.errors import InputError, LimitError
from korqa.models import LoadedModel
from korqa.normalize import Normalized, has_visible, to_nfc
from korqa.runtime import run_windows
from korqa.spans import Answer, decode
from korqa.windows import Window, encode_passage, encode_question, make_windows, passage_capacity

log = logging.getLogger(__name__)


@dataclass
class QAResult:
    answers: list[Answer]  # empty when the answer was withheld (no_answer_threshold) or there was none
    no_answer_score: float
    windows: int
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage
    best_guess: Answer | None = None  # the best span even when withheld: show it as a guess, never as the answer

    @property
    def no_answer(self) -> bool:
        return not self.answers


@dataclass(frozen=True)
class Question:
    question: str
    contexts: tuple[str, ...]

    @cached_property
    def forms(self) -> tuple[Normalized, ...]:
        """The passages as the model reads them (NFC), with maps back to the text as sent."""
        return tuple(to_nfc(c) for c in self.contexts)


def _check_unicode(name: str, text: str) -> None:
    """JSON can carry lone surrogates ("\\ud800") that are not text; the tokenizer cannot take them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{name} is not valid Unicode: lone surrogate at character {exc.start}") from exc


def as_question(question: str, contexts: str | Sequence[str]) -> Question:
    if not isinstance(question, str):
        raise InputError("question must be a string")
    if isinstance(contexts, str):
        contexts = (contexts,)
    contexts = tuple(contexts)
    if not all(isinstance(c, str) for c in contexts):
        raise InputError("every context must be a string")
    for name, text in [("question", question), *((f"context {i}", c) for i, c in enumerate(contexts))]:
        _check_unicode(name, text)
    if not has_visible(question):
        raise InputError("question is empty")
    if not contexts or not any(has_visible(c) for c in contexts):
        raise InputError("context is empty")
    return Question(question, contexts)


def as_questions(items: Sequence[Question | tuple[str, Any] | Mapping[str, Any]]) -> list[Question]:
    """Questions from Question objects, (question, context(s)) pairs, or {"question", "context"|"contexts"} dicts."""
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Question):
            out.append(item)
        elif isinstance(item, Mapping):
            if "question" not in item or ("context" in item) == ("contexts" in item):
                raise InputError(f"item {i}: a dict needs 'question' and one of 'context' or 'contexts'")
            out.append(as_question(item["question"], item["context"] if "context" in item else item["contexts"]))
        elif isinstance(item, tuple | list) and len(item) == 2:
            out.append(as_question(item[0], item[1]))
        else:
            raise InputError(f"item {i}: give a Question, a (question, context) pair or a dict")
    return out


class WorkLimit(LimitError):
    """A request needs more windows of model work than its budget (HTTP 413). `windows`: how many were counted
    before stopping (more than the budget; the request may need still more)."""

    def __init__(self, windows: int, budget: int):
        super().__init__(
            f"the request needs more than max_request_windows ({budget}) windows of model work (counted "
            f"{windows} before stopping); send fewer or shorter passages",
            "max_request_windows",
        )
        self.windows = windows


def as_sent(answer: Answer, q: Question) -> Answer:
    """An answer found in the NFC form of its passage, with offsets and text in the passage as sent."""
    form = q.forms[answer.context_index]
    if form.starts is None:
        return answer
    start, end = form.original_span(answer.start, answer.end)
    return replace(answer, text=q.contexts[answer.context_index][start:end], start=start, end=end)


class QAEngine:
    def __init__(self, model: LoadedModel, config: QAConfig | None = None):
        """Serve `model` with its settings, or with `config`'s where set."""
        config = (config.over(model.config) if config is not None else model.config).resolved()
        if config.max_seq_length > model.max_positions:
            log.warning(
                "max_seq_length %d exceeds the model's %d positions; using %d",
                config.max_seq_length,
                model.max_positions,
                model.max_positions,
            )
            config = config.with_(max_seq_length=model.max_positions)
        # Fail at start-up, not on the first request, if a full-length question leaves no room for a passage.
        passage_capacity(model.tokenizer.layout, config.max_query_length, config.max_seq_length)
        self.model = model
        self.config = config

    @classmethod
    def from_config(
        cls, config: QAConfig | None = None, model: str | None = None, threads: int | None = None
    ) -> QAEngine:
        """Load the model a config names, the nlpbook way or any other (nothing named: the default model):

        QAEngine.from_config(QAConfig.from_kwargs(pretrained_model_name="beomi/kcbert-base",
                             downstream_model_checkpoint_path=".../epoch=0.ckpt", max_seq_length=128))
        """
        config = config or QAConfig()
        from korqa.models import load_model

        checkpoint = config.downstream_model_checkpoint_path
        loaded = load_model(
            model if checkpoint else (model or config.pretrained_model_name),
            pretrained=config.pretrained_model_name if checkpoint else None,
            checkpoint=checkpoint,
            trust_checkpoint=config.trust_checkpoint,
            config=config,
            threads=threads,
        )
        return cls(loaded)

    def windows_for(self, q: Question, budget: int | None = None) -> list[Window]:
        """The windows of every passage of `q`. With `budget`, stop (WorkLimit) as soon as they exceed it: an
        oversized request costs the tokenization of a budget's worth of text, not of all of it."""
        tok, cfg = self.model.tokenizer, self.config
        question_ids = encode_question(tok, unicodedata.normalize("NFC", q.question), cfg.max_query_length)
        windows: list[Window] = []
        for index, form in enumerate(q.forms):
            passage = encode_passage(tok, form.text)
            windows += make_windows(
                tok.layout, question_ids, passage, cfg.max_seq_length, cfg.doc_stride, context_index=index
            )
            if budget is not None and len(windows) > budget:
                raise WorkLimit(len(windows), budget)
        return windows

    def forward(self, windows: Sequence[Window]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Start/end logits for each window, in the order given, computed in padded batches."""
        return run_windows(self.model.runtime, windows, self.model.tokenizer.pad_id, self.config.max_batch_tokens)

    def answer(
        self,
        question: str,
        contexts: str | Sequence[str],
        top_k: int | None = None,
        max_answer_length: int | None = None,
    ) -> QAResult:
        return self.answer_many([as_question(question, contexts)], top_k, max_answer_length)[0]

    def answer_many(
        self,
        questions: Sequence[Question | tuple[str, Any] | Mapping[str, Any]],
        top_k: int | None = None,
        max_answer_length: int | None = None,
    ) -> list[QAResult]:
        """Many questions at once (their windows share batches): Question objects, (question, context) pairs or
        {"question", "context" | "contexts"} dicts."""
        questions = as_questions(questions)
        t0 = time.perf_counter()
        per_question = [self.windows_for(q) for q in questions]
        flat = [w for ws in per_question for w in ws]
        t1 = time.perf_counter()
        starts, ends = self.forward(flat)
        t2 = time.perf_counter()
        results = []
        offset = 0
        for q, ws in zip(questions, per_question, strict=True):
            n = len(ws)
            results.append(
                self.decode(q, ws, starts[offset : offset + n], ends[offset : offset + n], top_k, max_answer_length)
            )
            offset += n
        t3 = time.perf_counter()
        timings = {"tokenize_ms": (t1 - t0) * 1e3, "forward_ms": (t2 - t1) * 1e3, "decode_ms": (t3 - t2) * 1e3}
        for r in results:
            r.timings = dict(timings)
        return results

    def decode(
        self,
        q: Question,
        windows: Sequence[Window],
        starts: Sequence[np.ndarray],
        ends: Sequence[np.ndarray],
        top_k: int | None = None,
        max_answer_length: int | None = None,
        no_answer_threshold: float | str | None = None,
    ) -> QAResult:
        """Answers of one question from its windows' logits. `no_answer_threshold` overrides the config's for this
        question ("off": never withhold)."""
        cfg = self.config
        top_k = cfg.top_k if top_k is None else top_k
        max_answer_length = cfg.max_answer_length if max_answer_length is None else max_answer_length
        for name, value in (("top_k", top_k), ("max_answer_length", max_answer_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a whole number of at least 1, got {value!r}")
        decoded = decode(
            windows,
            starts,
            ends,
            [form.text for form in q.forms],
            max_answer_length=max_answer_length,
            top_k=top_k,
            no_answer_threshold=cfg.withhold_threshold
            if no_answer_threshold is None
            else withhold_threshold(no_answer_threshold),
            boundaries=self.model.boundaries if cfg.use_boundary_rules else None,
            overlap_threshold=cfg.overlap_threshold,
            temperature=cfg.temperature,
        )
        guess = as_sent(decoded.best_guess, q) if decoded.best_guess else None
        return QAResult(
            [as_sent(a, q) for a in decoded.answers], decoded.no_answer_score, len(windows), best_guess=guess
        )
