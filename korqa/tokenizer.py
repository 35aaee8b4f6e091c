"""A fast (Rust `tokenizers`) tokenizer plus the special-token layout of a question/passage pair.

Everything downstream needs two things from a tokenizer: token ids with character offsets into the *original*
string (so answers are `context[start:end]`, never `decode`), and where the special tokens go around a pair.
The layout is read off the tokenizer's own post-processor, so BERT ([CLS] q [SEP] p [SEP]) and RoBERTa/XLM-R
(<s> q </s></s> p </s>) work without model-specific code. No torch, no transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from korqa.errors import ModelLoadError


@dataclass(frozen=True)
class PairLayout:
    """Special tokens around `question` and `passage`, with the token type of each part."""

    prefix: tuple[int, ...]
    middle: tuple[int, ...]
    suffix: tuple[int, ...]
    prefix_types: tuple[int, ...]
    middle_types: tuple[int, ...]
    suffix_types: tuple[int, ...]
    question_type: int
    passage_type: int

    @property
    def num_special(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)


class QATokenizer:
    def __init__(self, tokenizer: Tokenizer):
        tokenizer.no_truncation()
        tokenizer.no_padding()
        # User text that happens to contain "[SEP]" or "<s>" must stay text, not become a special token.
        tokenizer.encode_special_tokens = True
        self.backend = tokenizer
        self.layout = _read_layout(tokenizer)
        self.pad_id = _first_id(tokenizer, ("[PAD]", "<pad>")) or 0
        self.unk_id = _first_id(tokenizer, ("[UNK]", "<unk>"))

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size()

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and (start, end) character offsets into `text`, no special tokens."""
        enc = self.backend.encode(text, add_special_tokens=False)
        return enc.ids, enc.offsets

    def tokens(self, text: str) -> list[str]:
        return self.backend.encode(text, add_special_tokens=False).tokens

    def save(self, directory: str | Path) -> None:
        """tokenizer.json, plus a tokenizer_config.json so Hugging Face's AutoTokenizer loads this tokenizer as
        is (without it, transformers 5 builds a WordPiece tokenizer for any `model_type: bert`)."""
        directory = Path(directory)
        self.backend.save(str(directory / "tokenizer.json"))
        token = self.backend.id_to_token
        layout = self.layout
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "cls_token": token(layout.prefix[0]) if layout.prefix else None,
            "sep_token": token(layout.suffix[-1]) if layout.suffix else None,
            "pad_token": token(self.pad_id),
            "unk_token": token(self.unk_id) if self.unk_id is not None else None,
        }
        (directory / "tokenizer_config.json").write_text(
            json.dumps({k: v for k, v in config.items() if v is not None}, indent=2, ensure_ascii=False) + "\n"
        )


def _first_id(tokenizer: Tokenizer, names: tuple[str, ...]) -> int | None:
    for name in names:
        token_id = tokenizer.token_to_id(name)
        if token_id is not None:
            return token_id
    return None


def _read_layout(tokenizer: Tokenizer) -> PairLayout:
    enc = tokenizer.encode("a", "b", add_special_tokens=True)
    seq = enc.sequence_ids
    if None not in seq:
        raise ModelLoadError(
            "the tokenizer adds no special tokens around a question/passage pair (no post-processor); "
            "save it with its template (tokenizer.json from a Hugging Face fast tokenizer)"
        )
    q_pos = [i for i, s in enumerate(seq) if s == 0]
    p_pos = [i for i, s in enumerate(seq) if s == 1]
    ids, types = enc.ids, enc.type_ids

    def part(lo: int, hi: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return tuple(ids[lo:hi]), tuple(types[lo:hi])

    prefix, prefix_t = part(0, q_pos[0])
    middle, middle_t = part(q_pos[-1] + 1, p_pos[0])
    suffix, suffix_t = part(p_pos[-1] + 1, len(ids))
    return PairLayout(prefix, middle, suffix, prefix_t, middle_t, suffix_t, types[q_pos[0]], types[p_pos[0]])


def wordpiece_from_vocab(vocab_file: str | Path, lowercase: bool = False) -> Tokenizer:
    """A BERT WordPiece tokenizer from `vocab.txt`, as `BertTokenizer(do_lower_case=False)` in the nlpbook.

    Accents are never stripped: stripping means NFD, which splits every Hangul syllable into jamo that the
    vocabulary does not hold.
    """
    vocab: dict[str, int] = {}
    with open(vocab_file, encoding="utf-8") as f:
        for index, line in enumerate(f):
            vocab[line.rstrip("\n")] = index
    for needed in ("[UNK]", "[CLS]", "[SEP]"):
        if needed not in vocab:
            raise ModelLoadError(f"{vocab_file} has no {needed} token; is it a BERT vocab.txt?")
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
        if special in vocab:
            tok.add_special_tokens([special])
    if tok.get_vocab_size() < len(vocab):
        raise ModelLoadError(
            f"tokenizer built from {vocab_file} holds {tok.get_vocab_size()} tokens, the file {len(vocab)}"
        )
    return tok


def _never_strip_accents(node: object) -> None:
    """Walk a tokenizer.json normalizer tree and turn BERT accent stripping (NFD) off."""
    if isinstance(node, dict):
        if node.get("type") == "BertNormalizer":
            node["strip_accents"] = False
        for value in node.values():
            _never_strip_accents(value)
    elif isinstance(node, list):
        for value in node:
            _never_strip_accents(value)


def load_tokenizer(model_dir: str | Path) -> QATokenizer:
    """The tokenizer saved beside a model: `tokenizer.json` if present, else a BERT `vocab.txt`."""
    model_dir = Path(model_dir)
    tokenizer_json = model_dir / "tokenizer.json"
    if tokenizer_json.exists():
        spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
        _never_strip_accents(spec.get("normalizer"))
        return QATokenizer(Tokenizer.from_str(json.dumps(spec)))
    vocab_txt = model_dir / "vocab.txt"
    if vocab_txt.exists():
        lowercase = False
        config_file = model_dir / "tokenizer_config.json"
        if config_file.exists():
            lowercase = bool(json.loads(config_file.read_text(encoding="utf-8")).get("do_lower_case", False))
        return QATokenizer(wordpiece_from_vocab(vocab_txt, lowercase=lowercase))
    raise ModelLoadError(f"no tokenizer.json or vocab.txt in {model_dir}")
