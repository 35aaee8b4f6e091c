"""QAEngine.answer(question, contexts) ties the steps together:

    question + passages -> windows -> batches -> runtime (logits) -> span decoding -> answers

`answer_many` puts the windows of many questions into the same batches, which is what batch requests, evaluation
and training's validation use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from korqa.batching import make_batches
from korqa.config import QAConfig
from korqa.errors import InputError
from korqa.models import LoadedModel
from korqa.spans import Answer, decode
from korqa.windows import Window, encode_passage, encode_question, make_windows, passage_capacity

log = logging.getLogger(__name__)


@dataclass
class QAResult:
    answers: list[Answer]
    no_answer_score: float
    windows: int
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage


@dataclass(frozen=True)
class Question:
    question: str
    contexts: tuple[str, ...]


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
    if not question.strip():
        raise InputError("question is empty")
    if not contexts or not any(c.strip() for c in contexts):
        raise InputError("context is empty")
    return Question(question, contexts)


class QAEngine:
    def __init__(self, model: LoadedModel, config: QAConfig | None = None):
        config = config or model.config
        config.validate()
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
    def from_config(cls, config: QAConfig, model: str | None = None, threads: int | None = None) -> QAEngine:
        """Load the model a config names, the nlpbook way or any other:

        QAEngine.from_config(QAConfig.from_kwargs(pretrained_model_name="beomi/kcbert-base",
                             downstream_model_checkpoint_path=".../epoch=0.ckpt", max_seq_length=128))
        """
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

    def windows_for(self, q: Question) -> list[Window]:
        tok, cfg = self.model.tokenizer, self.config
        question_ids = encode_question(tok, q.question, cfg.max_query_length)
        windows: list[Window] = []
        for index, context in enumerate(q.contexts):
            passage = encode_passage(tok, context)
            windows += make_windows(
                tok.layout, question_ids, passage, cfg.max_seq_length, cfg.doc_stride, context_index=index
            )
        return windows

    def logits(self, windows: Sequence[Window]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Start/end logits for each window, in the order given, computed in padded batches."""
        starts: list[np.ndarray] = [np.empty(0)] * len(windows)
        ends: list[np.ndarray] = [np.empty(0)] * len(windows)
        for batch in make_batches(windows, self.config.max_batch_tokens, self.model.tokenizer.pad_id):
            s, e = self.model.runtime.forward(batch)
            for row, index in enumerate(batch.members):
                starts[index], ends[index] = s[row], e[row]
        return starts, ends

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
        questions: Sequence[Question],
        top_k: int | None = None,
        max_answer_length: int | None = None,
    ) -> list[QAResult]:
        t0 = time.perf_counter()
        per_question = [self.windows_for(q) for q in questions]
        flat = [w for ws in per_question for w in ws]
        t1 = time.perf_counter()
        starts, ends = self.logits(flat)
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
    ) -> QAResult:
        """Answers of one question from its windows' logits."""
        cfg = self.config
        top_k = top_k or cfg.top_k
        max_answer_length = max_answer_length or cfg.max_answer_length
        if top_k < 1 or max_answer_length < 1:
            raise InputError("top_k and max_answer_length must be at least 1")
        decoded = decode(
            windows,
            starts,
            ends,
            q.contexts,
            max_answer_length=max_answer_length,
            top_k=top_k,
            no_answer_threshold=cfg.no_answer_threshold,
            boundaries=self.model.boundaries if cfg.use_boundary_rules else None,
        )
        return QAResult(decoded.answers, decoded.no_answer_score, len(windows))
