"""The default model's vocabulary on text it was not pruned for: mixed Korean/English/hanja/emoji/symbol lines
(tests/data/mixed_script.txt, written for this test) segment like the full multilingual-e5 tokenizer, and
`recipes.widen_vocab` adds pieces without moving what the model computes for the old ones."""

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from korqa.models import EMBEDDED as DEFAULT_MODEL_DIR
from recipes import convert_e5, widen_vocab

MIXED = (Path(__file__).parent / "data" / "mixed_script.txt").read_text().splitlines()
COMMON = [
    "李舜臣",
    "訓民正音",
    "大韓民國",
    "😀",
    "🎉",
    "❤",
    "①",
    "℃",
    "㎍",
    "₩",
    "★",
    "→",
    "※",
    "Kubernetes",
    "billion",
    "Michigan",
    "Electronics",
    "Memory",
]


@pytest.fixture(scope="module")
def full():
    from semantra_multilingual import get_asset_dir  # the original multilingual-e5 tokenizer.json

    return Tokenizer.from_file(f"{get_asset_dir()}/tokenizer.json")


@pytest.fixture(scope="module")
def shipped():
    return Tokenizer.from_file(str(DEFAULT_MODEL_DIR / "tokenizer.json"))


def unk(tokenizer: Tokenizer, text: str) -> int:
    return tokenizer.encode(text, add_special_tokens=False).ids.count(tokenizer.token_to_id("<unk>"))


@pytest.mark.parametrize("text", COMMON)
def test_common_hanja_emoji_symbols_and_latin_words_are_not_unk(shipped, full, text):
    assert unk(full, text) == 0
    assert unk(shipped, text) == 0, shipped.encode(text, add_special_tokens=False).tokens


def test_mixed_script_text_segments_like_the_full_tokenizer(shipped, full):
    ours = shipped.encode_batch(MIXED, add_special_tokens=False)
    theirs = full.encode_batch(MIXED, add_special_tokens=False)
    assert sum(unk(shipped, t) for t in MIXED) == sum(unk(full, t) for t in MIXED)  # only what XLM-R lacks
    assert sum(len(e.ids) for e in ours) <= 1.02 * sum(len(e.ids) for e in theirs)
    english = [i for i, t in enumerate(MIXED) if t.isascii()]
    assert sum(len(ours[i].ids) for i in english) <= 1.05 * sum(len(theirs[i].ids) for i in english)
    same = sum(a.tokens == b.tokens for a, b in zip(ours, theirs, strict=True))
    assert same >= 0.75 * len(MIXED)


@pytest.fixture(scope="module")
def e5():
    return convert_e5.read()


def test_general_pieces_hold_every_single_character(e5):
    keep = convert_e5.general_pieces(e5)
    singles = {i for i, p in enumerate(e5.pieces) if len(p.lstrip("▁")) == 1}
    assert singles <= keep
    hangul = {i for i, p in enumerate(e5.pieces) if any("가" <= ch <= "힣" for ch in p)}
    assert hangul <= keep
    assert len(keep) < 30_000  # not the whole 250k


def test_widening_keeps_old_ids_and_rows_and_appends_the_base_rows(e5, tmp_path):
    """On a pruned conversion (a Hugging Face dir): old ids and rows stay, new rows are e5's own."""
    from safetensors.numpy import load_file

    src = convert_e5.convert(tmp_path / "base", prune_texts=["대한민국의 수도는 서울이다."])
    added = widen_vocab.widen(src, tmp_path / "wide", english=2000)
    old = Tokenizer.from_file(str(src / "tokenizer.json"))
    new = Tokenizer.from_file(str(tmp_path / "wide" / "tokenizer.json"))
    assert new.get_vocab_size() == old.get_vocab_size() + added and added > 10_000
    assert all(new.token_to_id(p) == i for p, i in old.get_vocab().items())
    name = "embeddings.word_embeddings.weight"
    a, b = load_file(src / "model.safetensors")[name], load_file(tmp_path / "wide" / "model.safetensors")[name]
    assert np.array_equal(b[: len(a)], a)
    word = e5.tensor("emb.word", (e5.vocab, e5.hidden))
    for piece in ("李", "😀", "▁because"):
        assert np.array_equal(b[new.token_to_id(piece)], word[e5.pieces.index(piece)])
    assert unk(new, "李舜臣 😀 ① ℃") == 0 and unk(old, "李舜臣 😀 ① ℃") > 0


def test_widening_an_openvino_int8_table_leaves_the_old_ids_logits_alone(tmp_path):
    """The shipped IR's int8 embedding table with per-row scales, three rows appended: the same logits for ids
    that existed, and the new ids compute."""
    import openvino as ov

    rows = np.random.default_rng(0).normal(0, 0.05, (3, 384)).astype(np.float32)
    widen_vocab.widen_openvino(DEFAULT_MODEL_DIR, tmp_path, rows)
    core = ov.Core()
    before, after = (core.compile_model(str(d / "model.xml"), "CPU") for d in (DEFAULT_MODEL_DIR, tmp_path))
    n = Tokenizer.from_file(str(DEFAULT_MODEL_DIR / "tokenizer.json")).get_vocab_size()
    ids = np.array([[0, 1000, 2000, n - 1, 2]])
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    for x, y in zip(before(feed).values(), after(feed).values(), strict=True):
        assert np.array_equal(x, y)
    feed["input_ids"] = np.array([[0, n, n + 1, n + 2, 2]])
    assert all(np.isfinite(v).all() for v in after(feed).values())
    q, scale = widen_vocab.int8_rows(rows)
    assert np.abs(q * scale - rows).max() <= scale.max() / 2 + 1e-7
