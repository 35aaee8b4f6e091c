"""`korqa export`: any model korqa loads -> ONNX (+ ONNX Runtime transformer fusion) [-> dynamic int8], written as
a directory `korqa serve --model DIR` loads without torch: model.onnx, tokenizer.json, korqa.json.

Measured traps (torch 2.13, onnxruntime 1.32): the default dynamo exporter gives graphs the ORT optimizer cannot
fuse, so the legacy TorchScript exporter (dynamo=False) is used on the model with eager attention; the fused graph
then holds Attention / SkipLayerNormalization / EmbedLayerNormalization nodes. Quantising that graph needs
DefaultTensorType=FLOAT for tensors whose type ORT cannot infer. And onnxruntime 1.32's CPU SkipLayerNormalization
kernel is 5x slower than the plain Add + LayerNormalization it fuses (bench/ops.py: 0.67 vs 0.13 ms at 768 x 384)
and took a fifth of the int8 model's time, so export splits it back (`split_skip_layer_norm`).

Dynamic int8 quantises each activation tensor with one scale per batch. In the default model's feed-forward inputs a
single channel runs 10-60x the median channel's magnitude and sets that scale for all of them; `--smooth-data`
moves part of each channel's range into the weights first (`smooth_activations`, SmoothQuant-style), which leaves
the fp32 function unchanged and cut the int8-vs-fp32 KL of answer distributions 10x on training windows.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

OPSET = 17


@dataclass
class ExportReport:
    path: str
    fused: dict[str, int] = field(default_factory=dict)
    int8: bool = False
    bytes: int = 0
    split_skip_layer_norm: int = 0  # fused SkipLayerNormalization nodes turned back into Add + LayerNormalization
    smoothing: dict | None = None  # smooth_activations' settings, when used
    max_abs_diff: float | None = None  # ONNX fp32 vs PyTorch logits on sample windows
    seconds: float = 0.0


def qa_outputs(model, with_token_types: bool):
    """The *ForQuestionAnswering as a module with plain tensor inputs and two outputs, for tracing."""
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if with_token_types:
                kwargs["token_type_ids"] = token_type_ids
            out = self.model(**kwargs)
            return out.start_logits, out.end_logits

    return Wrapper().eval()


def export_onnx(model, path: Path, with_token_types: bool) -> None:
    import torch

    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")  # sdpa traces into ops the ORT fusion does not recognise
    wrapper = qa_outputs(model, with_token_types)
    ids = torch.ones((2, 16), dtype=torch.long)
    args = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if with_token_types else ())
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if with_token_types else [])
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "start_logits", "end_logits"]}
    with torch.inference_mode():
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=names,
            output_names=["start_logits", "end_logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
        )


def optimize(src: Path, dst: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    from onnxruntime.transformers import optimizer

    opt = optimizer.optimize_model(
        str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=1, use_gpu=False
    )
    opt.save_model_to_file(str(dst))
    stats = opt.get_fused_operator_statistics()
    return {k: int(v) for k, v in stats.items() if v}


def split_skip_layer_norm(path: Path) -> int:
    """Rewrite every SkipLayerNormalization node as Add (+ Add bias) + LayerNormalization, in place.

    Same arithmetic, standard ops; onnxruntime does not fuse them back. Returns how many nodes were split."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    nodes, split = [], 0
    for n in model.graph.node:
        if n.op_type != "SkipLayerNormalization":
            nodes.append(n)
            continue
        split += 1
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-12)
        inputs = list(n.input) + [""] * (5 - len(n.input))
        x, skip, gamma, beta, bias = inputs[:5]
        total = f"{n.name}_sum"
        nodes.append(helper.make_node("Add", [x, skip], [total], name=f"{n.name}_add"))
        if bias:
            nodes.append(helper.make_node("Add", [total, bias], [f"{total}_bias"], name=f"{n.name}_add_bias"))
            total = f"{total}_bias"
        if len(n.output) > 3 and n.output[3]:  # the optional input+skip(+bias) output
            nodes.append(helper.make_node("Identity", [total], [n.output[3]], name=f"{n.name}_sum_out"))
        ln_inputs = [total, gamma] + ([beta] if beta else [])
        nodes.append(
            helper.make_node("LayerNormalization", ln_inputs, [n.output[0]], name=f"{n.name}_ln", axis=-1, epsilon=eps)
        )
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return split


