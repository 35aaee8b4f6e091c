"""The official KorQuAD 1.0 metric (evaluate-v1.0.py, korquad.github.io) and `korqa eval`.

Normalisation: each of ' " 《 》 < > 〈 〉 ( ) ‘ ’ becomes a space, lower-case, ASCII punctuation is deleted,
whitespace collapses. EM: normalised strings equal. F1: character level -- spaces dropped, characters compared as
multisets. Per question the best over its gold answers; an unanswered question scores 0; totals in percent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import string
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
    same = sum((Counter(pred_chars) & Counter(gold_chars)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_chars)
    recall = same / len(gold_chars)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    context: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]


def read_squad(path: str | Path) -> list[QAItem]:
    """Questions of a SQuAD / KorQuAD 1.0 JSON file, in file order."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    items = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                items.append(
                    QAItem(
                        id=str(qa["id"]),
                        question=qa["question"],
                        context=paragraph["context"],
                        answers=tuple(a["text"] for a in qa.get("answers", [])),
                        answer_starts=tuple(int(a["answer_start"]) for a in qa.get("answers", [])),
                    )
                )
    return items


def score(items: list[QAItem], predictions: dict[str, str]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent, as the official script; plus the counts."""
    em = f1 = 0.0
    for item in items:
        if item.id not in predictions:
            continue
        prediction = predictions[item.id]
        em += max(exact_match_score(prediction, gold) for gold in item.answers)
        f1 += max(f1_score(prediction, gold) for gold in item.answers)
    total = len(items)
    return {
        "exact_match": 100.0 * em / total if total else 0.0,
        "f1": 100.0 * f1 / total if total else 0.0,
        "count": total,
        "answered": sum(1 for item in items if item.id in predictions),
    }


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def chunks(seq: list, size: int) -> Iterator[list]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def predict(engine, items: list[QAItem], predictions: dict[str, str], out: Path | None, chunk: int = 16) -> dict:
    """Fill `predictions` for items not in it yet, saving to `out` after each chunk (so a run can resume)."""
    from tqdm import tqdm

    from korqa.engine import as_question

    todo = [item for item in items if item.id not in predictions]
    with tqdm(total=len(items), initial=len(items) - len(todo), unit="q", desc="eval", file=sys.stderr) as bar:
        for group in chunks(todo, chunk):
            results = engine.answer_many([as_question(i.question, i.context) for i in group])
            for item, result in zip(group, results, strict=True):
                predictions[item.id] = result.answers[0].text if result.answers else ""
            if out is not None:
                write_json_atomic(out, predictions)
            bar.update(len(group))
    return predictions


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def cmd_eval(args: argparse.Namespace) -> int:
    from korqa.errors import InputError

    items = read_squad(args.data)
    report: dict = {"data": str(args.data), "data_sha256": sha256_of(args.data)}
    seconds = 0.0
    if args.predictions:
        with open(args.predictions, encoding="utf-8") as f:
            predictions = json.load(f)
        report["model"] = None
        report["predictions"] = str(args.predictions)
    else:
        from korqa.cli import load_engine

        out = Path(args.out) if args.out else None
        predictions = {}
        if out is not None and out.exists() and args.resume:
            predictions = json.loads(out.read_text(encoding="utf-8"))
            print(f"resuming: {len(predictions)} predictions already in {out}", file=sys.stderr)
        elif out is not None and out.exists():
            raise InputError(f"{out} exists; pass --resume to continue it or remove it")
        engine = load_engine(args)
        report["model"] = engine.model.name
        started = time.perf_counter()
        done_before = len(predictions)
        predict(engine, items, predictions, out)
        seconds = time.perf_counter() - started
        answered_now = len(predictions) - done_before
        report["questions_per_second"] = answered_now / seconds if seconds > 0 else None
    result = score(items, predictions)
    report |= result | {"seconds": round(seconds, 3)}
    if args.report:
        Path(args.report).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    qps = report.get("questions_per_second")
    print(
        f"EM {result['exact_match']:.2f}  F1 {result['f1']:.2f}  ({result['answered']}/{result['count']} answered"
        + (f", {qps:.2f} questions/s" if qps else "")
        + ")"
    )
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    return 0


def register(sub) -> None:
    from korqa.cli import add_model_options

    p = sub.add_parser("eval", help="EM/F1 on a KorQuAD/SQuAD file with the official KorQuAD 1.0 metric")
    p.add_argument("--data", required=True, help="SQuAD/KorQuAD-format JSON file")
    p.add_argument("--predictions", help="score this {question_id: answer} file instead of running a model")
    p.add_argument("--out", help="write {question_id: answer} here (saved as it goes)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from --out")
    p.add_argument("--report", help="write a JSON report (model, data sha256, EM, F1, count, seconds)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
    add_model_options(p)
    p.set_defaults(func=cmd_eval)
