"""One loader entry point: Hugging Face dirs, nlpbook Lightning checkpoints (safely), hub ids, settings."""

import argparse
import random
import shutil

import pytest
import torch
from safetensors.torch import save_file
from transformers import BertForQuestionAnswering

from korqa.config import QAConfig
from korqa.engine import QAEngine
from korqa.errors import ModelLoadError, UnsafeCheckpointError
from korqa.models import load_model, resolve
from korqa.models.nlpbook import strip_prefix
from tests.support import tiny


@pytest.fixture(scope="module")
def state_dict(tiny_model_dir):
    return BertForQuestionAnswering.from_pretrained(str(tiny_model_dir)).state_dict()


@pytest.fixture
def pretrained_dir(tiny_model_dir, tmp_path):
    """What `pretrained_model_name` points at: config and vocab, no weights."""
    target = tmp_path / "pretrained"
    target.mkdir()
    for name in ("config.json", "vocab.txt"):
        shutil.copy(tiny_model_dir / name, target / name)
    return target


def lightning_checkpoint(path, state_dict, **extra):
    ckpt = {
        "epoch": 0,
        "global_step": 100,
        "pytorch-lightning_version": "1.9.0",
        "state_dict": {f"model.{k}": v for k, v in state_dict.items()},
        **extra,
    }
    torch.save(ckpt, path)
    return path


def best_answer(model, seed=9):
    ex = tiny.make_example(random.Random(seed), 40, 10, distractors=True)
    return QAEngine(model).answer(ex.question, ex.context).answers[0], ex


def test_nlpbook_checkpoint_loads_and_answers_like_the_original(pretrained_dir, state_dict, tmp_path):
    ckpt = lightning_checkpoint(tmp_path / "epoch=0.ckpt", state_dict)
    model = load_model(pretrained=str(pretrained_dir), checkpoint=str(ckpt))
    assert model.source == "nlpbook"
    answer, ex = best_answer(model)
    assert (answer.text, answer.start) == (ex.answer_text, ex.answer_start)


def test_only_the_leading_model_prefix_is_stripped():
    assert strip_prefix({"model.bert.x": 1, "model.bert.model.y": 2, "qa.w": 3}) == {
        "bert.x": 1,
        "bert.model.y": 2,
        "qa.w": 3,
    }


def test_missing_keys_are_a_clear_error(pretrained_dir, state_dict, tmp_path):
    partial = {k: v for k, v in state_dict.items() if not k.startswith("qa_outputs")}
    ckpt = lightning_checkpoint(tmp_path / "bad.ckpt", partial)
    with pytest.raises(ModelLoadError, match=r"missing qa_outputs\.bias, qa_outputs\.weight"):
        load_model(pretrained=str(pretrained_dir), checkpoint=str(ckpt))


def test_unexpected_keys_are_a_clear_error_but_old_buffers_are_ignored(pretrained_dir, state_dict, tmp_path):
    extra = dict(state_dict)
    extra["bert.embeddings.position_ids"] = torch.arange(128)[None]
    ok = lightning_checkpoint(tmp_path / "old.ckpt", extra)
    load_model(pretrained=str(pretrained_dir), checkpoint=str(ok))
    extra["classifier.weight"] = torch.zeros(2, 2)
    bad = lightning_checkpoint(tmp_path / "other.ckpt", extra)
    with pytest.raises(ModelLoadError, match=r"unexpected classifier\.weight"):
        load_model(pretrained=str(pretrained_dir), checkpoint=str(bad))


def test_a_checkpoint_holding_python_objects_is_refused_without_the_flag(pretrained_dir, state_dict, tmp_path):
    ckpt = lightning_checkpoint(
        tmp_path / "hparams.ckpt", state_dict, hyper_parameters=argparse.Namespace(lr=5e-5, batch_size=32)
    )
    with pytest.raises(UnsafeCheckpointError, match="--trust-checkpoint"):
        load_model(pretrained=str(pretrained_dir), checkpoint=str(ckpt))
    model = load_model(pretrained=str(pretrained_dir), checkpoint=str(ckpt), trust_checkpoint=True)
    assert model.source == "nlpbook"


