"""`korqa export`: ONNX fp32 matches PyTorch, int8 loads and answers, and serving ONNX needs no torch."""

import json
import random
import subprocess
import sys

import pytest

from korqa.engine import QAEngine, Question
from korqa.export import export, sample
from korqa.models import load_model, tiny


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    report = export(tiny_model, out, sample_windows=sample(tiny_model))
    return out, report


@pytest.fixture(scope="module")
def exported_int8(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8")
    return out, export(tiny_model, out, int8=True, per_channel=True, keep_fp32=["qa_outputs"])


def examples(n=30, seed=3):
    rng = random.Random(seed)
    return [tiny.make_example(rng, rng.randint(0, 100), rng.randint(0, 30), True) for _ in range(n)]


def test_fp32_onnx_logits_match_pytorch(exported):
    _, report = exported
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-4


def test_the_graph_is_fused_by_the_onnxruntime_optimizer(exported):
    _, report = exported
    assert report.fused.get("Attention") == 2 and report.fused.get("EmbedLayerNormalization") == 1
    assert report.fused.get("SkipLayerNormalization", 0) >= 2


def test_exported_dir_holds_what_serving_needs(exported, tiny_model):
    out, _ = exported
    assert {p.name for p in out.iterdir()} >= {"model.onnx", "tokenizer.json", "korqa.json"}
    settings = json.loads((out / "korqa.json").read_text())
    assert settings["max_seq_length"] == tiny_model.config.max_seq_length
    assert settings["max_positions"] == tiny_model.max_positions


@pytest.mark.parametrize("which", ["exported", "exported_int8"])
def test_onnx_models_answer_like_the_pytorch_model(which, request, engine):
    out, _ = request.getfixturevalue(which)
    onnx_engine = QAEngine(load_model(str(out)))
    assert onnx_engine.model.runtime.name == "onnxruntime"
    exs = examples()
    qs = [Question(ex.question, (ex.context,)) for ex in exs]
    torch_answers = [r.answers[0] for r in engine.answer_many(qs)]
    onnx_answers = [r.answers[0] for r in onnx_engine.answer_many(qs)]
    same = sum((a.start, a.end) == (b.start, b.end) for a, b in zip(torch_answers, onnx_answers, strict=True))
    assert same >= (len(exs) if which == "exported" else len(exs) - 2)
    if which == "exported":
        for a, b in zip(torch_answers, onnx_answers, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)


def test_int8_is_smaller(exported, exported_int8):
    assert exported_int8[1].bytes < exported[1].bytes


def test_serving_an_onnx_model_imports_neither_torch_nor_transformers(exported):
    out, _ = exported
    code = f"""
import sys
from korqa.engine import QAEngine
from korqa.models import load_model
from korqa.server.app import create_app
engine = QAEngine(load_model({str(out)!r}))
create_app(engine)
print(engine.answer("甲 은?", "가 甲 나 丙 다").answers[0].text)
print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["甲 나 丙", "[]"]
