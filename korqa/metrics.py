"""Prometheus metrics (GET /metrics), kept by prometheus_client. Each value is recorded where the fact is known:
requests at the HTTP edge, queue and batch sizes in the batcher, stage timings where the stage ends.

The rest of korqa only calls `inc`, `set` and `observe` with a metric's name (and labels), so the batcher does not
depend on the client library. Every series exists from the start (counters at 0), plus process metrics and
`korqa_build_info{version, model}`.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401 -- the /metrics media type
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
TOKEN_BUCKETS = (128, 256, 384, 512, 768, 1024, 2048, 4096, 8192)
STAGES = ("tokenize", "queue", "forward", "decode")


class Metrics:
    def __init__(self, model: str = "", version: str = ""):
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        Info("korqa_build", "korqa version and the model it serves", registry=r).info(
            {"version": version, "model": model}
        )
        self._series = {
            "korqa_requests_total": Counter(
                "korqa_requests_total", "HTTP requests by route and status code", ["route", "status"], registry=r
            ),
            "korqa_request_duration_seconds": Histogram(
                "korqa_request_duration_seconds",
                "HTTP request duration by route and status code",
                ["route", "status"],
                buckets=LATENCY_BUCKETS,
                registry=r,
            ),
            "korqa_requests_in_flight": Gauge("korqa_requests_in_flight", "HTTP requests being served", registry=r),
            "korqa_queue_size": Gauge("korqa_queue_size", "requests waiting for the model", registry=r),
            "korqa_queue_windows": Gauge("korqa_queue_windows", "windows waiting for the model", registry=r),
            "korqa_batch_size": Histogram(
                "korqa_batch_size", "windows per forward batch", buckets=SIZE_BUCKETS, registry=r
            ),
            "korqa_batch_tokens": Histogram(
                "korqa_batch_tokens", "tokens per forward batch, padding included", buckets=TOKEN_BUCKETS, registry=r
            ),
            "korqa_batch_padding_ratio": Gauge(
                "korqa_batch_padding_ratio", "padding share of the last batch's tokens", registry=r
            ),
            "korqa_stage_seconds": Histogram(
                "korqa_stage_seconds", "time per request in each stage", ["stage"], buckets=LATENCY_BUCKETS, registry=r
            ),
            "korqa_dropped_total": Counter(
                "korqa_dropped_total", "requests dropped before compute because the client went away", registry=r
            ),
            "korqa_rejected_total": Counter(
                "korqa_rejected_total", "requests refused because the queue was full", registry=r
            ),
            "korqa_timed_out_total": Counter(
                "korqa_timed_out_total", "requests whose deadline passed before their answer was ready", registry=r
            ),
            "korqa_windows_total": Counter("korqa_windows_total", "windows computed", registry=r),
        }
        for stage in STAGES:
            self._series["korqa_stage_seconds"].labels(stage=stage)

    def _get(self, name: str, labels: dict[str, str]):
        series = self._series[name]
        return series.labels(**labels) if labels else series

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self._get(name, labels).inc(amount)

    def dec(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self._get(name, labels).dec(amount)

    def set(self, name: str, value: float, **labels: str) -> None:
        self._get(name, labels).set(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._get(name, labels).observe(value)

    def render(self) -> str:
        return generate_latest(self.registry).decode()


def serving_registry(model: str = "", version: str = "") -> Metrics:
    return Metrics(model, version)