class _Payload:
    """Unpickling this creates a file: stands for any code a hostile checkpoint could run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_hostile_checkpoint_runs_no_code(pretrained_dir, state_dict, tmp_path):
    marker = tmp_path / "pwned"
    ckpt = lightning_checkpoint(tmp_path / "evil.ckpt", state_dict, callbacks=_Payload(marker))
    with pytest.raises(UnsafeCheckpointError):
        load_model(pretrained=str(pretrained_dir), checkpoint=str(ckpt))
    assert not marker.exists()


def test_safetensors_checkpoints_need_no_unpickling(pretrained_dir, state_dict, tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({f"model.{k}": v.contiguous() for k, v in state_dict.items()}, str(path))
    answer, ex = best_answer(load_model(pretrained=str(pretrained_dir), checkpoint=str(path)))
    assert answer.text == ex.answer_text


def test_a_truncated_checkpoint_is_a_clear_error(pretrained_dir, tmp_path):
    path = tmp_path / "cut.ckpt"
    path.write_bytes(b"PK\x03\x04 not really a checkpoint")
    with pytest.raises(ModelLoadError, match="could not read checkpoint"):
        load_model(pretrained=str(pretrained_dir), checkpoint=str(path))


def test_a_checkpoint_needs_its_pretrained_model(tmp_path):
    with pytest.raises(ModelLoadError, match="--pretrained"):
        load_model(checkpoint=str(tmp_path / "x.ckpt"))


def test_a_hub_id_that_cannot_be_fetched_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelLoadError, match="could not get 'beomi/kcbert-base'"):
        load_model("beomi/kcbert-base")
    (tmp_path / "epoch=0.ckpt").write_bytes(b"")  # the checkpoint exists; the pretrained config cannot be fetched
    with pytest.raises(ModelLoadError, match="could not get 'beomi/kcbert-base'"):
        load_model(pretrained="beomi/kcbert-base", checkpoint=str(tmp_path / "epoch=0.ckpt"))


def test_resolve_says_what_would_load(tiny_model_dir, tmp_path):
    assert resolve(str(tiny_model_dir)) == {"source": "huggingface", "path": str(tiny_model_dir)}
    assert resolve("beomi/kcbert-base") == {"source": "hub", "id": "beomi/kcbert-base"}
    with pytest.raises(ModelLoadError, match=r"none of model.onnx, model.xml \(OpenVINO\), config.json"):
        resolve(str(tmp_path))
    (tmp_path / "epoch=0.ckpt").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="--checkpoint"):
        resolve(str(tmp_path / "epoch=0.ckpt"))


def test_saved_settings_are_the_defaults_and_user_settings_win(tiny_model_dir):
    assert load_model(str(tiny_model_dir)).config.max_seq_length == tiny.SETTINGS.max_seq_length
    model = load_model(str(tiny_model_dir), config=QAConfig(doc_stride=7))
    assert (model.config.doc_stride, model.config.max_seq_length) == (7, tiny.SETTINGS.max_seq_length)


def test_config_accepts_the_nlpbook_deploy_argument_names():
    config = QAConfig.from_kwargs(
        pretrained_model_name="beomi/kcbert-base",
        downstream_model_checkpoint_fpath="/gdrive/epoch=0.ckpt",
        downstream_model_dir="/gdrive/checkpoint-qa",
        max_seq_length=128,
        max_query_length=32,
        max_answer_length=30,
        doc_stride=64,
    )
    assert config.downstream_model_checkpoint_path == "/gdrive/epoch=0.ckpt"
    assert (config.max_seq_length, config.max_query_length, config.max_answer_length) == (128, 32, 30)
    resolved = QAConfig().resolved()
    assert (resolved.max_seq_length, resolved.max_query_length, resolved.doc_stride) == (128, 32, 64)
    assert resolved.max_answer_length == 30


def test_without_an_embedded_model_the_default_is_a_clear_error(monkeypatch, tmp_path):
    import korqa.models

    monkeypatch.setattr(korqa.models, "EMBEDDED", tmp_path / "absent")
    with pytest.raises(ModelLoadError, match="no embedded default model"):
        load_model()


def test_engine_from_nlpbook_deploy_arguments(pretrained_dir, state_dict, tmp_path):
    ckpt = lightning_checkpoint(tmp_path / "epoch=0.ckpt", state_dict)
    config = QAConfig.from_kwargs(
        pretrained_model_name=str(pretrained_dir),
        downstream_model_checkpoint_path=str(ckpt),
        max_seq_length=64,
        max_query_length=16,
        max_answer_length=8,
        doc_stride=32,
    )
    engine = QAEngine.from_config(config)
    assert engine.model.source == "nlpbook" and engine.config.max_seq_length == 64
    ex = tiny.make_example(random.Random(1), 80, 5, distractors=True)
    assert engine.answer(ex.question, ex.context).answers[0].text == ex.answer_text
