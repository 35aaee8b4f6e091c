"""SQuAD-format files: KorQuAD 1.0 / SQuAD 1.1, and SQuAD 2.0 (`is_impossible` questions with no answers).

Everything is checked before any work starts, so a bad file fails in a second with the place named, not after an
hour of predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from korqa.errors import DataError


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    context: str
    answers: tuple[str, ...]  # empty only for an unanswerable (SQuAD 2.0) question
    answer_starts: tuple[int, ...]
    is_impossible: bool = False


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a JSON file")
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start}); SQuAD files are UTF-8 JSON") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc


def read_squad(path: str | Path) -> list[QAItem]:
    """Questions of a SQuAD-format JSON file, in file order."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f'{path} is not SQuAD/KorQuAD-shaped: expected {{"data": [{{"paragraphs": [...]}}]}}')
    items, seen = [], set()
    for a, article in enumerate(data["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(f"{path}: data[{a}] has no 'paragraphs' list")
        for p, paragraph in enumerate(paragraphs):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("context"), str):
                raise DataError(f"{where} has no 'context' string")
            if not isinstance(paragraph.get("qas"), list):
                raise DataError(f"{where} has no 'qas' list")
            for q, qa in enumerate(paragraph["qas"]):
                item = _item(qa, paragraph["context"], f"{where}.qas[{q}]")
                if item.id in seen:
                    raise DataError(f"{where}.qas[{q}]: question id {item.id} appears twice")
                seen.add(item.id)
                items.append(item)
    if not items:
        raise DataError(f"{path} holds no questions")
    return items


def _item(qa: Any, context: str, where: str) -> QAItem:
    if not isinstance(qa, dict) or "id" not in qa or not isinstance(qa.get("question"), str):
        raise DataError(f"{where} needs an 'id' and a 'question' string")
    answers = qa.get("answers", [])
    impossible = qa.get("is_impossible", False)
    if not isinstance(answers, list) or not all(
        isinstance(x, dict) and isinstance(x.get("text"), str) and isinstance(x.get("answer_start"), int)
        for x in answers
    ):
        raise DataError(f'{where}: \'answers\' must be a list of {{"text", "answer_start"}}')
    if impossible is not True and not answers:
        raise DataError(f"{where} (id {qa['id']}) has no answers and is not marked is_impossible")
    if impossible is True:
        answers = []  # SQuAD 2.0 keeps plausible answers apart; an impossible question has none
    return QAItem(
        id=str(qa["id"]),
        question=qa["question"],
        context=context,
        answers=tuple(x["text"] for x in answers),
        answer_starts=tuple(x["answer_start"] for x in answers),
        is_impossible=impossible is True,
    )


def read_text(path: str | Path, encoding: str | None = None) -> tuple[str, str]:
    """A passage file's text and the encoding it was read with. Without `encoding`: UTF-8, else CP949 (EUC-KR's
    superset, what Korean Windows saves) when the bytes are valid CP949; the caller says which was used."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a text file")
    raw = path.read_bytes()
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except LookupError as exc:
            raise DataError(f"unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"{path} is not valid {encoding} (byte {exc.start})") from exc
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        try:
            return raw.decode("cp949"), "cp949"
        except UnicodeDecodeError:
            raise DataError(f"{path} is neither UTF-8 nor CP949 (byte {exc.start}); pass --encoding") from exc
