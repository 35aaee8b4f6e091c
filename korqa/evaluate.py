"""Score a model on a SQuAD-format file: predict every question (resumably), then apply korqa.metric.

report = evaluate(engine, read_squad(path), out=Path("preds.json"), resume=True)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from korqa.data import QAItem, read_json
from korqa.errors import DataError
from korqa.metric import score


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def chunks(seq: list, size: int) -> Iterator[list]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_predictions(path: str | Path) -> dict[str, str]:
    predictions = read_json(path)
    if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
        raise DataError(f"{path} must be a JSON object {{question_id: answer text}}")
    return predictions


def predict(engine, items: list[QAItem], predictions: dict[str, str], out: Path | None, chunk: int = 16) -> dict:
    """Fill `predictions` for items not in it yet, saving to `out` after each chunk (so a run can resume).
    A withheld answer is the empty string. Progress (rate, ETA) goes to stderr."""
    from tqdm import tqdm

    todo = [item for item in items if item.id not in predictions]
    with tqdm(total=len(items), initial=len(items) - len(todo), unit="q", desc="eval", file=sys.stderr) as bar:
        for group in chunks(todo, chunk):
            results = engine.answer_many([(i.question, i.context) for i in group])
            for item, result in zip(group, results, strict=True):
                predictions[item.id] = result.answers[0].text if result.answers else ""
            if out is not None:
                write_json_atomic(out, predictions)
            bar.update(len(group))
    return predictions


def evaluate(engine, items: list[QAItem], out: Path | None = None, resume: bool = False) -> dict:
    """EM/F1 of `engine` on `items`, with the model's name and its speed on the questions it answered now."""
    predictions: dict[str, str] = {}
    if out is not None and out.exists():
        if not resume:
            raise DataError(f"{out} exists; pass --resume to continue it or remove it")
        predictions = {k: v for k, v in read_predictions(out).items() if k in {i.id for i in items}}
        print(f"resuming: {len(predictions)} predictions already in {out}", file=sys.stderr)
    done_before = len(predictions)
    started = time.perf_counter()
    predict(engine, items, predictions, out)
    seconds = time.perf_counter() - started
    answered_now = len(predictions) - done_before
    return {
        "model": engine.model.name,
        **score(items, predictions),
        "seconds": round(seconds, 3),
        "questions_per_second": answered_now / seconds if answered_now and seconds > 0 else None,
    }
