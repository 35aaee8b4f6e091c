"""Start/end logits of windows -> ranked answers with character offsets. Pure numpy: no model, no I/O.

Scores. Within a window, start and end logits are turned into probabilities with a softmax over the passage
tokens *and* the window's first token ([CLS] / <s>), which extractive-QA training uses as the "no answer in this
window" label. A span's score is p_start(i) * p_end(j): a probability in [0, 1]. A window that does not hold the
answer puts its mass on [CLS], so its spans score low; that is what makes scores comparable across windows and
passages. The no-answer probability of the request is the smallest [CLS] score over its windows.

Valid spans only: start and end are passage tokens, start <= end, at most `max_answer_length` tokens. The answer
text is `context[start:end]` with the token offsets, minus surrounding whitespace and, when the model has learned
boundary rules, minus a particle glued inside its first or last token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from korqa.boundaries import BoundaryRules
from korqa.boundaries import apply as apply_boundaries
from korqa.normalize import trim
from korqa.windows import Window

# How many candidate spans each window contributes beyond top_k: room for de-duplication across windows.
_EXTRA_CANDIDATES = 8


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset into the passage
    end: int  # exclusive: text == context[start:end]
    score: float  # probability in [0, 1]
    context_index: int = 0


@dataclass(frozen=True)
class Decoded:
    answers: list[Answer]
    no_answer_score: float  # probability that no window holds an answer
    best_guess: Answer | None = None  # the best span, also when it was withheld (then answers is empty)


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


def window_probabilities(
    start_logits: np.ndarray, end_logits: np.ndarray, window: Window, temperature: float = 1.0
) -> tuple[np.ndarray, np.ndarray, float]:
    """p_start and p_end over the window's passage tokens, and the window's no-answer probability, with the
    logits divided by `temperature` (calibration: > 1 softens over-confident scores)."""
    n = len(window.offsets)
    lo, hi = window.passage_start, window.passage_start + n
    allowed = np.concatenate([[0], np.arange(lo, hi)])
    p_start = _softmax(start_logits[allowed] / temperature)
    p_end = _softmax(end_logits[allowed] / temperature)
    return p_start[1:], p_end[1:], float(p_start[0] * p_end[0])


def best_spans(p_start: np.ndarray, p_end: np.ndarray, max_answer_length: int, k: int) -> list[tuple[int, int, float]]:
    """The k best (i, j, p_start[i] * p_end[j]) with i <= j < i + max_answer_length, best first."""
    n = len(p_start)
    if n == 0:
        return []
    width = min(max_answer_length, n)
    j = np.arange(n)[:, None] + np.arange(width)[None, :]  # end index for each (start, length - 1)
    valid = j < n
    scores = np.where(valid, p_start[:, None] * p_end[np.minimum(j, n - 1)], -1.0)
    flat = scores.ravel()
    k = min(k, int(valid.sum()))
    top = np.argpartition(-flat, k - 1)[:k]
    top = top[np.argsort(-flat[top], kind="stable")]
    return [(int(t // width), int(t // width + t % width), float(flat[t])) for t in top]


def decode(
    windows: Sequence[Window],
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    contexts: Sequence[str],
    max_answer_length: int = 30,
    top_k: int = 1,
    no_answer_threshold: float | None = None,
    boundaries: BoundaryRules | None = None,
    overlap_threshold: float = 1.0,
    temperature: float = 1.0,
) -> Decoded:
    """Rank answers over all windows of all passages of one question.

    `start_logits[w]` / `end_logits[w]` hold window w's logits (padding beyond len(window) is ignored).
    `boundaries`: learned character-level cuts of particles inside the first/last token (korqa.boundaries).
    """
    best: dict[tuple[int, int, int], tuple[float, float]] = {}  # span -> (ranking score, score shown)
    no_answer = 1.0
    for window, s_logits, e_logits in zip(windows, start_logits, end_logits, strict=True):
        s_logits, e_logits = s_logits[: len(window)], e_logits[: len(window)]
        p_start, p_end, null = window_probabilities(s_logits, e_logits, window)
        # The temperature rescales the score shown, never the ranking or the no-answer decision: which span
        # wins, and whether it is withheld, is the same at every temperature.
        shown_start, shown_end = (
            (p_start, p_end)
            if temperature == 1.0
            else window_probabilities(s_logits, e_logits, window, temperature)[:2]
        )
        no_answer = min(no_answer, null)
        context = contexts[window.context_index]
        for i, j, score in best_spans(p_start, p_end, max_answer_length, top_k + _EXTRA_CANDIDATES):
            shown = float(shown_start[i] * shown_end[j])
            char_start, char_end = trim(context, int(window.offsets[i, 0]), int(window.offsets[j, 1]))
            if boundaries is not None and char_end > char_start:
                inner = (int(window.offsets[j, 0]), int(window.offsets[i, 1]))  # last token's start, first's end
                char_start, char_end = trim(
                    context, *apply_boundaries(boundaries, context, char_start, char_end, *inner)
                )
            if char_end <= char_start:
                continue
            key = (window.context_index, char_start, char_end)
            if score > best.get(key, (-1.0,))[0]:
                best[key] = (score, shown)
    if not windows:
        return Decoded([], 1.0)
    ranked = distinct(sorted(best.items(), key=lambda item: (-item[1][0], item[0])), top_k, overlap_threshold)
    answers = [Answer(contexts[ci][s:e], s, e, min(1.0, max(0.0, shown)), ci) for (ci, s, e), (_, shown) in ranked]
    guess = answers[0] if answers else None
    if no_answer_threshold is not None and no_answer >= no_answer_threshold:
        return Decoded([], no_answer, guess)
    return Decoded(answers, no_answer, guess)


def overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Shared characters over the shorter span's length (0: apart, 1: one inside the other)."""
    shared = min(a[1], b[1]) - max(a[0], b[0])
    return max(0, shared) / max(1, min(a[1] - a[0], b[1] - b[0]))


def distinct(ranked, top_k: int, overlap_threshold: float):
    """The first top_k candidates, best first, that overlap no better one in the same passage by more than
    `overlap_threshold` (0: any shared character; 1: only spans inside another). No fragments of the best answer
    (`년`, `14`, `3년 뒤인 1446년` next to `1446년`) fill the list: top_k is k distinct answers or fewer."""
    kept = []
    for (ci, s, e), score in ranked:
        if all(kc != ci or overlap((s, e), (ks, ke)) <= overlap_threshold for (kc, ks, ke), _ in kept):
            kept.append(((ci, s, e), score))
            if len(kept) == top_k:
                break
    return kept
