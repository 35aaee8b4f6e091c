"""`korqa train` end to end on the tiny model: it trains, validates each epoch, saves a servable model, and
--resume continues from the last checkpoint instead of starting over."""

import json

from korqa.cli import main
from korqa.config import QAConfig
from korqa.data import read_squad
from korqa.engine import QAEngine
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


def relabelled_squad(path, n, seed):
    """The tiny task's passages, but every gold answer is the passage's first word instead of `甲 .. 丙`."""
    data = json.loads(squad_file(path, n=n, seed=seed).read_text())
    for paragraph in data["data"][0]["paragraphs"]:
        first_word = paragraph["context"].split(" ")[0]
        paragraph["qas"][0]["answers"] = [{"text": first_word, "answer_start": 0}]
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


def test_distill_loss_is_zero_for_the_teacher_itself_and_ignores_padding():
    import torch

    from korqa.train import distill_loss

    torch.manual_seed(0)
    teacher = torch.randn(3, 7)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[:, 5:] = False
    assert distill_loss(teacher.clone(), teacher, mask, 2.0).item() == 0.0
    student = torch.randn(3, 7)
    loss = distill_loss(student, teacher, mask, 2.0)
    # By hand: T^2 * mean over windows of KL(p_teacher || p_student) over the 5 real positions.
    p = torch.softmax(teacher[:, :5] / 2, -1)
    q = torch.softmax(student[:, :5] / 2, -1)
    expected = 4 * (p * (p.log() - q.log())).sum(-1).mean()
    assert abs(loss.item() - expected.item()) < 1e-5
    # Padded positions do not count, whatever their logits.
    student[:, 5:] = 100.0
    assert abs(distill_loss(student, teacher, mask, 2.0).item() - loss.item()) < 1e-5


def test_teacher_logits_are_the_mean_of_the_teachers(tiny_model_dir, tiny_tokenizer, tmp_path):
    import numpy as np
    import torch
    from transformers import AutoModelForQuestionAnswering

    from korqa.train import add_teacher_logits

    items = read_squad(squad_file(tmp_path / "d.json", n=4, seed=3))
    rows = features(tiny_tokenizer, items, QAConfig(max_seq_length=64, max_query_length=16, doc_stride=32))
    add_teacher_logits([tiny_model_dir, tiny_model_dir], tiny_tokenizer, rows, "cpu", batch_size=3)
    model = AutoModelForQuestionAnswering.from_pretrained(str(tiny_model_dir)).eval()
    for r in rows:
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([r["input_ids"]]), token_type_ids=torch.tensor([r["token_type_ids"]]))
        np.testing.assert_allclose(r["teacher_start"], out.start_logits[0].numpy(), atol=1e-4)
        np.testing.assert_allclose(r["teacher_end"], out.end_logits[0].numpy(), atol=1e-4)


def test_teachers_do_not_teach_a_span_for_an_unanswerable_question(tiny_model_dir, tiny_tokenizer, tmp_path):
    import numpy as np

    from korqa.data import read_json
    from korqa.train import NO_ANSWER_LOGIT, add_teacher_logits
    from korqa.unanswerable import pair_unanswerable

    squad = pair_unanswerable(read_json(squad_file(tmp_path / "d.json", n=4, seed=3)), kinds=("hard",))
    (tmp_path / "d2.json").write_text(json.dumps(squad))
    items = read_squad(tmp_path / "d2.json")
    rows = features(tiny_tokenizer, items, QAConfig(max_seq_length=64, max_query_length=16, doc_stride=32))
    add_teacher_logits([tiny_model_dir], tiny_tokenizer, rows, "cpu")
    impossible = [r for r in rows if r["unanswerable"]]
    answerable = [r for r in rows if not r["unanswerable"]]
    assert impossible and answerable
    for r in impossible:
        assert r["start_positions"] == r["end_positions"] == 0
        for key in ("teacher_start", "teacher_end"):
            assert r[key][0] == NO_ANSWER_LOGIT and not r[key][1:].any()
    assert all(np.ptp(r["teacher_start"][1:]) > 0 for r in answerable)  # the teacher's own logits


