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
    """{"exact_match", "f1"} in percent, as the official script; plus the counts. With unanswerable questions
    (SQuAD 2.0) also HasAns_* and NoAns_* as SQuAD 2.0's script reports them (withheld = the empty string)."""
    items = list(items)
    per = {}
    for item in items:
        if item.id not in predictions:
            per[item.id] = (0.0, 0.0)
            continue
        prediction = predictions[item.id]
        golds = item.answers or ("",)
        per[item.id] = (
            max(float(exact_match_score(prediction, gold)) for gold in golds),
            max(f1_score(prediction, gold) for gold in golds),
        )

    def totals(group: list[QAItem]) -> tuple[float, float]:
        n = len(group)
        return (
            100.0 * sum(per[i.id][0] for i in group) / n if n else 0.0,
            100.0 * sum(per[i.id][1] for i in group) / n if n else 0.0,
        )

    em, f1 = totals(items)
    out = {"exact_match": em, "f1": f1, "count": len(items), "answered": sum(1 for i in items if i.id in predictions)}
    no_answer = [i for i in items if not i.answers]
    if no_answer:
        has_answer = [i for i in items if i.answers]
        out |= dict(zip(("HasAns_exact", "HasAns_f1"), totals(has_answer), strict=True)) | {
            "HasAns_total": len(has_answer)
        }
        out |= dict(zip(("NoAns_exact", "NoAns_f1"), totals(no_answer), strict=True)) | {"NoAns_total": len(no_answer)}
    return out
