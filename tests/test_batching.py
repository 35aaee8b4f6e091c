import numpy as np

from korqa.batching import make_batches, plan_batches
from korqa.windows import Window


def window(n):
    return Window(np.arange(1, n + 1), np.zeros(n, dtype=np.int64), 1, np.zeros((max(n - 2, 0), 2), np.int64), 0, 0)


def test_batches_pad_to_the_longest_window_in_the_batch_not_max_seq_length():
    (batch,) = make_batches([window(5), window(9), window(7)], max_batch_tokens=1000, pad_id=0)
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