def test_a_teacher_named_twice_weighs_double(tiny_model_dir, tiny_tokenizer, tmp_path):
    """[A, A, B] -> (2A + B) / 3, with B a second teacher whose QA head is negated (so B = -A up to the bias)."""
    import shutil

    import numpy as np
    import torch
    from transformers import AutoModelForQuestionAnswering

    from korqa.train import add_teacher_logits

    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    model_b = AutoModelForQuestionAnswering.from_pretrained(str(other))
    with torch.no_grad():
        model_b.qa_outputs.weight.mul_(-1)
    model_b.save_pretrained(other)
    items = read_squad(squad_file(tmp_path / "d.json", n=3, seed=5))
    rows = features(tiny_tokenizer, items, QAConfig(max_seq_length=64, max_query_length=16, doc_stride=32))
    add_teacher_logits([tiny_model_dir, other, tiny_model_dir], tiny_tokenizer, rows, "cpu", batch_size=4)
    model_a = AutoModelForQuestionAnswering.from_pretrained(str(tiny_model_dir)).eval()
    for r in rows:
        ids, types = torch.tensor([r["input_ids"]]), torch.tensor([r["token_type_ids"]])
        with torch.inference_mode():
            a, b = model_a(input_ids=ids, token_type_ids=types), model_b.eval()(input_ids=ids, token_type_ids=types)
        expected = (2 * a.start_logits[0] + b.start_logits[0]).numpy() / 3
        assert not np.allclose(expected, a.start_logits[0].numpy(), atol=1e-3)  # B really differs from A
        np.testing.assert_allclose(r["teacher_start"], expected, atol=1e-4)
        np.testing.assert_allclose(r["teacher_end"], (2 * a.end_logits[0] + b.end_logits[0]).numpy() / 3, atol=1e-4)


def test_distillation_follows_the_teachers_not_only_the_labels(tiny_model_dir, tmp_path):
    """Gold labels that point at the passage's first word, a teacher (the tiny model) that answers `甲 .. 丙`:
    trained on the labels alone the model loses its confidence in `甲 .. 丙`; distilled (alpha 0) it keeps the
    teacher's answer and confidence. A trainer that ignored --teachers would fail the second half."""
    data = relabelled_squad(tmp_path / "relabelled.json", n=32, seed=4)
    common = ["--base", str(tiny_model_dir), "--train", str(data), "--max-seq-length", "64"]
    common += ["--max-query-length", "16", "--doc-stride", "32", "--batch-size", "8", "--epochs", "4"]
    common += ["--lr", "3e-3", "--warmup-ratio", "0", "--threads", "1", "--save-steps", "1000"]
    passage = "가나 다라 甲 마바 丙 사아"

    assert main(["train", *common, "--out", str(tmp_path / "labels")]) == 0
    labels_only = QAEngine(load_model(str(tmp_path / "labels" / "model"))).answer("甲 은?", passage)
    # 0.08-0.11 here depending on test order (thread scheduling); the teacher itself is above 0.9.
    assert labels_only.answers[0].score < 0.2

    teachers = ["--teachers", str(tiny_model_dir), "--distill-alpha", "0"]
    assert main(["train", *common, *teachers, "--out", str(tmp_path / "distilled")]) == 0
    distilled = QAEngine(load_model(str(tmp_path / "distilled" / "model"))).answer("甲 은?", passage)
    assert distilled.answers[0].text == "甲 마바 丙" and distilled.answers[0].score > 0.5
    assert distilled.answers[0].score - labels_only.answers[0].score > 0.4
    saved = json.loads((tmp_path / "distilled" / "train_config.json").read_text())
    assert saved["teachers"] == [str(tiny_model_dir)] and saved["distill_alpha"] == 0.0


def test_average_is_the_elementwise_mean(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    other = tmp_path / "other"
    other.mkdir()
    weights = load_file(str(tiny_model_dir / "model.safetensors"))
    save_file({k: v * 3 for k, v in weights.items()}, str(other / "model.safetensors"))
    assert main(["average", str(tiny_model_dir), str(other), "--out", str(tmp_path / "soup")]) == 0
    mean = load_file(str(tmp_path / "soup" / "model.safetensors"))
    for k, v in weights.items():
        assert (mean[k] - 2 * v).abs().max().item() < 1e-6
    assert (tmp_path / "soup" / "korqa.json").exists()  # settings and tokenizer come from the first model
    load_model(str(tmp_path / "soup"))


def test_average_refuses_models_of_different_shapes(tiny_model_dir, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    other = tmp_path / "other"
    other.mkdir()
    weights = load_file(str(tiny_model_dir / "model.safetensors"))
    save_file({k: v[..., :1].contiguous() for k, v in weights.items()}, str(other / "model.safetensors"))
    assert main(["average", str(tiny_model_dir), str(other), "--out", str(tmp_path / "soup")]) == 2
    assert "not the same architecture" in capsys.readouterr().err


def test_device_cuda_without_a_gpu_is_a_clear_error(tiny_model_dir, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on CI's machines, also on one with a GPU
    data = squad_file(tmp_path / "train.json", n=4, seed=5)
    args = ["train", "--base", str(tiny_model_dir), "--train", str(data), "--out", str(tmp_path / "run")]
    assert main([*args, "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model").exists()


def test_distillation_settings_out_of_range_are_clear_errors(tiny_model_dir, tmp_path, capsys):
    data = squad_file(tmp_path / "train.json", n=4, seed=6)
    args = ["train", "--base", str(tiny_model_dir), "--train", str(data), "--out", str(tmp_path / "run")]
    args += ["--teachers", str(tiny_model_dir)]
    assert main([*args, "--distill-alpha", "1.5"]) == 2
    assert main([*args, "--distill-temperature", "0"]) == 2
    assert capsys.readouterr().err.count("--distill-alpha must be in [0, 1]") == 2
