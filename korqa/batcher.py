"""Dynamic batching across concurrent requests, fairly.

Requests arrive already cut into windows (`submit`, on the request's own thread). One model thread runs one padded
batch at a time and chooses each batch afresh:

1. The waiting requests are ranked by the work they have left (tokens of windows not yet computed), less an ageing
   credit for the time they have waited -- shortest remaining work first, so a one-sentence request is never
   stuck behind a 16-passage one, and the large one still advances whenever nothing smaller waits and cannot
   starve (its credit grows).
2. The next batch is built around the top-ranked request's next window: it is filled with the longest waiting
   windows (of any request, drawn in rank order, up to `POOL_BATCHES` batches' worth) that are no longer than
   that window, as many as the token budget allows. So a short window is never padded to a long one, and batches
   hold windows of similar length -- what the offline engine's length-sorted plan gives (korqa.batching).
   Taking windows in arrival order instead padded short windows to long ones (HTTP reached 78% of offline
   throughput that way), and a one-window request sharing a batch with 384-token windows cost 110 ms, not 15.
3. Everything else is planned again after each batch, with whatever arrived meanwhile. So a new small request
   waits for at most the batch in flight.

Each request is decoded as soon as its last window is done. A request whose client went away or whose deadline
passed is dropped before it costs more compute. The queue is bounded (past `max_queue` waiting requests `submit`
raises QueueFull: HTTP 503 + Retry-After), and so is each request's work (`max_request_windows`: 413).

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

import numpy as np

from korqa.engine import QAEngine, QAResult, Question, WorkLimit
from korqa.errors import KorqaError
from korqa.metrics import Metrics
from korqa.windows import Window

POOL_BATCHES = 16  # windows planned together: up to this many batches' worth of tokens
LARGE_JOB_WINDOWS = 64  # after a request this large, free memory goes back to the system (see trim_memory)
AGEING_TOKENS_PER_SECOND = 4096  # each second waited counts as this many tokens less work left


def _libc_trim():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _libc_trim()


def trim_memory() -> None:
    """Return freed heap memory to the system. glibc keeps what a large request's tokens and logits used (in
    every thread's arena) mapped: without this the server's RSS stayed ~25% higher after a few large requests."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class QueueFull(KorqaError):
    """Too many requests wait for the model (HTTP 503)."""


class DeadlineExceeded(KorqaError):
    """The request's deadline passed before its answer was ready (HTTP 504)."""


class ShuttingDown(KorqaError):
    """The server is shutting down and did not finish this request (HTTP 503)."""


def _windows_in(windows: list[list[Window]]) -> int:
    return sum(len(ws) for ws in windows)


@dataclass(eq=False)
class _Job:
    questions: Sequence[Question]
    windows: list[list[Window]]  # per question
    top_k: int | None
    max_answer_length: int | None
    no_answer_threshold: float | str | None
    future: Future
    enqueued: float
    tokenize_ms: float
    deadline: float | None = None  # time.perf_counter() value
    pending: deque = field(default_factory=deque)  # (qi, wi) not yet computed, in order
    pending_tokens: int = 0
    logits: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    started: float | None = None  # when its first window ran
    forward_ms: float = 0.0
    cancelled: bool = False

    def __post_init__(self) -> None:
        self.pending.extend((qi, wi) for qi, ws in enumerate(self.windows) for wi in range(len(ws)))
        self.pending_tokens = sum(len(w) for ws in self.windows for w in ws)
        self.total = len(self.pending)

    def window(self, key: tuple[int, int]) -> Window:
        return self.windows[key[0]][key[1]]

    def rank(self, now: float) -> float:
        return self.pending_tokens - (now - self.enqueued) * AGEING_TOKENS_PER_SECOND

    @property
    def live(self) -> bool:
        return not (self.cancelled or self.future.done())


