"""Unanswerable questions as data: pairing, SQuAD 2.0 scores (HasAns / NoAns), and the calibrated threshold."""

import json

from korqa.cli import main
from korqa.data import QAItem, read_squad
from korqa.models import ModelSettings
from korqa.unanswerable import TEMPERATURES, best_threshold, pair_unanswerable

SQUAD = {
    "version": "1.1",
    "data": [
        {
            "title": "a",
            "paragraphs": [
                {
                    "context": "세종은 1446년에 훈민정음을 반포하였다.",
                    "qas": [
                        {"id": "q1", "question": "반포한 해는?", "answers": [{"text": "1446년", "answer_start": 4}]}
                    ],
                },
                {
                    "context": "한글날은 10월 9일이다.",
                    "qas": [
                        {"id": "q2", "question": "한글날은?", "answers": [{"text": "10월 9일", "answer_start": 5}]}
                    ],
                },
            ],
        },
        {
            "title": "b",
            "paragraphs": [
                {
                    "context": "이순신은 조선의 장군이다.",
                    "qas": [
                        {"id": "q3", "question": "이순신은?", "answers": [{"text": "조선의 장군", "answer_start": 5}]}
                    ],
                },
            ],
        },
    ],
}


def test_pairs_ask_each_question_of_a_paragraph_without_its_answer_reproducibly():
    out = pair_unanswerable(SQUAD, seed=1)
    assert out == pair_unanswerable(SQUAD, seed=1) and out["version"] == "v2.0"
    by_id = {qa["id"]: (p["context"], qa) for a in out["data"] for p in a["paragraphs"] for qa in p["qas"]}
    assert {"q1", "q2", "q3", "q1_hard", "q2_hard", "q1_easy", "q2_easy", "q3_easy"} == set(by_id)
    context, hard = by_id["q1_hard"]
    assert hard["is_impossible"] and hard["answers"] == [] and "1446년" not in context
    assert by_id["q1_hard"][0] in [p["context"] for p in SQUAD["data"][0]["paragraphs"]]  # same article
    assert by_id["q3_easy"][0] in [p["context"] for p in SQUAD["data"][0]["paragraphs"]]  # another article


def test_eval_reports_has_ans_and_no_ans_like_squad2(tmp_path, capsys):
    data = tmp_path / "sq2.json"
    data.write_text(json.dumps(pair_unanswerable(SQUAD, seed=1), ensure_ascii=False), encoding="utf-8")
    items = read_squad(data)
    predictions = {i.id: ("" if i.is_impossible else i.answers[0]) for i in items}
    predictions["q1_hard"] = "1446년"  # one unanswerable answered anyway
    (tmp_path / "p.json").write_text(json.dumps(predictions, ensure_ascii=False), encoding="utf-8")
    assert main(["eval", "--data", str(data), "--predictions", str(tmp_path / "p.json"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["HasAns_exact"] == 100.0 and report["HasAns_total"] == 3
    assert report["NoAns_total"] == 5 and report["NoAns_exact"] == 80.0
    assert report["exact_match"] == 100 * 7 / 8


def test_the_best_threshold_maximises_f1_over_both_kinds():
    items = [
        QAItem("a", "q", "c", ("x",), (0,)),
        QAItem("b", "q", "c", (), (), True),
        QAItem("c", "q", "c", (), (), True),
    ]
    guesses = {"a": "x", "b": "y", "c": "z"}
    no_answer = {"a": 0.1, "b": 0.4, "c": 0.3}
    best = best_threshold(items, guesses, no_answer)
    assert best["threshold"] == 0.3 and best["f1"] == 100.0 and round(best["f1_without_threshold"], 2) == 33.33


def test_calibrate_writes_the_threshold_the_model_then_serves_with(tiny_model_dir, tmp_path, capsys):
    import shutil

    from tests.test_cli import squad_file

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    data = tmp_path / "sq2.json"
    base = json.loads(squad_file(tmp_path / "d.json", n=12).read_text(encoding="utf-8"))
    base["data"] = [{"title": f"t{i}", "paragraphs": [p]} for i, p in enumerate(base["data"][0]["paragraphs"])]
    data.write_text(json.dumps(pair_unanswerable(base, seed=0, kinds=["easy"]), ensure_ascii=False), encoding="utf-8")
    assert main(["calibrate", "--model", str(model), "--data", str(data), "--write"]) == 0
    saved = ModelSettings.read(model).qa
    result = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert saved["no_answer_threshold"] == result["threshold"] and result["f1"] >= result["f1_without_threshold"]
    assert saved["temperature"] == result["temperature"] == min(result["table"], key=lambda r: r["nll"])["temperature"]
    assert len(result["table"]) == len(TEMPERATURES) and 0 <= result["ece"] <= 1
    from korqa.models import load_model

    assert load_model(str(model)).config.temperature == result["temperature"]  # served with it from now on


def test_expected_calibration_error_by_hand():
    from korqa.unanswerable import expected_calibration_error

    # bin 0.9: two answers at 0.95, one right -> |0.5 - 0.95| = 0.45; bin 0.1: 0.15, wrong -> 0.15. Weighted 2:1.
    assert abs(expected_calibration_error([0.95, 0.95, 0.15], [True, False, False]) - (2 * 0.45 + 0.15) / 3) < 1e-9
    assert expected_calibration_error([0.8] * 10, [True] * 8 + [False] * 2) < 1e-9