def _smoothed_linear_class():
    import torch

    class SmoothedLinear(torch.nn.Module):
        """linear(x / s) with the weight's input columns multiplied by s: the same function, with activations
        whose channels have comparable ranges (ONNX: a Mul before the MatMul)."""

        def __init__(self, linear, s):
            super().__init__()
            with torch.no_grad():
                linear.weight.mul_(s[None, :])
            self.linear = linear
            self.register_buffer("inv_scale", (1.0 / s).to(linear.weight.dtype))

        def forward(self, x):
            return self.linear(x * self.inv_scale)

    return SmoothedLinear


def smoothing_targets(model) -> dict[str, tuple[object, str]]:
    """The feed-forward Linears of BERT-family encoders (BERT, RoBERTa, ELECTRA, XLM-R): name -> (parent, attr).
    Their inputs (a LayerNorm output; a GELU output) carry the outlier channels. The attention projections are
    left alone: the ORT Attention fusion needs them to read the LayerNorm output directly."""
    import re

    found = {}
    for name, module in model.named_modules():
        if re.search(r"layer\.\d+\.(intermediate|output)$", name) and hasattr(module, "dense"):
            found[name + ".dense"] = (module, "dense")
    return found


def smooth_activations(model, windows, pad_id: int, alpha: float = 0.8) -> dict:
    """In place: for each feed-forward Linear, per input channel j, s_j = max|x_j|^alpha / max|W_:j|^(1-alpha)
    over the calibration windows; x -> x / s_j, W_:j -> W_:j * s_j. alpha 0.8 was chosen on training windows
    (int8-vs-fp32 KL of the start/end distributions: 0.0078 unsmoothed; alpha 0.5 0.0069, 0.7 0.0014,
    0.8 0.0008, 0.9 0.0013, 1.0 0.0033)."""
    import torch

    from korqa.runtime import TorchRuntime, run_windows

    targets = smoothing_targets(model)
    if not targets:
        return {"alpha": alpha, "layers": 0, "calibration_windows": len(windows)}
    amax: dict[str, torch.Tensor] = {}
    hooks = []
    for name, (parent, attr) in targets.items():

        def record(_module, inputs, _output, name=name):
            x = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            amax[name] = torch.maximum(amax[name], x) if name in amax else x

        hooks.append(getattr(parent, attr).register_forward_hook(record))
    try:
        run_windows(TorchRuntime(model), windows, pad_id, 4096)  # the hooks record; the logits are not needed
    finally:
        for h in hooks:
            h.remove()
    smoothed = _smoothed_linear_class()
    for name, (parent, attr) in targets.items():
        linear = getattr(parent, attr)
        w = linear.weight.detach().abs().amax(0)
        s = (amax[name].clamp(min=1e-5) ** alpha / w.clamp(min=1e-5) ** (1 - alpha)).clamp(1e-3, 1e3)
        setattr(parent, attr, smoothed(linear, s.detach().clone()))
    return {"alpha": alpha, "layers": len(targets), "calibration_windows": len(windows)}


