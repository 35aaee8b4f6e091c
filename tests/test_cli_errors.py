"""Every CLI mistake ends in one line on stderr and exit code 2 -- never a traceback."""

import json
import pickle
import socket
import subprocess
import sys
import types

import pytest
import torch

from korqa.cli import main
from tests.test_cli import squad_file


def fails(argv, capsys, *expected: str) -> str:
    """Runs `korqa argv`, which must exit 2 with one error line naming each of `expected`."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own mistakes
        code = exc.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "korqa", *argv], capture_output=True, text=True, timeout=120)


def test_a_missing_optional_package_names_the_install_command(tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    fails(["ask", "q", "--context", "c", "--model", str(tiny_model_dir)], capsys, "'transformers'", "setup.sh full")


def test_passage_file_mistakes(tiny_model_dir, tmp_path, capsys):
    model = ["--model", str(tiny_model_dir)]
    fails(["ask", "q", "--context-file", str(tmp_path / "nope.txt"), *model], capsys, "nope.txt: no such file")
    fails(["ask", "q", "--context-file", str(tmp_path), *model], capsys, "is a directory")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("café \x80\x81".encode("latin-1") + b"\xff\xfe\xff")
    fails(["ask", "q", "--context-file", str(latin), *model], capsys, "neither UTF-8 nor CP949")


def test_a_cp949_passage_file_is_read_and_said_so(tiny_model_dir, tmp_path, capsys, caplog):
    passage = tmp_path / "passage.txt"
    passage.write_bytes("가나 다라 甲 마바 丙 사아".encode("cp949"))
    assert main(["ask", "甲 은?", "--context-file", str(passage), "--model", str(tiny_model_dir)]) == 0
    assert capsys.readouterr().out.startswith("1. 甲 마바 丙\t[6:12]")
    assert "read it as cp949" in caplog.text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "is not valid JSON"),
        ('{"version": 1}', "not SQuAD/KorQuAD-shaped"),
        (
            '{"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q1", "question": "q?", "answers": []}]}]}]}',
            "has no answers and is not marked is_impossible",
        ),
    ],
    ids=["missing", "not-json", "not-squad", "no-answers"],
)
def test_eval_data_mistakes_fail_before_any_prediction(tiny_model_dir, tmp_path, capsys, content, expected):
    data = tmp_path / "data.json"
    if content is not None:
        data.write_text(content)
    out = tmp_path / "preds.json"
    fails(["eval", "--data", str(data), "--model", str(tiny_model_dir), "--out", str(out)], capsys, expected)
    assert not out.exists()


def test_eval_limit_scores_only_the_first_questions(tiny_model_dir, tmp_path, capsys):
    data = squad_file(tmp_path / "data.json")
    assert main(["eval", "--data", str(data), "--model", str(tiny_model_dir), "--limit", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["count"] == 3


def test_model_path_mistakes(tiny_model_dir, tmp_path, capsys):
    fails(["ask", "q", "--context", "c", "--model", "/no/such/dir"], capsys, "/no/such/dir: no such directory")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"this is not a checkpoint")
    pretrained = ["--pretrained", str(tiny_model_dir)]
    fails(["ask", "q", "--context", "c", *pretrained, "--checkpoint", str(junk)], capsys, "junk.ckpt")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    fails(["ask", "q", "--context", "c", *pretrained, "--checkpoint", str(bad)], capsys, "could not read checkpoint")


def test_an_old_lightning_checkpoint_with_pickled_lightning_objects_loads_with_trust(
    tiny_model_dir, tmp_path, capsys, monkeypatch
):
    """Lightning < 1.5 pickled its own classes; pytorch_lightning is not installed here. Without the flag the file
    is refused (it needs unpickling); with it, the tensors load and the foreign objects become placeholders."""
    from transformers import BertForQuestionAnswering

    module = types.ModuleType("pytorch_lightning_old")

    class AttributeDict(dict):
        pass

    AttributeDict.__module__ = "pytorch_lightning_old"
    AttributeDict.__qualname__ = "AttributeDict"
    module.AttributeDict = AttributeDict
    monkeypatch.setitem(sys.modules, "pytorch_lightning_old", module)
    state = BertForQuestionAnswering.from_pretrained(str(tiny_model_dir)).state_dict()
    ckpt = tmp_path / "epoch=0.ckpt"
    torch.save(
        {"state_dict": {f"model.{k}": v for k, v in state.items()}, "hparams": AttributeDict(lr=1)},
        ckpt,
        pickle_protocol=pickle.HIGHEST_PROTOCOL,
    )
    monkeypatch.delitem(sys.modules, "pytorch_lightning_old")
    capsys.readouterr()  # transformers' loading bar above is not the CLI's output
    argv = ["ask", "甲 은?", "--context", "가 甲 나 丙", "--pretrained", str(tiny_model_dir), "--checkpoint", str(ckpt)]
    fails(argv, capsys, "--trust-checkpoint")
    assert main([*argv, "--trust-checkpoint"]) == 0
    assert capsys.readouterr().out.startswith("1. 甲 나 丙")


def test_serve_mistakes_are_one_line_from_a_real_process(tiny_model_dir):
    bad_port = run_cli("serve", "--port", "99999")
    assert bad_port.returncode == 2 and bad_port.stderr.strip().count("\n") == 0, bad_port.stderr
    assert "a port number in 0-65535" in bad_port.stderr
    bad_limit = run_cli("serve", "--max-queue", "0", "--model", str(tiny_model_dir))
    assert bad_limit.returncode == 2 and "max_queue must be at least 1" in bad_limit.stderr
    assert bad_limit.stderr.strip().count("\n") == 0, bad_limit.stderr


def test_a_port_in_use_fails_before_the_model_loads(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = fails(
            ["serve", "--port", str(port), "--model", "/no/such/dir"], capsys, f"cannot listen on 127.0.0.1:{port}"
        )
    assert "no such directory" not in line  # the bind is checked first, before any model is looked at


def test_version_and_python_dash_m():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("korqa ")


def test_a_hugging_face_directory_whose_weights_do_not_fit_its_config_is_one_line(tiny_model_dir, tmp_path):
    """No transformers load-report table on stderr (korqa -v shows it): korqa's own line says what is wrong."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "config.json").read_text())
    config["intermediate_size"] *= 2
    (model / "config.json").write_text(json.dumps(config))
    result = run_cli("ask", "q", "--context", "c", "--model", str(model))
    assert result.returncode == 2 and "LOAD REPORT" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("korqa:")]
    assert len(errors) == 1 and "could not load a question-answering model" in errors[0]
    assert "korqa -v" in errors[0]
