"""`korqa export --format openvino` on the tiny model: static int8 through NNCF, served by OpenVINO without torch,
answering like the PyTorch model -- and answering the same question the same way whatever shares its batch."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest

from korqa.engine import QAEngine, Question
from korqa.export import calibration_windows, export_openvino, sample
from korqa.models import load_model
from korqa.runtime import OpenVinoRuntime
from tests.support import tiny
from tests.test_cli import squad_file
from tests.test_cli_errors import fails


@pytest.fixture(scope="module")
def ov_model(tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ov")
    data = squad_file(tmp / "train.json", n=40, seed=11)
    report = export_openvino(
        tiny_model, tmp / "model", calibration_windows(tiny_model, str(data), 40), sample(tiny_model)
    )
    return tmp / "model", report


def examples(n=40, seed=3):
    rng = random.Random(seed)
    return [tiny.make_example(rng, rng.randint(0, 100), rng.randint(0, 30), True) for _ in range(n)]


def test_the_export_is_an_openvino_model_that_answers_like_pytorch(ov_model, engine):
    out, report = ov_model
    assert report["max_abs_diff_vs_fp32"] > 0  # measured against the fp32 model; int8 is not equal to it
    assert {p.name for p in out.iterdir()} >= {"model.xml", "model.bin", "tokenizer.json", "korqa.json"}
    assert json.loads((out / "korqa.json").read_text())["quantization"]["openvino_static_int8"] is True
    ov_engine = QAEngine(load_model(str(out)))
    assert ov_engine.model.runtime.name == "openvino" and ov_engine.model.source == "openvino"
    qs = [Question(ex.question, (ex.context,)) for ex in examples()]
    torch_answers = [r.answers[0] for r in engine.answer_many(qs)]
    ov_answers = [r.answers[0] for r in ov_engine.answer_many(qs)]
    same = sum((a.start, a.end) == (b.start, b.end) for a, b in zip(torch_answers, ov_answers, strict=True))
    assert same >= len(qs) - 2


def test_answers_do_not_depend_on_batch_mates(ov_model):
    """Each question alone, then inside batches of other questions of other lengths: the same text, offsets and
    scores (to 1e-6). ONNX Runtime's dynamic int8 fails this (scales come from the whole batch)."""
    out, _ = ov_model
    ov_engine = QAEngine(load_model(str(out)))
    qs = [Question(ex.question, (ex.context,)) for ex in examples(48, seed=9)]
    alone = [ov_engine.answer_many([q])[0] for q in qs]
    rng = random.Random(0)
    for _ in range(3):
        order = list(range(len(qs)))
        rng.shuffle(order)
        for start in range(0, len(order), 12):
            group = order[start : start + 12]
            for i, result in zip(group, ov_engine.answer_many([qs[i] for i in group]), strict=True):
                a, b = alone[i], result
                assert [(x.text, x.start, x.end) for x in a.answers] == [(x.text, x.start, x.end) for x in b.answers]
                assert abs(a.answers[0].score - b.answers[0].score) <= 1e-6
                assert abs(a.no_answer_score - b.no_answer_score) <= 1e-6


def test_a_window_is_padded_to_its_own_bucket_whatever_the_batch_width(ov_model):
    from korqa.batching import Batch

    out, _ = ov_model
    runtime = OpenVinoRuntime(str(out / "model.xml"), threads=1)
    ids = np.asarray([[0, 5, 6, 7, 2]], dtype=np.int64)
    narrow = Batch(ids, np.ones_like(ids), np.zeros_like(ids), [0])
    wide_ids = np.concatenate([ids, np.full((1, 70), 1)], axis=1)
    mask = np.concatenate([np.ones_like(ids), np.zeros((1, 70), np.int64)], axis=1)
    wide = Batch(wide_ids, mask, np.zeros_like(wide_ids), [0])
    a, b = runtime.forward(narrow), runtime.forward(wide)
    np.testing.assert_array_equal(a[0][0, :5], b[0][0, :5])
    np.testing.assert_array_equal(a[1][0, :5], b[1][0, :5])