def quantize(src: Path, dst: Path, per_channel: bool, keep_fp32: list[str], embeddings: bool = False) -> None:
    """Dynamic int8 weights for MatMul/Attention; `keep_fp32` names nodes left in fp32 (substring match).
    `embeddings`: the embedding tables too (QEmbedLayerNormalization, one int8 scale per table: a 44k-piece
    vocabulary's table goes from 68 to 17 MB)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    exclude = [n.name for n in graph.node if any(k in n.name for k in keep_fp32)] if keep_fp32 else []
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        op_types_to_quantize=["MatMul", "Attention"] + (["EmbedLayerNormalization"] if embeddings else []),
        nodes_to_exclude=exclude,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    log.info("int8: %d nodes kept in fp32 (%s)", len(exclude), ", ".join(exclude[:4]))


def parity(model, onnx_path: Path, tokenizer, windows) -> float:
    """Largest |ONNX - PyTorch| over start/end logits of the given windows (real positions only)."""
    from korqa.runtime import OnnxRuntime, TorchRuntime, run_windows

    got = run_windows(OnnxRuntime(str(onnx_path), threads=1), windows, tokenizer.pad_id, 4096)
    want = run_windows(TorchRuntime(model), windows, tokenizer.pad_id, 4096)
    return max(float(np.abs(a - b).max()) for g, w in zip(got, want, strict=True) for a, b in zip(g, w, strict=True))


def export(
    loaded,
    out: str | Path,
    int8: bool = False,
    per_channel: bool = False,
    keep_fp32: list[str] | None = None,
    sample_windows=None,
    smooth_windows=None,
    smooth_alpha: float = 0.8,
    int8_embeddings: bool = False,
) -> ExportReport:
    """Export a LoadedModel with a PyTorch runtime into `out`. With `smooth_windows` (calibration windows), the
    feed-forward activations are smoothed first (on a copy; the loaded model is left as it is)."""
    from korqa.errors import ConfigError
    from korqa.models import ModelSettings

    if loaded.runtime.name != "torch":
        raise ConfigError(f"{loaded.name} is already an ONNX model; export a PyTorch model")
    if not 0.0 <= smooth_alpha <= 1.0:
        raise ConfigError(f"smooth_alpha must be in [0, 1], got {smooth_alpha}")
    started = time.perf_counter()
    reference = model = loaded.runtime.model
    smoothing = None
    if smooth_windows:
        model = copy.deepcopy(reference)
        smoothing = smooth_activations(model, smooth_windows, loaded.tokenizer.pad_id, smooth_alpha)
        log.info("smoothed %d feed-forward inputs (alpha %.2f)", smoothing["layers"], smooth_alpha)
    config = model.config
    with_token_types = loaded.runtime.uses_token_type_ids
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw, fused = Path(tmp) / "raw.onnx", Path(tmp) / "fused.onnx"
        export_onnx(model, raw, with_token_types)
        stats = optimize(raw, fused, config.num_attention_heads, config.hidden_size)
        log.info("ORT fusion: %s", stats)
        split = split_skip_layer_norm(fused)
        # Against the model as loaded: smoothing must not change what fp32 computes.
        diff = parity(reference, fused, loaded.tokenizer, sample_windows) if sample_windows else None
        if int8:
            quantize(fused, out / "model.onnx", per_channel, keep_fp32 or [], int8_embeddings)
        else:
            shutil.copy(fused, out / "model.onnx")
    loaded.tokenizer.save(out)
    ModelSettings(
        qa=ModelSettings.window_settings(loaded.config),
        name=loaded.name + ("-int8" if int8 else "-onnx-fp32"),
        max_positions=loaded.max_positions,
        boundaries=loaded.boundaries,
        record={
            "exported_from": loaded.path,
            "quantization": {
                "int8": int8,
                "per_channel": per_channel,
                "keep_fp32": keep_fp32 or [],
                "embeddings": int8_embeddings,
            }
            if int8
            else None,
            "smoothing": smoothing,
        },
    ).write(out)
    notice = Path(loaded.path) / "NOTICE" if Path(loaded.path).is_dir() else None
    if notice is not None and notice.exists():
        shutil.copy(notice, out / "NOTICE")
    report = ExportReport(
        path=str(out / "model.onnx"),
        fused=stats,
        split_skip_layer_norm=split,
        int8=int8,
        bytes=(out / "model.onnx").stat().st_size,
        max_abs_diff=diff,
        smoothing=smoothing,
        seconds=time.perf_counter() - started,
    )
    (out / "export.json").write_text(json.dumps(report.__dict__, indent=2) + "\n")
    return report


def export_openvino(loaded, out: str | Path, calibration, sample_windows=None) -> dict:
    """OpenVINO IR with static int8 matrix products (NNCF post-training quantization, transformer preset: smooth
    quant + fast bias correction), calibrated on `calibration` windows (training data, never evaluation data);
    every other op stays f32 (the runtime sets inference_precision f32). Served by korqa.runtime.OpenVinoRuntime."""
    import nncf
    import openvino as ov

    from korqa.errors import ConfigError
    from korqa.models import ModelSettings

    if loaded.runtime.name != "torch":
        raise ConfigError(f"{loaded.name} is already an exported model; export a PyTorch model")
    if not calibration:
        raise ConfigError("--format openvino needs calibration data: --smooth-data TRAIN.json")
    started = time.perf_counter()
    with_token_types = loaded.runtime.uses_token_type_ids
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def feed(window) -> dict:
        ids = np.asarray(window.input_ids, dtype=np.int64)[None]
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if with_token_types:
            feeds["token_type_ids"] = np.asarray(window.token_type_ids, dtype=np.int64)[None]
        return feeds

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        export_onnx(loaded.runtime.model, raw, with_token_types)
        model = ov.convert_model(str(raw))
        quantized = nncf.quantize(
            model, nncf.Dataset(calibration, feed), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration)
        )
        ov.save_model(quantized, str(out / "model.xml"), compress_to_fp16=False)
    loaded.tokenizer.save(out)
    ModelSettings(
        qa=ModelSettings.window_settings(loaded.config),
        name=loaded.name + "-openvino-int8",
        max_positions=loaded.max_positions,
        boundaries=loaded.boundaries,
        record={
            "exported_from": loaded.path,
            "quantization": {"openvino_static_int8": True, "calibration_windows": len(calibration)},
        },
    ).write(out)
    diff = None
    if sample_windows:
        from korqa.runtime import OpenVinoRuntime, TorchRuntime, run_windows

        budget = 8 * max(len(w.input_ids) for w in sample_windows)
        ref = run_windows(TorchRuntime(loaded.runtime.model), sample_windows, loaded.tokenizer.pad_id, budget)
        got = run_windows(OpenVinoRuntime(str(out / "model.xml")), sample_windows, loaded.tokenizer.pad_id, budget)
        diff = max(float(np.abs(a - b).max()) for x, y in zip(ref, got, strict=True) for a, b in zip(x, y, strict=True))
    report = {
        "path": str(out / "model.xml"),
        "format": "openvino",
        "bytes": (out / "model.bin").stat().st_size,
        "calibration_windows": len(calibration),
        "max_abs_diff_vs_fp32": diff,  # int8: expect tenths of a logit, not 1e-5
        "seconds": time.perf_counter() - started,
    }
    (out / "export.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def sample(loaded, n: int = 8):
    """A few windows of varied length (from the model's own vocabulary) for the parity check."""
    from korqa.windows import encode_passage, encode_question, make_windows

    rng = np.random.default_rng(0)
    tok = loaded.tokenizer
    vocab = [t for t, _ in sorted(tok.backend.get_vocab().items(), key=lambda kv: kv[1])][5:400]
    windows = []
    for i in range(n):
        words = rng.choice(vocab, size=8 + 15 * i)
        text = " ".join(w.replace("##", "").replace("▁", "") for w in words)
        q = encode_question(tok, text[:20], loaded.config.max_query_length)
        windows += make_windows(tok.layout, q, encode_passage(tok, text), loaded.config.max_seq_length, 64)[:1]
    return windows


def calibration_windows(loaded, data: str, questions: int = 200, seed: int = 0):
    """Windows of `questions` questions drawn from a SQuAD/KorQuAD file (the training data, not the evaluation
    data), built exactly as serving builds them."""
    from korqa.data import read_squad
    from korqa.engine import QAEngine, as_question

    items = read_squad(data)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(items), size=min(questions, len(items)), replace=False)
    engine = QAEngine(loaded)
    return [w for i in sorted(picked) for w in engine.windows_for(as_question(items[i].question, items[i].context))]
