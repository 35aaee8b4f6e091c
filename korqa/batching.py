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


def pad(rows: Sequence[Sequence], value: float, dtype=np.int64) -> np.ndarray:
    """Rows of different lengths as one [rows, longest] array, padded on the right with `value`."""
    out = np.full((len(rows), max(len(r) for r in rows)), value, dtype=dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def collate(windows: Sequence[Window], members: list[int], pad_id: int) -> Batch:
    """The windows at `members` as one padded batch (rows in that order)."""
    rows = [windows[i] for i in members]
    return Batch(
        input_ids=pad([w.input_ids for w in rows], pad_id),
        attention_mask=pad([np.ones(len(w.input_ids), np.int64) for w in rows], 0),
        token_type_ids=pad([w.token_type_ids for w in rows], 0),
        members=members,
    )
