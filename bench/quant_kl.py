"""How far int8 exports drift from their fp32 model, measured on *training* windows (never the evaluation data):
the mean KL(fp32 || int8) of the start and end distributions per window, and how often the argmax start/end moves.
Used to choose export settings (e.g. --smooth-alpha) without looking at val.

    .venv/bin/python -m bench.quant_kl --fp32 runs/soup4 --train TRAIN.json runs/soup4-int8-a07 runs/soup4-int8-a08

The windows come from --questions training questions drawn with --seed 1 (export calibrates on seed 0), batched
as the engine batches them, so dynamic int8 sees serving-sized batches.
"""

from __future__ import annotations

import argparse

import numpy as np


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def drift(ref: tuple[list, list], got: tuple[list, list], windows) -> dict:
    kls, moved = [], 0
    for i, w in enumerate(windows):
        n = len(w)
        for side in (0, 1):
            p, q = log_softmax(ref[side][i][:n].astype(np.float64)), log_softmax(got[side][i][:n].astype(np.float64))
            kls.append(float((np.exp(p) * (p - q)).sum()))
            moved += int(p.argmax() != q.argmax())
    return {"kl": float(np.mean(kls)), "argmax_moved": moved / len(kls)}


def main() -> None:
    from korqa.engine import QAEngine
    from korqa.export import calibration_windows
    from korqa.models import load_model

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fp32", required=True, help="the fp32 model the exports came from")
    p.add_argument("--train", required=True, help="training data (SQuAD/KorQuAD JSON)")
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("exports", nargs="+", help="int8 export directories")
    args = p.parse_args()
    reference = load_model(args.fp32)
    windows = calibration_windows(reference, args.train, args.questions, args.seed)
    ref = QAEngine(reference).forward(windows)
    print(f"{len(windows)} windows from {args.questions} training questions (seed {args.seed})")
    print(f"{'export':50s} {'KL':>8s} {'argmax moved':>13s}")
    for d in args.exports:
        r = drift(ref, QAEngine(load_model(d)).forward(windows), windows)
        print(f"{d:50s} {r['kl']:8.5f} {100 * r['argmax_moved']:12.2f}%")


if __name__ == "__main__":
    main()
