"""Windows -> padded batches under a token budget.

Windows are sorted by length (longest first) so each batch pads to a similar length, and a batch holds at most
`max_batch_tokens` tokens including padding. Padding goes to the longest window *in the batch*, never to
max_seq_length as the seed does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from korqa.windows import Window


@dataclass(frozen=True)
class Batch:
    input_ids: np.ndarray  # int64 [batch, length]
    attention_mask: np.ndarray  # int64 [batch, length]
    token_type_ids: np.ndarray  # int64 [batch, length]
    members: list[int]  # index of each row's window in the list given to plan_batches

    @property
    def tokens(self) -> int:
        return int(self.input_ids.size)


def plan_batches(lengths: Sequence[int], max_batch_tokens: int) -> list[list[int]]:
    """Group indices into batches, longest first, so rows * longest <= max_batch_tokens (one row at least)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for index in order:
        if groups and (len(groups[-1]) + 1) * lengths[groups[-1][0]] <= max_batch_tokens:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def collate(windows: Sequence[Window], members: list[int], pad_id: int) -> Batch:
    length = max(len(windows[i]) for i in members)
    input_ids = np.full((len(members), length), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(members), length), dtype=np.int64)
    token_type_ids = np.zeros((len(members), length), dtype=np.int64)
    for row, index in enumerate(members):
        w = windows[index]
        input_ids[row, : len(w)] = w.input_ids
        attention_mask[row, : len(w)] = 1
        token_type_ids[row, : len(w)] = w.token_type_ids
    return Batch(input_ids, attention_mask, token_type_ids, members)


def make_batches(windows: Sequence[Window], max_batch_tokens: int, pad_id: int) -> list[Batch]:
    groups = plan_batches([len(w) for w in windows], max_batch_tokens)
    return [collate(windows, members, pad_id) for members in groups]
