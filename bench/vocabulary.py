"""How a pruned tokenizer segments text against the full multilingual-e5 tokenizer (250,002 pieces).

    .venv/bin/python -m bench.vocabulary --before OLD/tokenizer.json

For each text set: `<unk>` per 10k tokens, tokens per character, and tokens relative to the full tokenizer.
Text sets (each only where present): tests/data/mixed_script.txt (Korean news-style lines with English, hanja,
emoji, symbols; written for this test, never used for pruning) and its all-English lines; the Korean legal texts
shipped in the `konlpy` wheel (constitution + 10 bills; `pip install --no-deps konlpy==0.6.0`); KorQuAD val.
Tokenizers: the full one, `--before` if given, the shipped one, and "recipe, train only": what the shipped
vocabulary's recipe gives when KorQuAD val is left out of the pruning text, so the val row is held out.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from tokenizers import Tokenizer

from recipes import convert_e5

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "korquad"


def text_sets(val: Path) -> dict[str, list[str]]:
    mixed = (ROOT / "tests" / "data" / "mixed_script.txt").read_text().splitlines()
    sets = {"mixed-script sample": mixed, "its English lines": [line for line in mixed if line.isascii()]}
    spec = importlib.util.find_spec("konlpy")  # located, not imported (importing it needs a JVM)
    if spec and spec.submodule_search_locations:
        corpus = Path(next(iter(spec.submodule_search_locations))) / "data" / "corpus"
        sets["konlpy kolaw + kobill"] = [p.read_text() for p in sorted(corpus.glob("*/*.txt"))]
    if val.exists():
        sets["KorQuAD val"] = korquad_texts(val)
    return sets


def korquad_texts(path: Path) -> list[str]:
    from korqa.data import read_squad

    return sorted({t for item in read_squad(path) for t in (item.context, item.question, *item.answers)})


def measure(tokenizer: Tokenizer, texts: list[str]) -> tuple[int, int, int]:
    """(tokens, <unk> tokens, characters)"""
    unk = tokenizer.token_to_id("<unk>")
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    return sum(len(e.ids) for e in encodings), sum(e.ids.count(unk) for e in encodings), sum(map(len, texts))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=ROOT / "korqa" / "default_model")
    p.add_argument("--before", type=Path, help="another tokenizer.json to compare (e.g. the previous version's)")
    p.add_argument("--train", type=Path, default=DATA / "korquad1_train_100art.json")
    p.add_argument("--val", type=Path, default=DATA / "korquad1_val_20art.json")
    p.add_argument("--english-words", type=int, default=40_000)
    args = p.parse_args()

    e5 = convert_e5.read()
    full = convert_e5.build_tokenizer(e5)
    shipped = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    tokenizers = {"full (250,002)": full}
    if args.before:
        before = Tokenizer.from_file(str(args.before))
        tokenizers[f"before ({before.get_vocab_size():,})"] = before
    tokenizers[f"shipped ({shipped.get_vocab_size():,})"] = shipped
    if args.train.exists():
        keep = convert_e5.choose_pieces(e5, korquad_texts(args.train))
        keep = sorted(set(keep) | convert_e5.general_pieces(e5, convert_e5.english_words(args.english_words)))
        tokenizers[f"recipe, train only ({len(keep):,})"] = convert_e5.build_tokenizer(e5, keep)

    results = []
    print(f"{'text':<24}{'tokenizer':<30}{'tokens':>8}{'<unk>/10k':>11}{'tokens/char':>13}{'x full':>8}")
    for name, texts in text_sets(args.val).items():
        reference = measure(full, texts)[0]
        for label, tokenizer in tokenizers.items():
            tokens, unk, chars = measure(tokenizer, texts)
            row = {
                "text": name,
                "tokenizer": label,
                "tokens": tokens,
                "unk_per_10k": 1e4 * unk / tokens,
                "tokens_per_char": tokens / chars,
                "x_full": tokens / reference,
            }
            results.append(row)
            print(
                f"{name:<24}{label:<30}{tokens:>8}{row['unk_per_10k']:>11.1f}{row['tokens_per_char']:>13.3f}"
                f"{row['x_full']:>8.3f}"
            )
    size = sum(f.stat().st_size for f in args.model.iterdir() if f.name.startswith("model."))
    print(f"\nshipped model files: {size / 1e6:.1f} MB")
    print(json.dumps({"model_bytes": size, "rows": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
