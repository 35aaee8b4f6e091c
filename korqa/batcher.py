"""Dynamic batching across concurrent requests.

Requests arrive already cut into windows. One model thread takes the waiting requests, oldest first, as a group of
at most `GROUP_BATCHES` x `max_batch_tokens` tokens (at least one request), once the waiting windows fill a batch
or `max_wait_ms` has passed. The group's windows are sorted by length and cut into padded batches under the token
budget (korqa.batching) -- exactly what the offline engine does with many questions -- and each request is decoded
as soon as its last window is done. Sorting across requests matters: taking windows strictly in arrival order
paired long windows with short ones and padded the short ones (HTTP reached 78% of offline throughput that way).
A request whose client went away is dropped before it costs compute. The queue is bounded: past `max_queue`
waiting requests, `submit` raises QueueFull (HTTP 503 with Retry-After).

One model thread on purpose: the runtime already uses every core for one batch; two concurrent forwards on two
cores were measured 2-4x slower.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from korqa.batching import plan_batches
from korqa.engine import QAEngine, QAResult, Question
from korqa.metrics import Registry
from korqa.windows import Window

GROUP_BATCHES = 16  # requests sorted together: up to this many batches' worth of tokens


class QueueFull(Exception):
    pass


@dataclass
class _Job:
    questions: Sequence[Question]
    windows: list[list[Window]]  # per question
    top_k: int | None
    max_answer_length: int | None
    future: Future
    enqueued: float
    tokenize_ms: float
    logits: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    started: float | None = None
    forward_ms: float = 0.0
    cancelled: bool = False

    @cached_property
    def total(self) -> int:
        return sum(len(ws) for ws in self.windows)

    @cached_property
    def tokens(self) -> int:
        return sum(len(w) for ws in self.windows for w in ws)

    @property
    def waiting(self) -> bool:
        """Not yet taken by the model thread (a request is always taken whole)."""
        return self.started is None

    def put(self, qi: int, wi: int, start: np.ndarray, end: np.ndarray) -> None:
        self.logits[(qi, wi)] = (start, end)


class Batcher:
    def __init__(
        self,
        engine: QAEngine,  # its config's max_batch_tokens sizes the batches
        max_wait_ms: float = 2.0,
        max_queue: int = 64,
        metrics: Registry | None = None,
    ):
        self.engine = engine
        self.max_batch_tokens = engine.config.max_batch_tokens
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.metrics = metrics
        self._jobs: deque[_Job] = deque()
        self._cv = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="korqa-model", daemon=True)
        self._thread.start()

    # -- called from request handlers -------------------------------------------------------------------
    def submit(
        self, questions: Sequence[Question], top_k: int | None = None, max_answer_length: int | None = None
    ) -> Future:
        """Cut the questions into windows and queue them; the future resolves to one QAResult per question."""
        t0 = time.perf_counter()
        windows = [self.engine.windows_for(q) for q in questions]
        tokenize_ms = (time.perf_counter() - t0) * 1e3
        job = _Job(questions, windows, top_k, max_answer_length, Future(), time.perf_counter(), tokenize_ms)
        with self._cv:
            if len(self._jobs) >= self.max_queue:
                self._count("korqa_rejected_total")
                raise QueueFull(f"{len(self._jobs)} requests are waiting (max_queue {self.max_queue})")
            self._jobs.append(job)
            self._gauges()
            self._cv.notify()
        return job.future

    def cancel(self, future: Future) -> None:
        """The client went away: drop its windows that have not run yet."""
        with self._cv:
            for job in self._jobs:
                if job.future is future and not job.cancelled:
                    job.cancelled = True
                    self._count("korqa_dropped_total")

    def close(self) -> None:
        with self._cv:
            self._running = False
            self._cv.notify_all()
        self._thread.join(timeout=5)

    # -- the model thread -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._running and not self._jobs:
                    self._cv.wait()
                if not self._running:
                    for job in self._jobs:
                        job.future.cancel()
                    return
                deadline = time.perf_counter() + self.max_wait
                while self._pending_tokens() < self.max_batch_tokens and (left := deadline - time.perf_counter()) > 0:
                    self._cv.wait(left)
                self._drop_cancelled()
                taken = self._take()
                self._gauges()
            if taken:
                self._run(taken)
            self._finish_ready()

    def _pending_tokens(self) -> int:
        return sum(job.tokens for job in self._jobs if job.waiting)

    def _drop_cancelled(self) -> None:
        for job in [j for j in self._jobs if j.cancelled]:
            self._jobs.remove(job)
            job.future.cancel()

    def _take(self) -> list[tuple[_Job, int, int]]:
        """All windows of the oldest waiting requests, up to GROUP_BATCHES batches' worth of tokens (one request
        at least; a request is never split across groups)."""
        taken: list[tuple[_Job, int, int]] = []
        tokens, limit = 0, GROUP_BATCHES * self.max_batch_tokens
        for job in self._jobs:
            if not job.waiting:
                continue
            if taken and tokens + job.tokens > limit:
                break
            job.started = time.perf_counter()
            taken += [(job, qi, wi) for qi, ws in enumerate(job.windows) for wi in range(len(ws))]
            tokens += job.tokens
        return taken

    def _run(self, taken: list[tuple[_Job, int, int]]) -> None:
        """The group's windows sorted by length into padded batches; requests finish as their windows are done."""
        windows = [job.windows[qi][wi] for job, qi, wi in taken]
        for members in plan_batches([len(w) for w in windows], self.max_batch_tokens):
            members = [i for i in members if not (taken[i][0].cancelled or taken[i][0].future.done())]
            if members:
                self._forward(taken, windows, members)
            self._finish_ready()

    def _forward(self, taken: list[tuple[_Job, int, int]], windows, members: list[int]) -> None:
        """One planned batch through the engine (which collates and runs it as one padded batch)."""
        jobs = {id(taken[i][0]): taken[i][0] for i in members}.values()
        t0 = time.perf_counter()
        try:
            starts, ends = self.engine.forward([windows[i] for i in members])
            for index, start, end in zip(members, starts, ends, strict=True):
                job, qi, wi = taken[index]
                job.put(qi, wi, start, end)
            if self.metrics:
                lengths = [len(windows[i]) for i in members]
                tokens = len(lengths) * max(lengths)
                self.metrics.observe("korqa_batch_size", len(members))
                self.metrics.observe("korqa_batch_tokens", tokens)
                self.metrics.set("korqa_batch_padding_ratio", 1 - sum(lengths) / tokens)
                self.metrics.inc("korqa_windows_total", len(members))
        except Exception as exc:  # noqa: BLE001 -- a failed batch fails its requests, not the thread
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
        elapsed = (time.perf_counter() - t0) * 1e3
        for job in jobs:
            job.forward_ms += elapsed

    def _finish_ready(self) -> None:
        with self._cv:
            ready = [j for j in self._jobs if (len(j.logits) == j.total) or j.future.done()]
            for job in ready:
                self._jobs.remove(job)
            self._gauges()
        for job in ready:
            if job.future.done():
                continue
            t0 = time.perf_counter()
            try:
                results = self._decode(job)
            except Exception as exc:  # noqa: BLE001
                job.future.set_exception(exc)
                continue
            decode_ms = (time.perf_counter() - t0) * 1e3
            queue_ms = ((job.started or time.perf_counter()) - job.enqueued) * 1e3
            timings = {
                "tokenize_ms": job.tokenize_ms,
                "queue_ms": queue_ms,
                "forward_ms": job.forward_ms,
                "decode_ms": decode_ms,
            }
            if self.metrics:
                for stage, ms in timings.items():
                    self.metrics.observe("korqa_stage_seconds", ms / 1e3, stage=stage.removesuffix("_ms"))
            for r in results:
                r.timings = dict(timings)
            job.future.set_result(results)

    def _decode(self, job: _Job) -> list[QAResult]:
        results = []
        for qi, (q, ws) in enumerate(zip(job.questions, job.windows, strict=True)):
            starts = [job.logits[(qi, wi)][0] for wi in range(len(ws))]
            ends = [job.logits[(qi, wi)][1] for wi in range(len(ws))]
            results.append(self.engine.decode(q, ws, starts, ends, job.top_k, job.max_answer_length))
        return results

    # -- metrics ------------------------------------------------------------------------------------------------
    def _gauges(self) -> None:
        if self.metrics:
            self.metrics.set("korqa_queue_size", len(self._jobs))
            self.metrics.set("korqa_queue_windows", sum(j.total for j in self._jobs if j.waiting))

    def _count(self, name: str) -> None:
        if self.metrics:
            self.metrics.inc(name)
