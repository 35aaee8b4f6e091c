"""Logits from a batch of windows -- nothing else.

Three backends behind one small interface: PyTorch (any Hugging Face QA model), ONNX Runtime and OpenVINO
(exported models; no torch import at all). Each uses as many threads as cores are available to this process and
no more: oversubscribing 2 cores was measured 2-4x slower.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from korqa.batching import Batch, collate, plan_batches


def available_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity), not the machine's count."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_cpu_quota() -> int | None:
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, int(int(quota) / int(period)))


def run_windows(
    runtime: Runtime,
    windows: Sequence,
    pad_id: int,
    max_batch_tokens: int,
    progress: Callable[[int], object] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Start/end logits of each window (anything with input_ids and token_type_ids), in the order given: sorted
    into padded batches under the token budget, run, and put back, each cut to its window's length. The one place
    in korqa that collates, runs and scatters -- serving, the queue, training and export all come through here."""
    starts: list[np.ndarray] = [np.empty(0, np.float32)] * len(windows)
    ends: list[np.ndarray] = [np.empty(0, np.float32)] * len(windows)
    for members in plan_batches([len(w.input_ids) for w in windows], max_batch_tokens):
        s, e = runtime.forward(collate(windows, members, pad_id))
        for row, index in enumerate(members):
            n = len(windows[index].input_ids)
            starts[index], ends[index] = s[row, :n], e[row, :n]
        if progress is not None:
            progress(len(members))  # windows done (a progress bar's update)
    return starts, ends


