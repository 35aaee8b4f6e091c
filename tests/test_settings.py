"""Settings have one home: what the user gives always reaches the engine, korqa.json is read and written in one
place and validated, and a model that cannot answer is refused with a message that says why."""

import json
import re
import shutil

import pytest
import torch
from transformers import BertConfig, BertForQuestionAnswering, BertForSequenceClassification, BertModel

from korqa.cli import QA_OPTIONS, build_parser, given, main, qa_config
from korqa.config import DEFAULTS, OFF, QAConfig, ServeConfig
from korqa.engine import QAEngine
from korqa.errors import ConfigError, ModelLoadError
from korqa.models import ModelSettings, load_model
from korqa.train import TrainConfig
from tests.support import tiny

# For each answering option: the nlpbook default, and another value. The tiny model saves 64/16/32/8, so giving
# the default (128/32/64/30) explicitly must override its saved setting -- the bug this guards against.
VALUES = {
    "max_seq_length": [128, 96],
    "max_query_length": [32, 12],
    "doc_stride": [64, 5],
    "max_answer_length": [30, 4],
    "top_k": [1, 3],
    "no_answer_threshold": [OFF, 0.25],
    "use_boundary_rules": [True, False],
    "overlap_threshold": [0.0, 0.5],
    "temperature": [1.0, 1.5],
    "max_batch_tokens": [768, 333],
}


def flag(name, value):
    if isinstance(value, bool):  # use_boundary_rules: --boundary-rules / --no-boundary-rules
        return [f"--{'' if value else 'no-'}{name.removeprefix('use_').replace('_', '-')}"]
    return [f"--{name.replace('_', '-')}", str(value)]


def test_every_answering_option_is_covered_by_this_test():
    assert set(VALUES) == set(QA_OPTIONS) == set(DEFAULTS)


@pytest.mark.parametrize("index", [0, 1], ids=["value-equal-to-the-default", "other-value"])
def test_every_answering_option_given_explicitly_reaches_the_engine(tiny_model_dir, capsys, index):
    argv = ["info", "--model", str(tiny_model_dir), "--load"]
    for name, values in VALUES.items():
        argv += flag(name, values[index])
    assert main(argv) == 0
    loaded = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name, values in VALUES.items():
        assert loaded[name] == values[index], name


def test_options_not_given_leave_the_models_saved_settings(tiny_model_dir, capsys):
    assert main(["info", "--model", str(tiny_model_dir), "--load", "--doc-stride", "64"]) == 0
    loaded = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (loaded["doc_stride"], loaded["max_seq_length"], loaded["max_query_length"]) == (64, 64, 16)


def test_serve_and_train_options_reach_their_settings_and_only_given_ones_are_set():
    parser = build_parser()
    args = parser.parse_args(["serve", "--port", "8000", "--max-queue", "64", "--max-wait-ms", "2", "--threads", "1"])
    assert given(args, ServeConfig) == {"port": 8000, "max_queue": 64, "max_wait_ms": 2.0, "threads": 1}
    assert qa_config(args).given() == {}
    args = parser.parse_args(["train", "--base", "b", "--train", "t", "--out", "o", "--max-seq-length", "384"])
    assert given(args, TrainConfig) == {"base": "b", "train": "t", "out": "o", "max_seq_length": 384}


def test_the_python_api_keeps_a_setting_equal_to_the_default_too(tiny_model):
    engine = QAEngine(tiny_model, QAConfig(max_seq_length=128, doc_stride=64))
    assert (engine.config.max_seq_length, engine.config.doc_stride) == (128, 64)
    assert engine.config.max_query_length == tiny.SETTINGS.max_query_length  # not given: the model's


def test_trust_checkpoint_must_be_a_real_boolean():
    with pytest.raises(ModelLoadError, match="True or False"):
        load_model(pretrained="x", checkpoint="y.ckpt", trust_checkpoint="false")
    with pytest.raises(ConfigError, match="True or False"):
        QAConfig(trust_checkpoint="false").validate()


