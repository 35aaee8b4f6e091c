"""Unanswerable questions as data, and the no-answer threshold calibrated on them.

`pair_unanswerable` turns a KorQuAD 1.0 / SQuAD 1.1 file into SQuAD 2.0: every question is kept, and asked again
(is_impossible, no answers) of
  - hard: another paragraph of the same article that contains none of its gold answers (same topic, same names),
  - easy: a paragraph of another article.
The draw is seeded, so the file is reproducible.

`best_threshold` is SQuAD 2.0's "best threshold": the no-answer probability at or above which withholding
maximises overall F1, over questions with and without answers.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence

from korqa.data import QAItem
from korqa.metric import exact_match_score, f1_score


def pair_unanswerable(squad: dict, seed: int = 0, kinds: Sequence[str] = ("hard", "easy")) -> dict:
    """A SQuAD 2.0 document: the questions of `squad` plus their unanswerable pairs (ids `<id>_hard`, `_easy`)."""
    rng = random.Random(seed)
    out = copy.deepcopy(squad)
    out["version"] = "v2.0"
    articles = out["data"]
    for qa_article_index, article in enumerate(squad["data"]):
        for p_index, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                golds = [a["text"] for a in qa.get("answers", [])]
                if not golds:
                    continue
                if "hard" in kinds:
                    others = [
                        i
                        for i, other in enumerate(article["paragraphs"])
                        if i != p_index and not any(g in other["context"] for g in golds)
                    ]
                    if others:
                        target = articles[qa_article_index]["paragraphs"][rng.choice(others)]
                        target["qas"].append(impossible(qa, "hard"))
                if "easy" in kinds and len(articles) > 1:
                    a = rng.choice([i for i in range(len(articles)) if i != qa_article_index])
                    candidates = [
                        p for p in squad["data"][a]["paragraphs"] if not any(g in p["context"] for g in golds)
                    ]
                    if candidates:
                        index = squad["data"][a]["paragraphs"].index(rng.choice(candidates))
                        articles[a]["paragraphs"][index]["qas"].append(impossible(qa, "easy"))
    return out


def impossible(qa: dict, kind: str) -> dict:
    return {"id": f"{qa['id']}_{kind}", "question": qa["question"], "answers": [], "is_impossible": True}


def best_threshold(items: list[QAItem], guesses: dict[str, str], no_answer: dict[str, float]) -> dict:
    """The threshold t that maximises overall F1 when every question with p(no answer) >= t is withheld ("" ),
    else answered with its best guess; with the EM/F1 there and without any threshold."""

    def scores(item: QAItem, prediction: str) -> tuple[float, float]:
        golds = item.answers or ("",)
        return (
            max(float(exact_match_score(prediction, g)) for g in golds),
            max(f1_score(prediction, g) for g in golds),
        )

    answered = {i.id: scores(i, guesses[i.id]) for i in items}
    withheld = {i.id: scores(i, "") for i in items}
    order = sorted(items, key=lambda i: -no_answer[i.id])  # withholding from the most likely unanswerable down
    em = sum(answered[i.id][0] for i in items)
    f1 = sum(answered[i.id][1] for i in items)
    best = {"threshold": "off", "exact_match": em, "f1": f1}
    for k, item in enumerate(order):
        em += withheld[item.id][0] - answered[item.id][0]
        f1 += withheld[item.id][1] - answered[item.id][1]
        nxt = order[k + 1] if k + 1 < len(order) else None
        if nxt is not None and no_answer[nxt.id] == no_answer[item.id]:
            continue  # a threshold cannot split equal scores
        if f1 > best["f1"]:
            best = {"threshold": no_answer[item.id], "exact_match": em, "f1": f1}
    n = len(items) or 1
    no_threshold_f1 = sum(answered[i.id][1] for i in items)
    return {
        "threshold": best["threshold"],
        "exact_match": 100 * best["exact_match"] / n,
        "f1": 100 * best["f1"] / n,
        "f1_without_threshold": 100 * no_threshold_f1 / n,
        "count": len(items),
    }


TEMPERATURES = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0)


def expected_calibration_error(scores: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width score bins, weighted by their size."""
    total, n = 0.0, len(scores)
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, s in enumerate(scores) if lo <= s < hi or (b == bins - 1 and s == 1.0)]
        if members:
            confidence = sum(scores[i] for i in members) / len(members)
            accuracy = sum(correct[i] for i in members) / len(members)
            total += len(members) / n * abs(accuracy - confidence)
    return total


def calibration_table(items: list[QAItem], decode_at) -> list[dict]:
    """For each temperature: the negative log-likelihood and ECE of "the best answer is exactly right" over the
    answerable questions. `decode_at(t)` gives the QAResults of `items` at temperature t."""
    import math

    rows = []
    for t in TEMPERATURES:
        scores, correct = [], []
        for item, result in zip(items, decode_at(t), strict=True):
            if not item.answers or result.best_guess is None:
                continue
            p = min(max(result.best_guess.score, 1e-6), 1 - 1e-6)
            scores.append(p)
            correct.append(any(exact_match_score(result.best_guess.text, g) for g in item.answers))
        nll = -sum(math.log(p) if c else math.log(1 - p) for p, c in zip(scores, correct, strict=True)) / len(scores)
        rows.append({"temperature": t, "nll": nll, "ece": expected_calibration_error(scores, correct)})
    return rows
