"""`korqa export`: ONNX fp32 matches PyTorch, int8 loads and answers, and serving ONNX needs no torch."""

import json
import random
import subprocess
import sys

import pytest

from korqa.engine import QAEngine, Question
from korqa.export import export, sample
from korqa.models import load_model
from tests.support import tiny


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


def test_skip_layer_norm_is_split_into_standard_ops(exported):
    import onnx

    out, report = exported
    ops = [n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node]
    assert "SkipLayerNormalization" not in ops
    assert report.split_skip_layer_norm == report.fused["SkipLayerNormalization"]
    assert ops.count("LayerNormalization") == report.split_skip_layer_norm


def test_split_skip_layer_norm_computes_what_the_fused_node_did(tmp_path):
    """A hand-made SkipLayerNormalization with bias and its optional sum output, before and after the rewrite."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from korqa.export import split_skip_layer_norm

    rng = np.random.default_rng(0)
    h = 8
    weights = [
        numpy_helper.from_array(rng.normal(size=h).astype(np.float32), name) for name in ("gamma", "beta", "bias")
    ]
    node = helper.make_node(
        "SkipLayerNormalization",
        ["x", "skip", "gamma", "beta", "bias"],
        ["y", "", "", "sum"],
        domain="com.microsoft",
        epsilon=1e-5,
        name="sln",
    )
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3, h]) for n in ("y", "sum")]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3, h]) for n in ("x", "skip")]
    graph = helper.make_graph([node], "g", inputs, outputs, weights)
    path = tmp_path / "m.onnx"
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    onnx.save(model, str(path))
    feeds = {"x": rng.normal(size=(2, 3, h)).astype(np.float32), "skip": rng.normal(size=(2, 3, h)).astype(np.float32)}

    def run():
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)

    before = run()
    assert split_skip_layer_norm(path) == 1
    assert {n.op_type for n in onnx.load(str(path)).graph.node} == {"Add", "Identity", "LayerNormalization"}
    after = run()
    for b, a in zip(before, after, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def windows_of(engine, exs):
    return [w for ex in exs for w in engine.windows_for(Question(ex.question, (ex.context,)))]


def test_smoothing_keeps_the_fp32_function_and_leaves_the_loaded_model_alone(tiny_model, engine, tmp_path):
    import torch

    before = {k: v.clone() for k, v in tiny_model.runtime.model.state_dict().items()}
    calibration = windows_of(engine, examples(n=20, seed=11))
    report = export(tiny_model, tmp_path, sample_windows=sample(tiny_model), smooth_windows=calibration)
    assert report.smoothing == {"alpha": 0.8, "layers": 4, "calibration_windows": len(calibration)}
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-4  # against the model as loaded
    assert report.fused.get("Attention") == 2 and report.fused.get("BiasGelu") == 2  # fusion still applies
    after = tiny_model.runtime.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert json.loads((tmp_path / "korqa.json").read_text())["smoothing"]["layers"] == 4


def test_smoothing_brings_int8_closer_to_fp32_when_one_channel_is_an_outlier(tiny_model, engine, tmp_path):
    """The default model's feed-forward inputs have single channels 10-60x the median; here one LayerNorm channel
    is made 40x larger (a different model, on purpose), so per-tensor int8 activations lose the other channels."""
    import copy
    import dataclasses

    import numpy as np
    import torch

    from korqa.runtime import OnnxRuntime, TorchRuntime, run_windows

    outlier = dataclasses.replace(tiny_model, runtime=TorchRuntime(copy.deepcopy(tiny_model.runtime.model)))
    with torch.no_grad():
        for layer in outlier.runtime.model.bert.encoder.layer:
            layer.attention.output.LayerNorm.weight[3] *= 40
    calibration = windows_of(engine, examples(n=20, seed=11))
    test_windows = windows_of(engine, examples(n=20, seed=12))
    export(outlier, tmp_path / "fp32")
    export(outlier, tmp_path / "plain", int8=True, per_channel=True)
    export(outlier, tmp_path / "smooth", int8=True, per_channel=True, smooth_windows=calibration)

    def logits(name):
        runtime = OnnxRuntime(str(tmp_path / name / "model.onnx"), threads=1)
        starts, ends = run_windows(runtime, test_windows, tiny_model.tokenizer.pad_id, 4096)
        return np.concatenate([*starts, *ends])

    reference = logits("fp32")
    plain_error = np.abs(logits("plain") - reference).mean()
    smooth_error = np.abs(logits("smooth") - reference).mean()
    assert smooth_error < 0.5 * plain_error, (plain_error, smooth_error)


def test_an_onnx_export_rebuilds_into_the_pytorch_model_it_came_from(tiny_model, tiny_model_dir, engine, tmp_path):
    """recipes/onnx_to_hf.py: fp32 export -> the same function; smoothed int8 -> the same up to weight rounding."""
    import numpy as np

    from korqa.runtime import run_windows

    calibration = windows_of(engine, examples(n=20, seed=11))
    export(tiny_model, tmp_path / "fp32")
    export(tiny_model, tmp_path / "int8", int8=True, per_channel=True, smooth_windows=calibration)
    for name in ("fp32", "int8"):
        subprocess.run(
            [sys.executable, "-m", "recipes.onnx_to_hf", "--onnx", str(tmp_path / name), "--base", str(tiny_model_dir)]
            + ["--out", str(tmp_path / f"{name}-hf")],
            check=True,
        )
    test_windows = windows_of(engine, examples(n=20, seed=12))

    def logits(loaded):
        starts, ends = run_windows(loaded.runtime, test_windows, tiny_model.tokenizer.pad_id, 4096)
        return np.concatenate([*starts, *ends])

    reference = logits(tiny_model)
    assert np.abs(logits(load_model(str(tmp_path / "fp32-hf"))) - reference).max() < 1e-4
    rebuilt = load_model(str(tmp_path / "int8-hf"))
    assert rebuilt.boundaries == tiny_model.boundaries
    error = np.abs(logits(rebuilt) - reference)
    assert 0 < error.mean() < 0.02 * np.abs(reference).mean(), (error.mean(), np.abs(reference).mean())


def test_a_dynamic_int8_export_answers_the_same_alone_or_batched(exported, exported_int8):
    """Dynamic int8 takes activation scales from the whole input: korqa runs such a model one window at a time at
    its own length, so a window's logits do not move with its batch-mates (in one batch they did). fp32 batches."""
    import numpy as np

    from korqa.runtime import run_windows

    fp32 = load_model(str(exported[0]))
    assert not fp32.runtime.window_at_a_time and fp32.describe()["compute"] is None
    int8 = QAEngine(load_model(str(exported_int8[0])))
    assert int8.model.runtime.window_at_a_time
    rng = random.Random(4)
    qs = [Question(ex.question, (ex.context,)) for ex in (tiny.make_example(rng, 60, 5, True) for _ in range(24))]
    windows = [w for q in qs for w in int8.windows_for(q)]
    pad = int8.model.tokenizer.pad_id
    alone = run_windows(int8.model.runtime, windows, pad, 1)
    batched = run_windows(int8.model.runtime, windows, pad, 10_000)
    for x, y in zip(alone, batched, strict=True):  # starts, then ends
        assert all(np.array_equal(a, b) for a, b in zip(x, y, strict=True))
    int8.model.runtime.window_at_a_time = False  # the old way: one batch, shared scales
    shared = run_windows(int8.model.runtime, windows, pad, 10_000)
    assert max(float(np.abs(a - b).max()) for a, b in zip(alone[0], shared[0], strict=True)) > 1e-4