class Batcher:
    def __init__(
        self,
        engine: QAEngine,  # its config's max_batch_tokens sizes the batches
        max_wait_ms: float = 2.0,
        max_queue: int = 64,
        metrics: Metrics | None = None,
        max_request_windows: int | None = None,
    ):
        self.engine = engine
        self.max_batch_tokens = engine.config.max_batch_tokens
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.max_request_windows = max_request_windows
        self.metrics = metrics
        self._jobs: list[_Job] = []
        self._cv = threading.Condition()
        self._running = True
        self._closing_reason: str | None = None
        self._thread = threading.Thread(target=self._loop, name="korqa-model", daemon=True)
        self._thread.start()

    # -- called from request handlers -------------------------------------------------------------------
    def submit(
        self,
        questions: Sequence[Question],
        top_k: int | None = None,
        max_answer_length: int | None = None,
        timeout: float | None = None,
        no_answer_threshold: float | str | None = None,
    ) -> Future:
        """Cut the questions into windows and queue them; the future resolves to one QAResult per question, or
        fails with DeadlineExceeded after `timeout` seconds."""
        t0 = time.perf_counter()
        windows: list[list[Window]] = []
        budget = self.max_request_windows
        try:
            for q in questions:
                windows.append(self.engine.windows_for(q, None if budget is None else budget - _windows_in(windows)))
        except WorkLimit as exc:
            trim_memory()  # what the refused request's text took
            raise WorkLimit(_windows_in(windows) + exc.windows, budget) from None
        now = time.perf_counter()
        deadline = now + timeout if timeout else None
        job = _Job(
            questions, windows, top_k, max_answer_length, no_answer_threshold, Future(), now, (now - t0) * 1e3, deadline
        )
        with self._cv:
            if not self._running:
                raise ShuttingDown("the server is shutting down; try again shortly")
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

    def busy(self) -> bool:
        """Requests still waiting or running."""
        with self._cv:
            return any(job.live for job in self._jobs)

    def close(self, reason: str = "the server is shutting down") -> None:
        """Stop the model thread after its current batch; requests not finished fail with ShuttingDown."""
        with self._cv:
            self._running = False
            self._closing_reason = reason
            self._cv.notify_all()
        self._thread.join(timeout=30)

    # -- the model thread -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._running and not self._jobs:
                    self._cv.wait()
                deadline = time.perf_counter() + self.max_wait
                while (
                    self._running
                    and self._pending_tokens() < self.max_batch_tokens
                    and (left := deadline - time.perf_counter()) > 0
                ):
                    self._cv.wait(left)
                if not self._running:
                    for job in self._jobs:
                        if not job.future.done():
                            job.future.set_exception(ShuttingDown(f"{self._closing_reason}; try again shortly"))
                    self._jobs.clear()
                    return
                self._drop_dead()
                batch = self._next_batch()
                self._gauges()
            if batch:
                self._forward(batch)
            self._finish_ready()

    def _pending_tokens(self) -> int:
        return sum(job.pending_tokens for job in self._jobs if job.live)

    def _drop_dead(self) -> None:
        """Requests whose client went away, or whose deadline passed, leave the queue."""
        now = time.perf_counter()
        for job in list(self._jobs):
            if job.live and job.deadline is not None and now > job.deadline:
                job.future.set_exception(
                    DeadlineExceeded(f"no answer within the request timeout ({job.deadline - job.enqueued:g} s)")
                )
                self._count("korqa_timed_out_total")
            if not job.live:
                self._jobs.remove(job)
                job.future.cancel()

    def _next_batch(self) -> list[tuple[_Job, tuple[int, int]]]:
        """The next batch to run (see the module docstring): built around the top-ranked request's next window,
        filled with the pool's longest windows that are no longer than it -- so a short window is never padded
        to a long one, and batches hold windows of similar length."""
        now = time.perf_counter()
        ranked = sorted((j for j in self._jobs if j.live and j.pending), key=lambda j: j.rank(now))
        if not ranked:
            return []
        anchor = (ranked[0], ranked[0].pending[0])
        width = len(anchor[0].window(anchor[1]))
        pool: list[tuple[_Job, tuple[int, int]]] = []
        tokens, limit = 0, POOL_BATCHES * self.max_batch_tokens
        for job in ranked:
            for key in job.pending:
                size = len(job.window(key))
                if (job, key) != anchor and size <= width:
                    pool.append((job, key))
                    tokens += size
            if tokens >= limit:
                break
        pool.sort(key=lambda item: -len(item[0].window(item[1])))  # stable: rank order among equal lengths
        rows = max(1, self.max_batch_tokens // width)
        chosen = [anchor, *pool[: rows - 1]]
        for job, key in chosen:
            job.pending.remove(key)
            job.pending_tokens -= len(job.window(key))
            job.started = job.started or now
        return chosen

    def _forward(self, batch: list[tuple[_Job, tuple[int, int]]]) -> None:
        """One planned batch through the engine (which collates and runs it as one padded batch)."""
        jobs = {id(job): job for job, _ in batch}.values()
        windows = [job.window(key) for job, key in batch]
        t0 = time.perf_counter()
        try:
            starts, ends = self.engine.forward(windows)
            for (job, key), start, end in zip(batch, starts, ends, strict=True):
                job.logits[key] = (start, end)
            if self.metrics:
                lengths = [len(w) for w in windows]
                tokens = len(lengths) * max(lengths)
                self.metrics.observe("korqa_batch_size", len(windows))
                self.metrics.observe("korqa_batch_tokens", tokens)
                self.metrics.set("korqa_batch_padding_ratio", 1 - sum(lengths) / tokens)
                self.metrics.inc("korqa_windows_total", len(windows))
        except Exception as exc:  # noqa: BLE001 -- a failed batch fails its requests, not the thread
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
        elapsed = (time.perf_counter() - t0) * 1e3
        for job in jobs:
            job.forward_ms += elapsed

    def _finish_ready(self) -> None:
        with self._cv:
            ready = [j for j in self._jobs if len(j.logits) == j.total or not j.live]
            for job in ready:
                self._jobs.remove(job)
            self._gauges()
        for job in ready:
            if not job.live:
                job.future.cancel()  # a client that left (a deadline already set its exception)
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
            if job.total >= LARGE_JOB_WINDOWS:
                del job.logits, job.windows
                trim_memory()

    def _decode(self, job: _Job) -> list[QAResult]:
        results = []
        for qi, (q, ws) in enumerate(zip(job.questions, job.windows, strict=True)):
            starts = [job.logits[(qi, wi)][0] for wi in range(len(ws))]
            ends = [job.logits[(qi, wi)][1] for wi in range(len(ws))]
            results.append(
                self.engine.decode(q, ws, starts, ends, job.top_k, job.max_answer_length, job.no_answer_threshold)
            )
        return results

    # -- metrics ------------------------------------------------------------------------------------------------
    def _gauges(self) -> None:
        if self.metrics:
            self.metrics.set("korqa_queue_size", len(self._jobs))
            self.metrics.set("korqa_queue_windows", sum(len(j.pending) for j in self._jobs if j.live))

    def _count(self, name: str) -> None:
        if self.metrics:
            self.metrics.inc(name)
