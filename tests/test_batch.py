"""`korqa batch` in one process: every input format gives the same answers as the engine, a withheld answer is
said as /api says it, an interrupted run resumes without answering twice, and a bad file is one line, exit 2.
(The Ray Data path is tested on a real cluster in tests/e2e/test_ray.py.)"""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from korqa.batch import read_rows
from korqa.cli import main
from korqa.engine import QAEngine
from korqa.models import load_model
from tests.test_cli import squad_file
from tests.test_cli_errors import fails


def rows_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jsonl_squad_and_parquet_give_the_engines_answers(tiny_model_dir, tmp_path, capsys):
    squad = squad_file(tmp_path / "d.json", n=6, seed=4)
    rows = read_rows(squad)
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    parquet = tmp_path / "q.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    engine = QAEngine(load_model(str(tiny_model_dir)))
    expected = {r["id"]: engine.answer(r["question"], r["context"]).answers[0].text for r in rows}
    for data in (squad, jsonl, parquet):
        out = tmp_path / f"{data.suffix[1:]}.out.jsonl"
        assert main(["batch", "--data", str(data), "--out", str(out), "--model", str(tiny_model_dir)]) == 0
        answers = rows_of(out)
        assert {a["id"]: a["answer"] for a in answers} == expected
        for a in answers:
            assert set(a) == {"id", "answer", "start", "end", "score", "no_answer", "no_answer_score"}
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["answered"] == 6


def test_ids_default_to_line_numbers_and_a_withheld_answer_is_empty(tiny_model_dir, tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text('{"question": "甲 은?", "context": "가 甲 나 丙"}\n\n{"question": "丙?", "context": "丙 라"}\n')
    out = tmp_path / "a.jsonl"
    argv = ["batch", "--data", str(data), "--out", str(out), "--model", str(tiny_model_dir)]
    assert main([*argv, "--no-answer-threshold", "0"]) == 0
    answers = rows_of(out)
    assert [a["id"] for a in answers] == ["1", "3"]
    assert all(a["answer"] == "" and a["start"] is None and a["no_answer"] is True for a in answers)


def test_an_interrupted_run_resumes_without_answering_twice(tiny_model_dir, tmp_path, capsys):
    squad = squad_file(tmp_path / "d.json", n=8, seed=5)
    out = tmp_path / "a.jsonl"
    argv = ["batch", "--data", str(squad), "--out", str(out), "--model", str(tiny_model_dir)]
    assert main(argv) == 0
    full = rows_of(out)
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:3]) + lines[3][:10], encoding="utf-8")  # killed while writing line 4
    capsys.readouterr()
    fails(argv, capsys, "exists", "--resume")
    assert main([*argv, "--resume"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) | {"seconds": 0, "questions_per_s": 0} == {
        "skipped": 3,
        "answered": 5,
        "seconds": 0,
        "questions_per_s": 0,
    }
    resumed = {a["id"]: a for a in rows_of(out)}
    assert len(resumed) == len(full) == 8
    for a in full:  # the same answers; scores to float rounding (other batch-mates in the resumed run)
        b = resumed[a["id"]]
        assert (a["answer"], a["start"], a["end"], a["no_answer"]) == (
            b["answer"],
            b["start"],
            b["end"],
            b["no_answer"],
        )
        assert abs(a["score"] - b["score"]) < 1e-5 and abs(a["no_answer_score"] - b["no_answer_score"]) < 1e-5


def test_bad_input_is_one_line(tiny_model_dir, tmp_path, capsys):
    model = ["--model", str(tiny_model_dir)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "context": "c"}\n{"question": "", "context": "c"}\n')
    fails(["batch", "--data", str(bad), "--out", str(tmp_path / "o"), *model], capsys, "row 2", "'question'")
    bad.write_text('{"question": "q", "context": "c"}\nnot json\n')
    fails(["batch", "--data", str(bad), "--out", str(tmp_path / "o"), *model], capsys, ":2", "not a JSON object")
    bad.write_text('{"id": 1, "question": "q", "context": "c"}\n{"id": 1, "question": "r", "context": "c"}\n')
    fails(["batch", "--data", str(bad), "--out", str(tmp_path / "o"), *model], capsys, "not unique")
    fails(["batch", "--data", str(tmp_path / "none.jsonl"), "--out", "o", *model], capsys, "no such file")
    good = tmp_path / "good.jsonl"
    good.write_text('{"question": "q", "context": "c"}\n')
    fails(["batch", "--data", str(good), "--out", str(tmp_path / "o"), "--actors", "3", *model], capsys, "--ray")
    fails(["batch", "--data", str(good), "--out", "o", "--ray", "--actors", "0", *model], capsys, "--actors")


def test_ray_config_refuses_what_the_builder_would(capsys):
    fails(["ray-config", "--set", "max_batch_tokens=many"], capsys)
    fails(["ray-config", "--set", "port=80"], capsys, "http_options")
    fails(["ray-config", "--set", "nonsense"], capsys, "KEY=VALUE")
    fails(["ray-config", "--replicas", "0"], capsys, "replicas")
    fails(["ray-config", "--autoscale", "3", "1"], capsys, "autoscale")
    assert main(["ray-config", "--autoscale", "1", "4", "--set", "api_keys=k1"]) == 0
    spec = json.loads(capsys.readouterr().out)
    deployment = spec["applications"][0]["deployments"][0]
    assert deployment["autoscaling_config"]["max_replicas"] == 4 and "num_replicas" not in deployment
    assert spec["applications"][0]["args"] == {"threads": 1, "api_keys": "k1"}
