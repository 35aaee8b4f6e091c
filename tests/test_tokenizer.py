import json

import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from korqa.errors import ModelLoadError
from korqa.tokenizer import QATokenizer, load_tokenizer, wordpiece_from_vocab
from tests.support import tiny


@pytest.fixture
def vocab_dir(tmp_path):
    tiny.write_vocab(tmp_path / "vocab.txt")
    return tmp_path


def test_wordpiece_from_vocab_holds_the_whole_vocabulary(vocab_dir):
    # transformers 5's BertTokenizerFast(vocab_file=...) was seen building a 5-token vocab (all [UNK]).
    lines = (vocab_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tok = load_tokenizer(vocab_dir)
    assert tok.vocab_size == len(lines)
    assert tok.unk_id not in tok.encode("한국어 대학교")[0]


def test_hangul_is_not_decomposed_or_lowercased(vocab_dir):
    tok = load_tokenizer(vocab_dir)
    assert tok.tokens("한국어 ABC") == ["한", "##국", "##어", "A", "##B", "##C"]


def test_tokenizer_config_lowercase_is_respected_but_accents_never_stripped(vocab_dir):
    (vocab_dir / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    tok = load_tokenizer(vocab_dir)
    assert tok.tokens("한국 AB") == ["한", "##국", "a", "##b"]


def test_bert_layout_is_cls_question_sep_passage_sep(vocab_dir):
    tok = load_tokenizer(vocab_dir)
    cls, sep = tok.backend.token_to_id("[CLS]"), tok.backend.token_to_id("[SEP]")
    layout = tok.layout
    assert (layout.prefix, layout.middle, layout.suffix) == ((cls,), (sep,), (sep,))
    assert (layout.question_type, layout.passage_type) == (0, 1)


def test_roberta_layout_is_read_from_the_post_processor():
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "a": 4, "b": 5}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    layout = QATokenizer(backend).layout
    assert (layout.prefix, layout.middle, layout.suffix) == ((0,), (2, 2), (2,))


def test_tokenizer_without_template_is_refused():
    backend = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    with pytest.raises(ModelLoadError, match="no special tokens"):
        QATokenizer(backend)


def test_tokenizer_json_with_accent_stripping_is_patched(vocab_dir):
    backend = wordpiece_from_vocab(vocab_dir / "vocab.txt")
    backend.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    backend.save(str(vocab_dir / "tokenizer.json"))
    tok = load_tokenizer(vocab_dir)
    assert tok.tokens("한국") == ["한", "##국"]


def test_special_token_text_in_a_passage_stays_text(vocab_dir):
    tok = load_tokenizer(vocab_dir)
    ids, offsets = tok.encode("가 [SEP] 나")
    assert tok.backend.token_to_id("[SEP]") not in ids
    assert offsets[0] == (0, 1) and offsets[-1] == (8, 9)


def test_vocab_without_bert_specials_is_refused(tmp_path):
    (tmp_path / "vocab.txt").write_text("가\n나\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"\[UNK\]"):
        load_tokenizer(tmp_path)
