"""Character-level answer boundaries, learned from training data. Pure functions.

A model picks spans of whole tokens, but subword pieces can glue a particle to a noun (XLM-R: "▁1990" "년에",
"상을"), so the gold answer "1990년" ends *inside* the model's last token "년에". From the training answers we
count, for each short suffix (1-3 characters) that the token-aligned span ends with, how often the gold answer
stops right before it; a suffix is cut at inference when that happened in most training cases (and often enough
to trust). Prefixes likewise. The rules are saved with the model (korqa.json, "boundaries").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_AFFIX = 3


@dataclass(frozen=True)
class BoundaryRules:
    suffixes: dict[str, float] = field(default_factory=dict)  # suffix -> share of training cases where it was cut
    prefixes: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"suffixes": self.suffixes, "prefixes": self.prefixes}

    @classmethod
    def from_json(cls, data: dict | None) -> BoundaryRules | None:
        if not data:
            return None
        return cls(dict(data.get("suffixes", {})), dict(data.get("prefixes", {})))


@dataclass(frozen=True)
class AlignedAnswer:
    """A training answer: gold [start, end) and the token-aligned span [token_start, token_end) around it."""

    context: str
    start: int
    end: int
    token_start: int
    token_end: int


def learn(answers: Iterable[AlignedAnswer], min_count: int = 5, min_share: float = 0.5) -> BoundaryRules:
    seen_end: Counter[str] = Counter()
    cut_end: Counter[str] = Counter()
    seen_start: Counter[str] = Counter()
    cut_start: Counter[str] = Counter()
    for a in answers:
        for k in range(1, MAX_AFFIX + 1):
            if a.token_end - k > a.token_start:
                suffix = a.context[a.token_end - k : a.token_end]
                seen_end[suffix] += 1
                cut_end[suffix] += a.end == a.token_end - k
            if a.token_start + k < a.token_end:
                prefix = a.context[a.token_start : a.token_start + k]
                seen_start[prefix] += 1
                cut_start[prefix] += a.start == a.token_start + k

    def rules(seen: Counter, cut: Counter) -> dict[str, float]:
        return {
            x: round(cut[x] / seen[x], 3)
            for x in seen
            if cut[x] >= min_count and cut[x] / seen[x] >= min_share and not x.isspace()
        }

    return BoundaryRules(rules(seen_end, cut_end), rules(seen_start, cut_start))


def apply(rules: BoundaryRules, context: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) with at most one learned suffix and one prefix cut (longest rule first); never empty."""
    for k in range(MAX_AFFIX, 0, -1):
        if end - k > start and context[end - k : end] in rules.suffixes:
            end -= k
            break
    for k in range(MAX_AFFIX, 0, -1):
        if start + k < end and context[start : start + k] in rules.prefixes:
            start += k
            break
    return start, end
