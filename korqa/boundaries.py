"""Character-level answer boundaries, learned from training data. Pure functions.

A model picks spans of whole tokens, but subword pieces can glue a particle to a noun (XLM-R: "▁1990" "년에",
"상을"), so the gold answer "1990년" ends *inside* the model's last token "년에". From the training answers we
count, for each short suffix (1-3 characters) inside the last token of the token-aligned span, how often the gold
answer stops right before it; a suffix is cut at inference when that happened in most training cases (and often
enough to trust). Prefixes likewise, inside the first token.

Only cuts *inside* a token: a whole token (a standalone "의" piece) was the model's own choice, and the gold
alignment never teaches cutting one. And a suffix rule is too coarse for some tokens: "의" is cut off "년의" but is
part of the piece "주의" (민주주의, -ism) and "회의" (meeting). So we also count each frequent last token on its
own and keep, as `tokens`, those whose own decision (how many characters to cut) differs from the suffix rules'.

The rules are saved with the model (korqa.json, "boundaries").
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
    tokens: dict[str, int] = field(default_factory=dict)  # last token -> characters to cut, where suffixes disagree

    def count(self) -> int:
        return len(self.suffixes) + len(self.prefixes) + len(self.tokens)

    def to_json(self) -> dict:
        return {"suffixes": self.suffixes, "prefixes": self.prefixes, "tokens": self.tokens}

    @classmethod
    def from_json(cls, data: dict | None) -> BoundaryRules | None:
        if not data:
            return None
        return cls(dict(data.get("suffixes", {})), dict(data.get("prefixes", {})), dict(data.get("tokens", {})))


@dataclass(frozen=True)
class AlignedAnswer:
    """A training answer: gold [start, end) and the token-aligned span [token_start, token_end) around it.

    `last_token_start` / `first_token_end`: where the span's last token starts and its first token ends
    (None: the span is one token)."""

    context: str
    start: int
    end: int
    token_start: int
    token_end: int
    last_token_start: int | None = None
    first_token_end: int | None = None


def learn(answers: Iterable[AlignedAnswer], min_count: int = 5, min_share: float = 0.5) -> BoundaryRules:
    seen_end: Counter[str] = Counter()
    cut_end: Counter[str] = Counter()
    seen_start: Counter[str] = Counter()
    cut_start: Counter[str] = Counter()
    seen_token: Counter[str] = Counter()
    cut_token: Counter[tuple[str, int]] = Counter()
    for a in answers:
        last = a.token_start if a.last_token_start is None else a.last_token_start
        first = a.token_end if a.first_token_end is None else a.first_token_end
        for k in range(1, MAX_AFFIX + 1):
            if a.token_end - k > max(a.token_start, last):
                suffix = a.context[a.token_end - k : a.token_end]
                seen_end[suffix] += 1
                cut_end[suffix] += a.end == a.token_end - k
            if a.token_start + k < min(a.token_end, first):
                prefix = a.context[a.token_start : a.token_start + k]
                seen_start[prefix] += 1
                cut_start[prefix] += a.start == a.token_start + k
        token = a.context[last : a.token_end]
        seen_token[token] += 1
        if 0 < a.token_end - a.end <= MAX_AFFIX and a.end > last:
            cut_token[token, a.token_end - a.end] += 1

    def rules(seen: Counter, cut: Counter) -> dict[str, float]:
        return {
            x: round(cut[x] / seen[x], 3)
            for x in seen
            if cut[x] >= min_count and cut[x] / seen[x] >= min_share and not x.isspace()
        }

    suffixes = rules(seen_end, cut_end)
    tokens = {}
    for token, n in seen_token.items():
        if n < min_count:
            continue
        cuts, k = max((cut_token[token, k], k) for k in range(1, MAX_AFFIX + 1))
        own = k if cuts / n >= min_share else 0
        if own != len(token) - _cut_suffix(suffixes, token, 0, len(token)):
            tokens[token] = own
    return BoundaryRules(suffixes, rules(seen_start, cut_start), dict(sorted(tokens.items())))


def _cut_suffix(suffixes: dict[str, float], context: str, last: int, end: int) -> int:
    """`end` minus the longest suffix rule that leaves part of the last token [last, end)."""
    for k in range(MAX_AFFIX, 0, -1):
        if end - k > last and context[end - k : end] in suffixes:
            return end - k
    return end


def apply(
    rules: BoundaryRules,
    context: str,
    start: int,
    end: int,
    last_token_start: int | None = None,
    first_token_end: int | None = None,
) -> tuple[int, int]:
    """[start, end) with at most one learned cut inside its last token and one inside its first; never empty.

    The last token's own rule wins over the suffix rules; of those, the longest. Without token positions the
    span counts as one token."""
    last = start if last_token_start is None else max(start, last_token_start)
    token = context[last:end]
    if token in rules.tokens:
        end = max(end - rules.tokens[token], last + 1)
    else:
        end = _cut_suffix(rules.suffixes, context, last, end)
    first = end if first_token_end is None else min(end, first_token_end)
    for k in range(MAX_AFFIX, 0, -1):
        if start + k < first and context[start : start + k] in rules.prefixes:
            start += k
            break
    return start, end
