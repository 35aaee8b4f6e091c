"""Counters, gauges and histograms rendered in the Prometheus text format (GET /metrics). Each value is recorded
where the fact is known: batch sizes in the queue, stage timings where the stage ends."""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
TOKEN_BUCKETS = (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


class Registry:
    def __init__(self):
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}  # name -> (type, help)
        self._values: dict[str, dict[tuple, float]] = defaultdict(dict)
        self._hist: dict[str, dict[tuple, list[float]]] = defaultdict(dict)  # bucket counts + [sum, count]
        self._buckets: dict[str, tuple[float, ...]] = {}

    def describe(self, name: str, kind: str, text: str, buckets: tuple[float, ...] | None = None) -> None:
        self._help[name] = (kind, text)
        if buckets:
            self._buckets[name] = buckets

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[name][key] = self._values[name].get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        buckets = self._buckets[name]
        key = tuple(sorted(labels.items()))
        with self._lock:
            row = self._hist[name].setdefault(key, [0.0] * (len(buckets) + 2))
            for i, bound in enumerate(buckets):
                if value <= bound:
                    row[i] += 1
            row[-2] += value
            row[-1] += 1

    def render(self) -> str:
        lines = []
        with self._lock:
            for name, (kind, text) in sorted(self._help.items()):
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                if kind == "histogram":
                    buckets = self._buckets[name]
                    for key, row in sorted(self._hist.get(name, {}).items()):
                        labels = dict(key)
                        for bound, count in zip(buckets, row, strict=False):
                            lines.append(f"{name}_bucket{_labels(labels | {'le': repr(float(bound))})} {int(count)}")
                        lines.append(f"{name}_bucket{_labels(labels | {'le': '+Inf'})} {int(row[-1])}")
                        lines.append(f"{name}_sum{_labels(labels)} {row[-2]:.6f}")
                        lines.append(f"{name}_count{_labels(labels)} {int(row[-1])}")
                else:
                    for key, value in sorted(self._values.get(name, {}).items()):
                        lines.append(f"{name}{_labels(dict(key))} {value:g}")
        return "\n".join(lines) + "\n"


def serving_registry() -> Registry:
    r = Registry()
    r.describe("korqa_requests_total", "counter", "HTTP requests by route and status code")
    r.describe("korqa_queue_size", "gauge", "requests waiting for the model")
    r.describe("korqa_queue_windows", "gauge", "windows waiting for the model")
    r.describe("korqa_batch_size", "histogram", "windows per forward batch", SIZE_BUCKETS)
    r.describe("korqa_batch_tokens", "histogram", "tokens per forward batch, padding included", TOKEN_BUCKETS)
    r.describe("korqa_batch_padding_ratio", "gauge", "padding share of the last batch's tokens")
    r.describe("korqa_stage_seconds", "histogram", "time per request in each stage", LATENCY_BUCKETS)
    r.describe("korqa_dropped_total", "counter", "requests dropped before compute because the client went away")
    r.describe("korqa_rejected_total", "counter", "requests refused because the queue was full")
    r.describe("korqa_timed_out_total", "counter", "requests whose deadline passed before their answer was ready")
    r.describe("korqa_windows_total", "counter", "windows computed")
    return r
