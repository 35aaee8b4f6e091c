"""`korqa ask | info | eval` as a user runs them."""

import json
import random

import pytest

from korqa.cli import main
from tests.support import tiny


def squad_file(path, n=12, seed=0):
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        ex = tiny.make_example(rng, rng.randint(0, 60), rng.randint(0, 20), distractors=True)
        qa = {
            "id": f"q{i}",
            "question": ex.question,
            "answers": [{"text": ex.answer_text, "answer_start": ex.answer_start}],
        }
        paragraphs.append({"context": ex.context, "qas": [qa]})
    path.write_text(
        json.dumps({"version": "1", "data": [{"title": "t", "paragraphs": paragraphs}]}, ensure_ascii=False)
    )
    return path


def last_json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_ask_prints_answer_offsets_and_score(tiny_model_dir, tmp_path, capsys):
    passage = tmp_path / "passage.txt"
    passage.write_text("가나 다라 甲 마바 丙 사아", encoding="utf-8")
    assert main(["ask", "甲 은?", "--context-file", str(passage), "--model", str(tiny_model_dir)]) == 0
    assert capsys.readouterr().out.startswith("1. 甲 마바 丙\t[6:12]\tscore ")


def test_ask_json(tiny_model_dir, capsys):
    assert (
        main(["ask", "甲 은?", "--context", "가 甲 나 丙", "--model", str(tiny_model_dir), "--json", "--top-k", "2"])
        == 0
    )
    out = last_json_line(capsys.readouterr().out)
    assert out["answers"][0]["text"] == "甲 나 丙" and len(out["answers"]) == 2


def test_ask_with_an_empty_question_is_an_error_not_a_traceback(tiny_model_dir, capsys):
    assert main(["ask", " ", "--context", "가", "--model", str(tiny_model_dir)]) == 2
    assert "question is empty" in capsys.readouterr().err


def test_info_says_where_the_model_comes_from(tiny_model_dir, capsys):
    assert main(["info", "--model", str(tiny_model_dir), "--load"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[0])["source"] == "huggingface"
    assert json.loads(lines[1])["max_positions"] == 128


def test_eval_scores_the_model_and_writes_predictions_and_report(tiny_model_dir, tmp_path, capsys):
    data = squad_file(tmp_path / "data.json")
    out, report = tmp_path / "preds.json", tmp_path / "report.json"
    args = ["eval", "--data", str(data), "--model", str(tiny_model_dir), "--out", str(out), "--report", str(report)]
    assert main([*args, "--json"]) == 0
    result = last_json_line(capsys.readouterr().out)
    assert result["exact_match"] == 100.0 and result["f1"] == 100.0 and result["count"] == 12
    assert len(json.loads(out.read_text())) == 12
    saved = json.loads(report.read_text())
    assert len(saved["data_sha256"]) == 64 and saved["questions_per_second"] > 0


def test_eval_resumes_from_a_partial_predictions_file(tiny_model_dir, tmp_path, capsys):
    data = squad_file(tmp_path / "data.json")
    out = tmp_path / "preds.json"
    out.write_text(json.dumps({"q0": "wrong on purpose"}))
    args = ["eval", "--data", str(data), "--model", str(tiny_model_dir), "--out", str(out)]
    assert main(args) == 2  # refuses to overwrite without --resume
    assert main([*args, "--resume", "--json"]) == 0
    result = last_json_line(capsys.readouterr().out)
    assert json.loads(out.read_text())["q0"] == "wrong on purpose"
    assert result["exact_match"] == pytest.approx(100 * 11 / 12)
