"""Unicode forms: the model reads NFC, answers point into the text the user sent.

Hangul typed on macOS or copied from some PDFs arrives decomposed (NFD: 년 as ᄂ + ᅧ + ᆫ). The tokenizers were
trained on composed syllables, so an NFD passage tokenizes into jamo and spans end inside syllables. `to_nfc`
composes the text and keeps, for every character of the composed text, the range of original characters it came
from; character offsets found in the composed text map back with `original_span`, always onto whole original
clusters (a syllable is never cut).

Also here: which characters a person can see. Zero-width and format characters (U+200B, U+FEFF, ...) are trimmed
from answer edges, and a passage of nothing else is empty.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

_JAMO_MEDIAL_FINAL = (0x1160, 0x11FF)  # Hangul vowels and final consonants compose with the syllable before them


@dataclass(frozen=True)
class Normalized:
    text: str  # NFC
    starts: np.ndarray | None  # per NFC character: start of its original cluster; None when text was already NFC
    ends: np.ndarray | None  # per NFC character: end of its original cluster

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """[start, end) in the NFC text -> the original characters that produced it."""
        if self.starts is None or start >= end:
            return start, end
        return int(self.starts[start]), int(self.ends[end - 1])


def _starts_cluster(ch: str) -> bool:
    code = ord(ch)
    return unicodedata.combining(ch) == 0 and not (_JAMO_MEDIAL_FINAL[0] <= code <= _JAMO_MEDIAL_FINAL[1])


def to_nfc(text: str) -> Normalized:
    """The NFC form of `text` with a map back to it (no map when `text` is NFC already: the common case)."""
    if unicodedata.is_normalized("NFC", text):
        return Normalized(text, None, None)
    # Clusters: a character that starts one, and everything that may compose or reorder with it.
    bounds = [i for i, ch in enumerate(text) if i == 0 or _starts_cluster(ch)] + [len(text)]
    clusters = [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]
    # A few starters still compose with the character before them (e.g. Bengali U+09BE): merge those clusters.
    merged: list[list[int]] = []
    for lo, hi in clusters:
        if merged:
            plo, phi = merged[-1]
            a, b = text[plo:phi], text[lo:hi]
            if unicodedata.normalize("NFC", a + b) != unicodedata.normalize("NFC", a) + unicodedata.normalize("NFC", b):
                merged[-1][1] = hi
                continue
        merged.append([lo, hi])
    pieces, starts, ends = [], [], []
    for lo, hi in merged:
        piece = unicodedata.normalize("NFC", text[lo:hi])
        pieces.append(piece)
        starts += [lo] * len(piece)
        ends += [hi] * len(piece)
    return Normalized("".join(pieces), np.asarray(starts, np.int64), np.asarray(ends, np.int64))


def is_invisible(ch: str) -> bool:
    """White space, and format / control characters a reader cannot see (zero-width space, BOM, joiners)."""
    return ch.isspace() or unicodedata.category(ch) in ("Cf", "Cc")


def has_visible(text: str) -> bool:
    return any(not is_invisible(ch) for ch in text)


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) without invisible characters at either edge."""
    while start < end and is_invisible(text[start]):
        start += 1
    while end > start and is_invisible(text[end - 1]):
        end -= 1
    return start, end
