"""`korqa batch`: answers for a file of questions and passages, written as JSON lines, resumable.

Input: JSON lines (`{"id": ..., "question": ..., "context": ...}`; id optional: the line number), SQuAD/KorQuAD
JSON, or Parquet with the same columns. Output: one line per question, in the order answered:
`{"id", "answer", "start", "end", "score", "no_answer", "no_answer_score"}` (a withheld answer is "" with
start/end null, as /api says it). Rows already in the output are skipped on --resume. The same `answer_rows`
serves this process and each Ray Data actor (korqa.ray), so both give the same answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from korqa.errors import DataError

COLUMNS = ("id", "answer", "start", "end", "score", "no_answer", "no_answer_score")


def read_rows(path: str | Path) -> list[dict]:
    """[{id, question, context}] from JSON lines, SQuAD JSON or Parquet; every row checked before any answer."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise DataError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from exc
        raw = pq.read_table(path).to_pylist()
    elif path.suffix == ".jsonl":
        raw = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                    raw.append({"id": str(n)} | row)  # the line number unless the row has its own id
                except (json.JSONDecodeError, TypeError) as exc:
                    raise DataError(f"{path}:{n}: not a JSON object ({exc})") from exc
    else:
        from korqa.data import read_squad

        return [{"id": i.id, "question": i.question, "context": i.context} for i in read_squad(path)]
    rows = []
    for n, row in enumerate(raw, 1):
        where = f"{path} row {n}"
        if not isinstance(row, dict):
            raise DataError(f"{where}: not an object")
        for key in ("question", "context"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DataError(f"{where}: {key!r} must be a non-empty string")
        rows.append({"id": str(row.get("id", n)), "question": row["question"], "context": row["context"]})
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: ids are not unique")
    return rows


def answer_rows(engine, rows: list[dict]) -> list[dict]:
    """One output row per input row, answered together (the engine batches their windows)."""
    results = engine.answer_many([(r["question"], r["context"]) for r in rows])
    out = []
    for row, result in zip(rows, results, strict=True):
        best = result.answers[0] if result.answers else None
        out.append(
            {
                "id": row["id"],
                "answer": best.text if best else "",
                "start": best.start if best else None,
                "end": best.end if best else None,
                "score": best.score if best else None,
                "no_answer": result.no_answer,
                "no_answer_score": result.no_answer_score,
            }
        )
    return out


def done_ids(out: Path, resume: bool) -> set[str]:
    if not out.exists():
        return set()
    if not resume:
        raise DataError(f"{out} exists; pass --resume to continue it or remove it")
    text = out.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):  # a line cut by the interruption: dropped, and answered again
        text = text[: text.rfind("\n") + 1]
        out.write_text(text, encoding="utf-8")
    ids = set()
    for line in text.splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{out}: a line that is not an answer ({exc}); is it korqa batch output?") from exc
    return ids


def answer_in_process(engine, rows: list[dict], chunk: int = 16) -> Iterator[dict]:
    for i in range(0, len(rows), chunk):
        yield from answer_rows(engine, rows[i : i + chunk])


def write_answers(answers: Iterator[dict], out: Path, total: int) -> dict:
    """Append answer rows to `out` as they come, with a progress bar (rate, ETA); returns what was written."""
    import sys
    import time

    from tqdm import tqdm

    out.parent.mkdir(parents=True, exist_ok=True)
    nodes: set[str] = set()
    written, started = 0, time.perf_counter()
    with open(out, "a", encoding="utf-8") as f, tqdm(total=total, unit="q", desc="batch", file=sys.stderr) as bar:
        for row in answers:
            if "node" in row:
                nodes.add(row.pop("node"))
            f.write(json.dumps({k: row[k] for k in COLUMNS}, ensure_ascii=False) + "\n")
            f.flush()
            written += 1
            bar.update(1)
    seconds = time.perf_counter() - started
    summary = {"answered": written, "seconds": round(seconds, 2), "questions_per_s": round(written / seconds, 2)}
    return summary | ({"nodes": len(nodes)} if nodes else {})
