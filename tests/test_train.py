"""`korqa train` end to end on the tiny model: it trains, validates each epoch, saves a servable model, and
--resume continues from the last checkpoint instead of starting over."""

import json

from korqa.cli import main
from korqa.config import QAConfig
from korqa.engine import QAEngine
from korqa.evaluate import read_squad
from korqa.models import load_model
from korqa.train import features
from tests.test_cli import squad_file


def test_features_label_every_window_and_cls_when_the_answer_is_elsewhere(tiny_tokenizer, tmp_path):
    items = read_squad(squad_file(tmp_path / "d.json", n=6, seed=1))
    rows = features(tiny_tokenizer, items, QAConfig(max_seq_length=32, doc_stride=8))
    assert len(rows) > len(items)
    assert any(r["start_positions"] == 0 for r in rows) and any(r["start_positions"] > 0 for r in rows)
    for r in rows:
        assert 0 <= r["start_positions"] <= r["end_positions"] < len(r["input_ids"])


def test_train_then_resume(tiny_model_dir, tmp_path):
    data = squad_file(tmp_path / "train.json", n=24, seed=2)
    out = tmp_path / "run"
    common = [
        "train",
        "--base",
        str(tiny_model_dir),
        "--train",
        str(data),
        "--val",
        str(data),
        "--out",
        str(out),
        "--max-seq-length",
        "64",
        "--max-query-length",
        "16",
        "--doc-stride",
        "32",
        "--batch-size",
        "8",
        "--save-steps",
        "3",
        "--lr",
        "1e-4",
        "--threads",
        "1",
    ]
    assert main([*common, "--epochs", "1"]) == 0
    first = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in first] == [1.0]
    steps_per_epoch = first[0]["step"]

    assert main([*common, "--epochs", "2", "--resume"]) == 0
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # Resumed: epoch 2 was appended; a restart from scratch would have logged epoch 1 again.
    assert [m["epoch"] for m in metrics] == [1.0, 2.0]
    assert metrics[1]["step"] == 2 * steps_per_epoch
    assert metrics[1]["exact_match"] >= 90.0  # the tiny model already solves its task

    model = load_model(str(out / "model"))
    settings = json.loads((out / "model" / "korqa.json").read_text())
    assert settings["max_seq_length"] == 64 and "boundaries" in settings
    engine = QAEngine(model)
    assert engine.answer("甲 은?", "가 甲 나 丙 다").answers[0].text == "甲 나 丙"
