"""Dynamic batching across concurrent requests, with a runtime that records what it is asked to compute."""

import random
import threading
from concurrent.futures import CancelledError
from dataclasses import replace

import pytest

from korqa.batcher import Batcher, QueueFull
from korqa.batching import plan_batches
from korqa.config import QAConfig
from korqa.engine import QAEngine, Question
from korqa.metrics import serving_registry
from tests.support import tiny


class RecordingRuntime:
    """The real runtime, plus a log of batch shapes and an optional gate that holds the first batch."""

    def __init__(self, inner, gate: threading.Event | None = None, fail: bool = False):
        self.inner, self.gate, self.fail = inner, gate, fail
        self.name, self.uses_token_type_ids = inner.name, inner.uses_token_type_ids
        self.shapes, self.inputs = [], []
        self.started = threading.Event()

    def forward(self, batch):
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.shapes.append(batch.input_ids.shape)
        self.inputs.append(batch.input_ids)
        if self.fail:
            raise RuntimeError("boom")
        return self.inner.forward(batch)


def questions(n, seed=0, before=(0, 120)):
    rng = random.Random(seed)
    exs = [tiny.make_example(rng, rng.randint(*before), rng.randint(0, 20), True) for _ in range(n)]
    return exs, [Question(ex.question, (ex.context,)) for ex in exs]


def engine_with(tiny_model, runtime, max_batch_tokens=None):
    return QAEngine(replace(tiny_model, runtime=runtime), QAConfig(max_batch_tokens=max_batch_tokens))


def gated(tiny_model, budget=None, **batcher_options):
    """A batcher whose model thread holds its first batch until `gate` is set; `runtime` records every batch."""
    gate = threading.Event()
    runtime = RecordingRuntime(tiny_model.runtime, gate)
    return Batcher(engine_with(tiny_model, runtime, budget), **batcher_options), runtime, gate


def test_concurrent_requests_share_batches_and_get_their_own_answers(tiny_model):
    batcher, runtime, gate = gated(tiny_model, 4096, max_wait_ms=1)
    exs, qs = questions(12)
    futures = [batcher.submit([q]) for q in qs]  # the first batch is held until all are queued
    gate.set()
    for ex, fut in zip(exs, futures, strict=True):
        (result,) = fut.result(timeout=30)
        assert result.answers[0].text == ex.answer_text
        assert set(result.timings) == {"tokenize_ms", "queue_ms", "forward_ms", "decode_ms"}
    assert max(rows for rows, _ in runtime.shapes) > 1
    batcher.close()


def test_batches_respect_the_token_budget(tiny_model):
    runtime = RecordingRuntime(tiny_model.runtime)
    batcher = Batcher(engine_with(tiny_model, runtime, 300), max_wait_ms=5)
    _, qs = questions(10, seed=1)
    for fut in [batcher.submit([q]) for q in qs]:
        fut.result(timeout=30)
    assert all(rows * length <= 300 or rows == 1 for rows, length in runtime.shapes)
    batcher.close()


def test_results_match_the_engine_run_directly(tiny_model, engine):
    batcher = Batcher(QAEngine(tiny_model, QAConfig(max_batch_tokens=2048)))
    _, qs = questions(6, seed=2)
    direct = engine.answer_many(qs, top_k=3)
    queued = batcher.submit(qs, top_k=3).result(timeout=30)
    for a, b in zip(direct, queued, strict=True):
        assert [(x.start, x.end) for x in a.answers] == [(x.start, x.end) for x in b.answers]
        assert [x.score for x in a.answers] == pytest.approx([x.score for x in b.answers], abs=1e-5)
    batcher.close()