def test_serving_an_openvino_model_imports_neither_torch_nor_transformers(ov_model):
    out, _ = ov_model
    code = f"""
import sys
from korqa.engine import QAEngine
from korqa.models import load_model
engine = QAEngine(load_model({str(out)!r}))
print(engine.model.runtime.name)
print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["openvino", "[]"]


def test_export_format_openvino_mistakes_are_one_line(tiny_model_dir, tmp_path, capsys):
    argv = ["export", "--model", str(tiny_model_dir), "--out", str(tmp_path / "o"), "--format", "openvino"]
    fails(argv, capsys, "--smooth-data")
    fails([*argv, "--int8"], capsys, "ONNX options")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.xml").write_text("<net>")
    fails(["ask", "q", "--context", "c", "--model", str(tmp_path / "broken")], capsys, "OpenVINO could not load")


@pytest.mark.e2e
def test_through_the_real_server_an_answer_is_the_same_alone_or_among_concurrent_requests(ov_model):
    from tests.support.server import Server, assert_same_alone_and_together

    out, _ = ov_model
    server = Server(["--model", str(out), "--max-wait-ms", "20"])  # a wait that gathers concurrent requests
    try:
        assert_same_alone_and_together(
            server.url, [{"question": ex.question, "context": ex.context} for ex in examples(32, seed=21)]
        )
    finally:
        server.stop()


def test_the_openvino_export_rebuilds_into_pytorch_that_answers_alike(ov_model, tiny_model_dir, tmp_path):
    """recipes/ov_to_hf.py: int8 weights x scales, SmoothQuant folded back -- the peers' fp32 copy of an IR."""
    from recipes.ov_to_hf import rebuild

    out, _ = ov_model
    rebuild(out, tmp_path / "hf", base=tiny_model_dir)
    rebuilt, ov_engine = QAEngine(load_model(str(tmp_path / "hf"))), QAEngine(load_model(str(out)))
    assert rebuilt.model.runtime.name == "torch"
    qs = [Question(ex.question, (ex.context,)) for ex in examples()]
    a = [r.answers[0] for r in rebuilt.answer_many(qs)]
    b = [r.answers[0] for r in ov_engine.answer_many(qs)]
    assert sum((x.start, x.end) == (y.start, y.end) for x, y in zip(a, b, strict=True)) >= len(qs) - 2


def test_int8_compute_follows_the_cpu_unless_the_environment_says(ov_model, monkeypatch):
    """auto: int8 with AVX-512 VNNI / AVX-VNNI / AMX, f32 without (OpenVINO's int8 measured slower there); the
    f32 path gives the same answers, and alone or batched the same logits; a bad value is refused."""
    from korqa.config import openvino_int8
    from korqa.errors import ConfigError
    from korqa.runtime import int8_dot_product

    assert int8_dot_product("flags : fpu avx2 avx512f avx512_vnni") and int8_dot_product("flags: avx_vnni amx_int8")
    assert not int8_dot_product("flags : fpu sse4_2 avx avx2 fma")
    out, _ = ov_model
    xml = str(out / "model.xml")
    monkeypatch.setenv("KORQA_OPENVINO_INT8", "on")
    assert OpenVinoRuntime(xml).compute == "int8"
    monkeypatch.setenv("KORQA_OPENVINO_INT8", "off")
    f32 = QAEngine(load_model(str(out)))
    assert f32.model.runtime.compute == "f32" and f32.model.describe()["compute"] == "f32"
    monkeypatch.setenv("KORQA_OPENVINO_INT8", "fast")
    with pytest.raises(ConfigError, match="auto, on or off"):
        openvino_int8()
    monkeypatch.delenv("KORQA_OPENVINO_INT8")
    assert OpenVinoRuntime(xml).compute == ("int8" if int8_dot_product() else "f32")
    int8 = QAEngine(load_model(str(out)))
    qs = [Question(ex.question, (ex.context,)) for ex in examples(32, seed=5)]
    a, b = f32.answer_many(qs), int8.answer_many(qs)
    assert sum(x.answers[0].start == y.answers[0].start for x, y in zip(a, b, strict=True)) >= len(qs) - 2
    alone = [f32.answer_many([q])[0] for q in qs]
    for x, y in zip(alone, a, strict=True):
        assert (x.answers[0].start, x.answers[0].end) == (y.answers[0].start, y.answers[0].end)
        assert abs(x.answers[0].score - y.answers[0].score) <= 1e-6


def test_a_directory_with_both_files_runs_openvino_int8_only_on_cpus_made_for_it(
    ov_model, tiny_model, tmp_path, monkeypatch
):
    """The embedded model ships an OpenVINO int8 file and an ONNX int8 file: OpenVINO where the CPU has int8 dot
    products, ONNX Runtime (one window at a time) elsewhere; KORQA_OPENVINO_INT8 on / off forces either."""
    import shutil

    from korqa.export import export
    from korqa.models import prefer_onnx

    out, _ = ov_model
    both = tmp_path / "both"
    export(tiny_model, both, int8=True, per_channel=True, int8_embeddings=True)
    for name in ("model.xml", "model.bin"):
        shutil.copy(out / name, both / name)
    monkeypatch.setenv("KORQA_OPENVINO_INT8", "on")
    assert load_model(str(both)).runtime.name == "openvino" and not prefer_onnx(both)
    monkeypatch.setenv("KORQA_OPENVINO_INT8", "off")
    onnx = load_model(str(both)).runtime
    assert onnx.name == "onnxruntime" and onnx.window_at_a_time and onnx.compute == "dynamic int8"
    assert load_model(str(out)).runtime.compute == "f32"  # no ONNX file beside it: OpenVINO in f32
    monkeypatch.delenv("KORQA_OPENVINO_INT8")
    import korqa.runtime

    for vnni, expected in ((True, "openvino"), (False, "onnxruntime")):
        monkeypatch.setattr(korqa.runtime, "int8_dot_product", lambda cpuinfo=None, v=vnni: v)
        assert load_model(str(both)).runtime.name == expected
