import numpy as np

from korqa.batching import collate, plan_batches
from korqa.runtime import run_windows
from korqa.windows import Window


def window(n):
    return Window(np.arange(1, n + 1), np.zeros(n, dtype=np.int64), 1, np.zeros((max(n - 2, 0), 2), np.int64), 0, 0)


def test_batches_pad_to_the_longest_window_in_the_batch_not_max_seq_length():
    windows = [window(5), window(9), window(7)]
    (members,) = plan_batches([len(w) for w in windows], max_batch_tokens=1000)
    batch = collate(windows, members, pad_id=0)
    assert batch.input_ids.shape == (3, 9)
    assert batch.attention_mask.sum(axis=1).tolist() == [9, 7, 5]
    assert batch.members == [1, 2, 0]
    assert batch.input_ids[2, 5:].tolist() == [0] * 4


def test_token_budget_splits_batches_and_keeps_each_window_once():
    lengths = [100, 90, 80, 10, 10, 10, 120]
    groups = plan_batches(lengths, max_batch_tokens=250)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for g in groups:
        assert len(g) == 1 or len(g) * max(lengths[i] for i in g) <= 250


def test_a_window_over_the_budget_still_gets_a_batch_of_its_own():
    assert plan_batches([500, 10], max_batch_tokens=100) == [[0], [1]]


class EchoRuntime:
    """Start logits = the input ids, end logits = their negation: shows which row went where."""

    name, uses_token_type_ids = "echo", False

    def __init__(self):
        self.shapes = []

    def forward(self, batch):
        self.shapes.append(batch.input_ids.shape)
        ids = batch.input_ids.astype(np.float32)
        return ids, -ids


def test_run_windows_puts_each_windows_logits_back_in_order_and_cut_to_its_length():
    windows = [window(n) for n in (5, 30, 9, 30, 2)]
    runtime = EchoRuntime()
    done = []
    starts, ends = run_windows(runtime, windows, pad_id=0, max_batch_tokens=64, progress=done.append)
    for w, s, e in zip(windows, starts, ends, strict=True):
        assert s.tolist() == w.input_ids.tolist() and e.tolist() == (-w.input_ids).tolist()
    assert all(rows * length <= 64 for rows, length in runtime.shapes) and len(runtime.shapes) > 1
    assert sum(done) == len(windows)