def test_waiting_requests_are_sorted_together_so_short_windows_are_not_padded_to_long_ones(tiny_model):
    """Long and short passages arrive alternately while the model is busy; the waiting windows are batched by
    length (the offline engine's plan), not in arrival order, which would pair every long window with a short one.
    The batches run shortest request first and are cut differently, so compare the padding they cost."""
    gate = threading.Event()
    runtime = RecordingRuntime(tiny_model.runtime, gate)
    engine = engine_with(tiny_model, runtime, 400)
    batcher = Batcher(engine, max_wait_ms=0)
    rng = random.Random(7)
    exs = [tiny.make_example(rng, 150 if i % 2 else 0, 0, True) for i in range(9)]
    qs = [Question(ex.question, (ex.context,)) for ex in exs]
    futures = [batcher.submit([qs[0]])]
    assert runtime.started.wait(10)  # the model thread holds the first request's batch
    futures += [batcher.submit([q]) for q in qs[1:]]
    gate.set()
    for ex, fut in zip(exs, futures, strict=True):
        assert fut.result(timeout=30)[0].answers[0].text == ex.answer_text
    lengths = [len(w) for q in qs[1:] for w in engine.windows_for(q)]
    assert max(lengths) > 1.5 * min(lengths)

    def padded(shapes):
        return sum(rows * length for rows, length in shapes)

    planned = [(len(g), lengths[g[0]]) for g in plan_batches(lengths, 400)]  # the offline engine's plan
    in_arrival_order, row = [], []
    for n in lengths:  # what taking windows in arrival order would pad
        if row and (len(row) + 1) * max(*row, n) > 400:
            in_arrival_order.append((len(row), max(row)))
            row = []
        row.append(n)
    in_arrival_order.append((len(row), max(row)))
    ran = runtime.shapes[1:]
    assert sum(rows for rows, _ in ran) == len(lengths)
    assert padded(ran) <= padded(planned) * 1.05 < padded(in_arrival_order), (ran, planned, in_arrival_order)
    batcher.close()


def test_a_request_whose_client_left_is_dropped_before_compute(tiny_model):
    metrics = serving_registry()
    batcher, runtime, gate = gated(tiny_model, 64, max_wait_ms=0, metrics=metrics)
    _, (first, second) = questions(2, seed=3, before=(5, 10))
    kept = batcher.submit([first])
    assert runtime.started.wait(10)  # the model thread is busy with `first`
    dropped = batcher.submit([second])
    batcher.cancel(dropped)
    gate.set()
    kept.result(timeout=30)
    with pytest.raises(CancelledError):
        dropped.result(timeout=30)
    second_ids = set(QAEngine(tiny_model).windows_for(second)[0].input_ids.tolist())
    assert len(runtime.shapes) == 1 or all(set(x.ravel().tolist()) != second_ids for x in runtime.inputs[1:])
    assert "korqa_dropped_total 1" in metrics.render()
    batcher.close()


def test_a_full_queue_refuses_new_requests(tiny_model):
    batcher, runtime, gate = gated(tiny_model, max_queue=2, max_wait_ms=0)
    _, qs = questions(3, seed=4)
    batcher.submit([qs[0]])
    assert runtime.started.wait(10)
    batcher.submit([qs[1]])
    with pytest.raises(QueueFull, match="max_queue 2"):
        batcher.submit([qs[2]])
    gate.set()
    batcher.close()


def test_a_failing_batch_fails_its_requests_and_the_batcher_keeps_serving(tiny_model):
    runtime = RecordingRuntime(tiny_model.runtime, fail=True)
    batcher = Batcher(engine_with(tiny_model, runtime))
    exs, qs = questions(2, seed=5)
    with pytest.raises(RuntimeError, match="boom"):
        batcher.submit([qs[0]]).result(timeout=30)
    runtime.fail = False
    (result,) = batcher.submit([qs[1]]).result(timeout=30)
    assert result.answers[0].text == exs[1].answer_text
    batcher.close()


