"""The official KorQuAD 1.0 metric (evaluate-v1.0.py, korquad.github.io), with SQuAD 2.0's rule for questions
that have no answer.

Normalisation: each of ' " 《 》 < > 〈 〉 ( ) ‘ ’ becomes a space, lower-case, ASCII punctuation is deleted,
whitespace collapses. EM: normalised strings equal. F1: character level -- spaces dropped, characters compared as
multisets. Per question the best over its gold answers; an unanswered question scores 0; totals in percent.
An unanswerable question (SQuAD 2.0) has the empty string as its only gold answer: withholding scores 1, any
answer 0.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable

from korqa.data import QAItem

_SPACED = "'\"《》<>〈〉()‘’"
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    for ch in _SPACED:
        s = s.replace(ch, " ")
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    return " ".join(s.split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    pred_chars = list(normalize_answer(prediction).replace(" ", ""))
    gold_chars = list(normalize_answer(ground_truth).replace(" ", ""))
    if not pred_chars or not gold_chars:  # SQuAD 2.0: an empty answer is right only where none is expected
        return float(pred_chars == gold_chars)
    same = sum((Counter(pred_chars) & Counter(gold_chars)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_chars)
    recall = same / len(gold_chars)
    return 2 * precision * recall / (precision + recall)


def score(items: Iterable[QAItem], predictions: dict[str, str]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent, as the official script; plus the counts."""
    items = list(items)
    em = f1 = 0.0
    for item in items:
        if item.id not in predictions:
            continue
        prediction = predictions[item.id]
        golds = item.answers or ("",)
        em += max(exact_match_score(prediction, gold) for gold in golds)
        f1 += max(f1_score(prediction, gold) for gold in golds)
    total = len(items)
    return {
        "exact_match": 100.0 * em / total if total else 0.0,
        "f1": 100.0 * f1 / total if total else 0.0,
        "count": total,
        "answered": sum(1 for item in items if item.id in predictions),
    }