class Runtime(Protocol):
    name: str
    uses_token_type_ids: bool

    def forward(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """start_logits, end_logits: float32 [batch, length]."""
        ...


class TorchRuntime:
    name = "torch"

    def __init__(self, model, threads: int | None = None):  # model: transformers *ForQuestionAnswering
        import torch

        if threads is not None:  # torch's thread count is process-wide: set only when asked (the loaders do)
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()
        self._torch = torch
        self.model = model.eval()
        # Wherever the model lives (CPU here; a GPU while training on one): inputs go there, logits come back.
        self.device = next(model.parameters()).device
        # RoBERTa-style models have a single token type; feeding type ids is harmless only when they are all 0.
        self.uses_token_type_ids = getattr(model.config, "type_vocab_size", 1) > 1

    def forward(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        arrays = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if self.uses_token_type_ids:
            arrays["token_type_ids"] = batch.token_type_ids
        inputs = {k: torch.from_numpy(v).to(self.device) for k, v in arrays.items()}
        with torch.inference_mode():
            out = self.model(**inputs)
        return out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()


class OnnxRuntime:
    """ONNX Runtime on the CPU. `window_at_a_time` (korqa's dynamic int8 exports): each window runs alone, at its own
    length. Dynamic int8 takes an activation's scale from the whole tensor, so in a batch a window's logits moved with
    its batch-mates (up to 1.6); alone they cannot, and batches bought dynamic int8 nothing here (windows/s 11.9 one
    at a time vs 11.2 sixteen per batch, bench.runtimes)."""

    name = "onnxruntime"

    def __init__(
        self, model_path: str, threads: int | None = None, window_at_a_time: bool = False, compute: str | None = None
    ):
        import onnxruntime as ort

        options = ort.SessionOptions()
        self.threads = options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.output_names = {o.name for o in self.session.get_outputs()}
        self.uses_token_type_ids = "token_type_ids" in self.input_names
        self.window_at_a_time = window_at_a_time
        self.compute = compute  # what the file computes in, when its korqa.json says (/v1/model reports it)

    def run(self, input_ids, attention_mask, token_type_ids) -> tuple[np.ndarray, np.ndarray]:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.uses_token_type_ids:
            feeds["token_type_ids"] = token_type_ids
        start, end = self.session.run(["start_logits", "end_logits"], feeds)
        return start.astype(np.float32, copy=False), end.astype(np.float32, copy=False)

    def forward(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        if not self.window_at_a_time:
            return self.run(batch.input_ids, batch.attention_mask, batch.token_type_ids)
        start = np.full(batch.input_ids.shape, -1e4, dtype=np.float32)
        end = np.full(batch.input_ids.shape, -1e4, dtype=np.float32)
        for row, n in enumerate(batch.attention_mask.sum(axis=1)):
            part = slice(row, row + 1), slice(0, n)
            s, e = self.run(batch.input_ids[part], batch.attention_mask[part], batch.token_type_ids[part])
            start[row, :n], end[row, :n] = s[0], e[0]
        return start, end


def int8_dot_product(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has int8 dot-product instructions (Linux flags avx512_vnni, avx_vnni, amx_int8). Where
    /proc/cpuinfo cannot be read (not Linux), OpenVINO's int8 kernels are trusted."""
    flags = set(cpuinfo.split()) if cpuinfo is not None else _cpu_flags()
    return flags is None or bool({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)


@functools.cache
def _cpu_flags() -> frozenset[str] | None:
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None


def openvino_int8_wanted() -> bool:
    """KORQA_OPENVINO_INT8 (korqa.config): on, off, or auto -- whether this CPU has int8 dot products."""
    from korqa.config import openvino_int8

    setting = openvino_int8()
    return int8_dot_product() if setting == "auto" else setting == "on"


def without_activation_quantization(model) -> int:
    """Bypass an NNCF model's activation FakeQuantize nodes: the int8-stored weights are then dequantized once at
    compile time and the matrix products run in f32 (static, so still the same alone or batched)."""
    count = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() == "FakeQuantize":
            op.output(0).replace(op.input_value(0))
            count += 1
    model.validate_nodes_and_infer_types()
    return count


class OpenVinoRuntime:
    """OpenVINO on the CPU, for `korqa export --format openvino` (static int8 matrix products, f32 for the rest).

    Answers that do not depend on batch-mates: each window runs padded to its own length bucket (the next multiple
    of BUCKET tokens, pad id 0) in a sub-batch of windows of that bucket only. With static int8 scales a window's
    logits are then the same alone or in any batch (measured: exactly 0.0 difference; padding a window to another
    length moved its logits by up to 0.1). Few distinct shapes also keep OpenVINO's per-shape compilation rare.
    inference_precision is set to f32 explicitly: left unset it runs bf16 on CPUs that have it."""

    name = "openvino"
    BUCKET = 32

    def __init__(self, model_path: str, threads: int | None = None, int8: bool | None = None):
        import threading

        import openvino as ov

        self.threads = threads or available_cores()
        if int8 is None:
            int8 = openvino_int8_wanted()
        model = ov.Core().read_model(model_path)
        if not int8:
            without_activation_quantization(model)
        self.compute = "int8" if int8 else "f32"
        config = {
            "INFERENCE_PRECISION_HINT": "f32",
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
            # OpenVINO pins its threads to cores from the first one: two single-thread processes (Ray replicas or
            # actors) then share core 0 (measured: 0.55x the throughput of one process). The OS places them.
            "ENABLE_CPU_PINNING": False,
        }
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()  # one infer request, used by one caller at a time
        self.input_names = {name for port in self.compiled.inputs for name in port.get_names()}
        self.output_names = {name for port in self.compiled.outputs for name in port.get_names()}
        self.uses_token_type_ids = "token_type_ids" in self.input_names

    def forward(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        lengths = batch.attention_mask.sum(axis=1)
        buckets = -(-lengths // self.BUCKET) * self.BUCKET
        start = np.full(batch.input_ids.shape, -1e4, dtype=np.float32)
        end = np.full(batch.input_ids.shape, -1e4, dtype=np.float32)
        for width in np.unique(buckets):
            rows = np.nonzero(buckets == width)[0]
            feeds = {name: np.zeros((len(rows), width), dtype=np.int64) for name in ("input_ids", "attention_mask")}
            if self.uses_token_type_ids:
                feeds["token_type_ids"] = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                n = lengths[row]
                feeds["input_ids"][i, :n] = batch.input_ids[row, :n]
                feeds["attention_mask"][i, :n] = 1
                if self.uses_token_type_ids:
                    feeds["token_type_ids"][i, :n] = batch.token_type_ids[row, :n]
            with self.lock:
                result = self.request.infer(feeds)
                s, e = result["start_logits"], result["end_logits"]
            for i, row in enumerate(rows):
                n = lengths[row]
                start[row, :n], end[row, :n] = s[i, :n], e[i, :n]
        return start, end