def test_metrics_record_batches_and_stages(tiny_model, engine):
    metrics = serving_registry()
    batcher = Batcher(
        QAEngine(tiny_model, QAConfig(max_batch_tokens=8192)), metrics=metrics
    )  # room for all windows in one batch
    _, qs = questions(3, seed=6)
    batcher.submit(qs).result(timeout=30)
    text = metrics.render()
    assert "korqa_batch_size_count 1" in text
    assert 'korqa_stage_seconds_count{stage="forward"} 1' in text
    assert "korqa_queue_size 0" in text
    batcher.close()


def test_a_small_request_is_not_stuck_behind_a_large_one(tiny_model):
    """A request of many windows is running when a one-window request arrives: the small one runs in the next
    batch, not after all of the large one's batches."""
    batcher, runtime, gate = gated(tiny_model, 128, max_wait_ms=0)
    rng = random.Random(11)
    large = [Question(*ex) for ex in ((e.question, (e.context,) * 8) for e in [tiny.make_example(rng, 150, 0, True)])]
    small_ex = tiny.make_example(rng, 0, 0, True)
    large_future = batcher.submit(large)
    assert runtime.started.wait(10)  # the model thread holds the large request's first batch
    small = Question(small_ex.question, (small_ex.context,))
    small_future = batcher.submit([small])
    gate.set()
    assert small_future.result(timeout=30)[0].answers[0].text == small_ex.answer_text
    large_future.result(timeout=30)
    (window,) = QAEngine(tiny_model).windows_for(small)
    rows = [
        i
        for i, batch in enumerate(runtime.inputs)
        if any(r[: len(window)].tolist() == window.input_ids.tolist() for r in batch)
    ]
    assert len(runtime.inputs) > 8 and rows == [1], (rows, len(runtime.inputs))  # right after the batch in flight
    batcher.close()


def test_a_request_over_the_window_budget_is_refused_naming_it(tiny_model):
    from korqa.errors import LimitError

    batcher = Batcher(QAEngine(tiny_model), max_request_windows=3)
    _, qs = questions(4, seed=8)
    with pytest.raises(LimitError, match=r"more than max_request_windows \(3\) windows") as err:
        batcher.submit(qs)
    assert err.value.limit == "max_request_windows"
    fits = [q for q in qs if len(batcher.engine.windows_for(q)) <= 3][:1]
    assert fits and batcher.submit(fits).result(timeout=30)
    batcher.close()


def test_a_request_past_its_deadline_fails_and_its_windows_are_not_computed(tiny_model):
    from korqa.batcher import DeadlineExceeded

    metrics = serving_registry()
    batcher, runtime, gate = gated(tiny_model, 64, max_wait_ms=0, metrics=metrics)
    _, (first, late) = questions(2, seed=9, before=(5, 10))
    kept = batcher.submit([first])
    assert runtime.started.wait(10)
    expired = batcher.submit([late], timeout=0.05)
    threading.Event().wait(0.2)  # its deadline passes while the model is busy
    gate.set()
    kept.result(timeout=30)
    with pytest.raises(DeadlineExceeded, match="request timeout"):
        expired.result(timeout=30)
    late_ids = set(QAEngine(tiny_model).windows_for(late)[0].input_ids.tolist())
    assert all(set(x.ravel().tolist()) != late_ids for x in runtime.inputs)
    assert "korqa_timed_out_total 1" in metrics.render()
    batcher.close()


def test_closing_fails_unfinished_requests_cleanly(tiny_model):
    from korqa.batcher import ShuttingDown

    batcher, runtime, gate = gated(tiny_model, 64, max_wait_ms=0)
    _, (first, waiting) = questions(2, seed=10, before=(5, 10))
    batcher.submit([first])
    assert runtime.started.wait(10)
    pending = batcher.submit([waiting])
    threading.Timer(0.2, gate.set).start()
    batcher.close("stopping for the test")
    with pytest.raises(ShuttingDown, match="stopping for the test"):
        pending.result(timeout=30)
    with pytest.raises(ShuttingDown):
        batcher.submit([waiting])
