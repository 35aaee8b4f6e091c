"""Rebuild a fp32 Hugging Face BERT QA model from a korqa ONNX export (`korqa export`, fp32 or int8).

Why: averaging or distilling needs PyTorch weights, and the fourth default model's fp32 weights were not kept,
only its int8 file. This reads the fused graph back: int8 weights are dequantised ((q - zero_point) * scale,
per output channel), the smoothing scales (`--smooth-data`: a Mul by 1/s before a MatMul) are folded back into the
weights, and the fused QKV projection is split into query/key/value. The result computes what the ONNX graph
computes with fp32 activations; it differs from the model that was exported by the int8 rounding of its weights.

    python -m recipes.onnx_to_hf --onnx korqa/default_model --base runs/e5-base --out runs/soup2r

`--base`: the encoder the model was fine-tuned from (its config.json gives the architecture).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from transformers import BertConfig, BertForQuestionAnswering

from recipes.rebuild import save_qa_model

LAYER = re.compile(r"/model/bert/encoder/layer\.(\d+)/(.*)/MatMul")


def rebuild(onnx_dir: Path, base: Path, out: Path) -> BertForQuestionAnswering:
    graph = onnx.load(onnx_dir / "model.onnx").graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def weight(name: str) -> np.ndarray:  # [in, out] as the MatMul uses it
        if init[name].dtype.kind == "f":
            return init[name].astype(np.float32)
        prefix = name.removesuffix("_quantized")
        q = init[name].astype(np.float32) - init[prefix + "_zero_point"].astype(np.float32)
        return q * init[prefix + "_scale"].astype(np.float32)

    state = {}
    for name, value in init.items():  # biases, LayerNorms, embeddings keep their PyTorch names
        if name.startswith("model.") and not name.endswith(".inv_scale"):
            state[name.removeprefix("model.").replace(".linear.", ".")] = value
    for node in graph.node:
        if node.op_type in ("MatMul", "MatMulInteger") and node.input[1] in init:
            w = weight(node.input[1])
            if node.name.startswith("/model/qa_outputs"):
                key = "qa_outputs"
            else:
                layer, part = LAYER.match(node.name).groups()
                key = f"bert.encoder.layer.{layer}." + part.replace("/linear", "").replace("/", ".")
                inv_scale = init.get(f"model.{key}.inv_scale")
                if inv_scale is not None:  # x * (1/s) @ W  ==  x @ (diag(1/s) W)
                    w = inv_scale[:, None] * w
            state[key + ".weight"] = w.T
        elif node.op_type in ("Attention", "QAttention"):
            layer = int(re.search(r"\d+", node.name).group())
            w, b = weight(node.input[1]), init[node.input[2]]
            h = w.shape[1] // 3
            for i, part in enumerate(("query", "key", "value")):
                state[f"bert.encoder.layer.{layer}.attention.self.{part}.weight"] = w[:, i * h : (i + 1) * h].T
                state[f"bert.encoder.layer.{layer}.attention.self.{part}.bias"] = b[i * h : (i + 1) * h]
    return save_qa_model(BertConfig.from_pretrained(base), state, onnx_dir, out, "graph")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", required=True, type=Path, help="korqa ONNX export dir (model.onnx, korqa.json)")
    p.add_argument("--base", required=True, type=Path, help="the Hugging Face encoder it was fine-tuned from")
    p.add_argument("--out", required=True, type=Path, help="output Hugging Face model dir")
    args = p.parse_args()
    rebuild(args.onnx, args.base, args.out)
    print(f"rebuilt {args.onnx} -> {args.out}")


if __name__ == "__main__":
    main()
