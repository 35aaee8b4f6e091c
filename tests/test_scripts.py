"""scripts/serve.sh installs only what the model needs: no PyTorch for the embedded model or an ONNX export."""

import os
import subprocess

import pytest


def which_set(*args, env=None):
    result = subprocess.run(
        ["bash", "scripts/which-set.sh", *args],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | (env or {}),
    )
    return result.stdout.strip()


@pytest.fixture
def onnx_dir(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    return str(tmp_path)


def test_the_embedded_model_and_plain_server_options_need_no_torch(onnx_dir):
    assert which_set() == "serve"
    assert which_set("--port", "9000", "--host", "0.0.0.0", "--max-queue", "8") == "serve"
    assert which_set("--model", onnx_dir) == which_set(f"--model={onnx_dir}") == "serve"
    assert which_set(env={"KORQA_MODEL": onnx_dir}) == "serve"


def test_pytorch_models_need_the_full_set(tmp_path):
    assert which_set("--model", str(tmp_path)) == "full"  # a Hugging Face directory (no model.onnx)
    assert which_set("--model", "monologg/koelectra-base-v3-finetuned-korquad") == "full"
    assert which_set("--pretrained", "beomi/kcbert-base", "--checkpoint", "x.ckpt") == "full"
    assert which_set(env={"KORQA_CHECKPOINT": "x.ckpt"}) == "full"