def test_serving_limits_are_validated():
    with pytest.raises(ConfigError, match="max_queue"):
        ServeConfig(max_queue=0).validate()
    with pytest.raises(ConfigError, match="max_body_bytes"):
        ServeConfig(max_body_bytes=-1).validate()


# -- korqa.json ----------------------------------------------------------------------------------------------------


def test_settings_file_round_trips_and_older_files_without_a_schema_still_load(tiny_model_dir, tmp_path):
    saved = ModelSettings.read(tiny_model_dir)
    assert saved.qa == {"max_seq_length": 64, "max_query_length": 16, "doc_stride": 32, "max_answer_length": 8}
    saved.write(tmp_path)
    assert ModelSettings.read(tmp_path) == saved
    old = {k: v for k, v in json.loads((tmp_path / "korqa.json").read_text()).items() if k != "schema"}
    (tmp_path / "korqa.json").write_text(json.dumps(old))
    assert ModelSettings.read(tmp_path) == saved


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"max_seq_len": 128}, r"unknown setting\(s\) max_seq_len"),
        ({"max_seq_length": "128"}, "max_seq_length must be a whole number"),
        ({"doc_stride": 0}, "doc_stride must be at least 1"),
        ({"schema": 2}, "schema 2"),
        ({"no_answer_threshold": 3}, "no_answer_threshold"),
    ],
)
def test_a_bad_settings_file_is_refused_with_the_key_named(tiny_model_dir, tmp_path, content, message):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "korqa.json").write_text(json.dumps(content))
    with pytest.raises(ModelLoadError, match=message):
        load_model(str(model))


# -- models that cannot answer -------------------------------------------------------------------------------------


def encoder_dir(tiny_model_dir, tmp_path, cls):
    """The tiny model's encoder saved as `cls` (no QA head), with its vocabulary: what a pretrained encoder or a
    classifier looks like on disk."""
    out = tmp_path / cls.__name__
    qa = BertForQuestionAnswering.from_pretrained(str(tiny_model_dir))
    model = cls(qa.config)
    bert = model if cls is BertModel else model.bert
    bert.load_state_dict(qa.bert.state_dict(), strict=False)
    model.save_pretrained(out)
    shutil.copy(tiny_model_dir / "vocab.txt", out / "vocab.txt")
    return out


@pytest.mark.parametrize("cls", [BertModel, BertForSequenceClassification])
def test_a_model_without_a_qa_head_is_refused_not_served_with_a_random_head(tiny_model_dir, tmp_path, cls):
    path = encoder_dir(tiny_model_dir, tmp_path, cls)
    with pytest.raises(ModelLoadError, match=r"no trained question-answering head.*--checkpoint"):
        load_model(str(path))


def test_an_architecture_without_question_answering_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(ModelLoadError, match="model type 'vit' has no question-answering architecture"):
        load_model(str(tmp_path))


def test_a_checkpoint_from_another_pretrained_model_names_the_mismatched_tensor(tiny_model_dir, tmp_path):
    """The likeliest nlpbook mistake: --pretrained is not the model the checkpoint was fine-tuned from."""
    qa = BertForQuestionAnswering.from_pretrained(str(tiny_model_dir))
    other = tmp_path / "other-pretrained"
    other.mkdir()
    config = BertConfig.from_pretrained(str(tiny_model_dir))
    config.hidden_size, config.intermediate_size = config.hidden_size * 2, config.intermediate_size * 2
    config.save_pretrained(other)
    shutil.copy(tiny_model_dir / "vocab.txt", other / "vocab.txt")
    ckpt = tmp_path / "epoch=0.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in qa.state_dict().items()}}, ckpt)
    with pytest.raises(ModelLoadError) as err:
        load_model(pretrained=str(other), checkpoint=str(ckpt))
    message = str(err.value)
    assert "\n" not in message and "does not fit the --pretrained model" in message
    name, got, want = re.search(r"(\S+) is \[([\d, ]+)\] in the checkpoint but \[([\d, ]+)\]", message).groups()
    assert list(qa.state_dict()[name].shape) == [int(x) for x in got.split(", ")]
    assert qa.config.hidden_size * 2 in [int(x) for x in want.split(", ")]
