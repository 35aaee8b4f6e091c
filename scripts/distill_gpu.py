"""The one-shot GPU session behind MODEL_CARD.md's "four more runs and a distilled student" table.

Fine-tunes several teachers, distils them into one student (`korqa train --teachers`), scores each on val with the
serving decoder and brings back the best model's weights as fp16 parts under 16 MB. Every model is trained by
`python -m korqa.cli train`, so each run is reproducible on the CPU with the command line logged in
results.json. It adapts to a deadline (BUDGET seconds): it never starts a run it cannot finish.

Inputs: either the packed files a device session carries in PACKED (default: this script's folder) --
base16.safetensors.xz (the base encoder in fp16), tokenizer.json.xz, config.json, NOTICE, train.json.xz,
val.json.xz -- or, for a dry run anywhere, BASE (model dir), TRAIN and VAL (SQuAD JSON). Output goes to OUT.
"""

import json
import lzma
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: import korqa
T0 = time.time()
BUDGET = float(os.environ.get("BUDGET", "530"))
OUT = Path(os.environ.get("OUT", "/tmp/out"))
OUT.mkdir(parents=True, exist_ok=True)
WORK = Path(os.environ.get("WORK", "/tmp/k"))
HERE = Path(os.environ.get("PACKED", Path(__file__).resolve().parent))
WINDOW = os.environ.get("WINDOW", "--max-seq-length 384 --doc-stride 256 --max-query-length 64").split()
EXTRA = os.environ.get("EXTRA", "").split()
results: dict = {"runs": {}, "commands": {}}
driver_log = open(OUT / "driver.log", "a")  # noqa: SIM115 -- open for the whole run, flushed per line


def say(msg: str) -> None:
    line = f"[{time.time() - T0:6.1f}s] {msg}"
    print(line, flush=True)
    driver_log.write(line + "\n")
    driver_log.flush()


def left() -> float:
    return BUDGET - (time.time() - T0)


def dump() -> None:
    (OUT / "results.json").write_text(json.dumps(results, indent=1))


def unpack() -> tuple[Path, Path, Path]:
    base = WORK / "base"
    base.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import load, save_file

    if (HERE / "base16.safetensors.xz").exists():
        sd = load(lzma.decompress((HERE / "base16.safetensors.xz").read_bytes()))
        sd = {k: v.float().contiguous() for k, v in sd.items()}  # trained in fp32, like on the CPU
        save_file(sd, str(base / "model.safetensors"), metadata={"format": "pt"})
        (base / "tokenizer.json").write_bytes(lzma.decompress((HERE / "tokenizer.json.xz").read_bytes()))
        for name in ("config.json", "NOTICE"):
            shutil.copy(HERE / name, base / name)
        data = {}
        for name in ("train", "val"):
            data[name] = WORK / f"{name}.json"
            data[name].write_bytes(lzma.decompress((HERE / f"{name}.json.xz").read_bytes()))
        return base, data["train"], data["val"]
    # local dry run: BASE, TRAIN, VAL given directly
    return Path(os.environ["BASE"]), Path(os.environ["TRAIN"]), Path(os.environ["VAL"])


def train(name: str, base: Path, train_file: Path, val_file: Path, args: list[str]) -> dict | None:
    out = WORK / name
    cmd = ["korqa", "train", "--base", str(base), "--train", str(train_file), "--val", str(val_file)]
    cmd += ["--out", str(out), *WINDOW, "--save-steps", "100000", *args, *EXTRA]
    results["commands"][name] = " ".join(cmd)
    say(f"start {name}: {' '.join(args)}")
    started = time.time()
    with open(WORK / f"{name}.log", "w") as logf:
        proc = subprocess.run([sys.executable, "-m", "korqa.cli", *cmd[1:]], stdout=logf, stderr=subprocess.STDOUT)
    seconds = time.time() - started
    keep_log(name)
    if proc.returncode != 0:
        say(f"{name} FAILED rc={proc.returncode} after {seconds:.0f}s")
        results["runs"][name] = {"failed": proc.returncode, "seconds": seconds}
        dump()
        return None
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    run = {"seconds": round(seconds, 1), "epochs": metrics, "dir": str(out / "model")}
    results["runs"][name] = run
    last = metrics[-1]
    say(f"done {name} in {seconds:.0f}s: raw EM {last['exact_match']:.2f} F1 {last['f1']:.2f}")
    dump()
    return run


def keep_log(name: str) -> None:
    """The run's log without progress-bar redraws, appended to $OUT/train.log."""
    text = (WORK / f"{name}.log").read_text(errors="replace")
    lines = []
    for raw in text.splitlines():
        part = raw.split("\r")[-1]
        if "it/s]" in part or "s/it]" in part or "%|" in part:
            continue
        lines.append(part)
    with open(OUT / "train.log", "a") as f:
        f.write(f"===== {name}\n" + "\n".join(lines[-60:]) + "\n")


def gpu_engine(model_dir: Path):
    """The serving engine on a model directory, on the GPU when there is one, with GPU-sized batches."""
    import dataclasses

    import torch

    from korqa.engine import QAEngine
    from korqa.models import load_model
    from korqa.runtime import TorchRuntime

    loaded = load_model(str(model_dir))
    if torch.cuda.is_available():  # TorchRuntime sends its inputs wherever the model is
        loaded = dataclasses.replace(loaded, runtime=TorchRuntime(loaded.runtime.model.to("cuda")))
    return QAEngine(loaded, loaded.config.with_(max_batch_tokens=32768))


def evaluate(model_dir: Path, val_file: Path, label: str) -> dict:
    """EM/F1 with the model's boundary rules, through the serving engine."""
    from korqa.evaluate import predict, read_squad, score

    items = read_squad(val_file)
    predictions: dict = {}
    predict(gpu_engine(model_dir), items, predictions, None, chunk=64)
    result = score(items, predictions)
    say(f"eval {label}: EM {result['exact_match']:.2f} F1 {result['f1']:.2f} (boundary rules)")
    return result


def ensemble_eval(model_dirs: list[Path], val_file: Path) -> dict:
    """Mean logits of several models (the ceiling a distilled student aims at)."""
    import numpy as np

    from korqa.engine import as_question
    from korqa.evaluate import read_squad, score

    items = read_squad(val_file)
    questions = [as_question(x.question, x.context) for x in items]
    engines = [gpu_engine(d) for d in model_dirs]
    first = engines[0]
    windows = [first.windows_for(q) for q in questions]
    flat = [w for ws in windows for w in ws]
    sums_s, sums_e = None, None
    for e in engines:
        s, en = e.logits(flat)
        sums_s = s if sums_s is None else [a + b for a, b in zip(sums_s, s, strict=True)]
        sums_e = en if sums_e is None else [a + b for a, b in zip(sums_e, en, strict=True)]
    predictions, offset = {}, 0
    for item, q, ws in zip(items, questions, windows, strict=True):
        n = len(ws)
        st = [np.asarray(x) / len(engines) for x in sums_s[offset : offset + n]]
        en = [np.asarray(x) / len(engines) for x in sums_e[offset : offset + n]]
        result = first.decode(q, ws, st, en)
        predictions[item.id] = result.answers[0].text if result.answers else ""
        offset += n
    result = score(items, predictions)
    say(f"eval ensemble of {len(engines)}: EM {result['exact_match']:.2f} F1 {result['f1']:.2f} (boundary rules)")
    return result


def ship(model_dir: Path, label: str, scores: dict) -> None:
    """fp16 weights in parts under 16 MB (the limit on files coming back)."""
    from safetensors.torch import load_file, save_file

    sd = load_file(str(model_dir / "model.safetensors"))
    for old in OUT.glob("part*.safetensors"):
        old.unlink()
    parts, current, size = [], {}, 0
    for k in sorted(sd):
        t = sd[k].half().contiguous()
        n = t.numel() * 2
        if current and size + n > 15_500_000:
            parts.append(current)
            current, size = {}, 0
        current[k] = t
        size += n
    parts.append(current)
    for i, part in enumerate(parts):
        save_file(part, str(OUT / f"part{i}.safetensors"), metadata={"format": "pt"})
    results["shipped"] = {"label": label, "dir": str(model_dir), "parts": len(parts), **scores}
    dump()
    say(f"shipped {label} ({len(parts)} parts)")


def main() -> None:
    import torch

    say(f"python {sys.version.split()[0]} torch {torch.__version__} cuda {torch.cuda.is_available()}")
    if torch.cuda.is_available():
        say(torch.cuda.get_device_name(0))
    import tokenizers
    import transformers

    say(f"transformers {transformers.__version__} tokenizers {tokenizers.__version__}")
    base, train_file, val_file = unpack()
    say("unpacked")
    teacher_plan = [
        ("t1", ["--seed", "1", "--lr", "1.5e-4", "--epochs", "4"]),
        ("t2", ["--seed", "2", "--lr", "2e-4", "--epochs", "4"]),
        ("t3", ["--seed", "3", "--lr", "1e-4", "--epochs", "5"]),
        ("t4", ["--seed", "4", "--lr", "1.5e-4", "--epochs", "5"]),
        ("t5", ["--seed", "5", "--lr", "2.5e-4", "--epochs", "4"]),
        ("t6", ["--seed", "6", "--lr", "1.5e-4", "--epochs", "4"]),
    ]
    student_epochs = 5
    per_epoch = None  # seconds per epoch, start-up included (an overestimate, on purpose), from the first run
    startup = 0.0
    best = None  # (score, label, dir, scores)
    teachers: list[Path] = []

    def consider(label: str, model_dir: Path) -> None:
        nonlocal best
        scores = evaluate(model_dir, val_file, label)
        results["runs"].setdefault(label, {})["rules"] = scores
        dump()
        key = scores["exact_match"] + scores["f1"]
        if best is None or key > best[0]:
            best = (key, label, model_dir, scores)
            ship(model_dir, label, scores)

    for name, args in teacher_plan:
        epochs = float(args[args.index("--epochs") + 1])
        if per_epoch is not None:
            student_cost = startup + student_epochs * per_epoch * 1.1 + 5 * len(teachers) + 25
            need = startup + epochs * per_epoch + student_cost + 20
            if left() < need:
                say(f"skip {name}: {left():.0f}s left, needs {need:.0f}s with the student")
                break
        run = train(name, base, train_file, val_file, args)
        if run is None:
            continue
        if per_epoch is None:
            per_epoch = run["seconds"] / epochs
            say(f"measured {per_epoch:.1f}s per epoch (incl. validation)")
        teachers.append(Path(run["dir"]))
        consider(name, Path(run["dir"]))  # the first one: something to bring back early
    if len(teachers) >= 2:
        results["ensemble"] = ensemble_eval(teachers, val_file)
        dump()
        student_args = ["--seed", "42", "--lr", "1.5e-4", "--epochs", str(student_epochs)]
        student_args += ["--teachers", *map(str, teachers), "--distill-alpha", "0.5", "--distill-temperature", "2"]
        run = train("s1", base, train_file, val_file, student_args)
        if run is not None:
            consider("s1", Path(run["dir"]))
        if per_epoch is not None and left() > startup + student_epochs * per_epoch * 1.1 + 40:
            student_args = ["--seed", "43", "--lr", "1.5e-4", "--epochs", str(student_epochs)]
            student_args += ["--teachers", *map(str, teachers), "--distill-alpha", "0", "--distill-temperature", "1"]
            run = train("s2", base, train_file, val_file, student_args)
            if run is not None:
                consider("s2", Path(run["dir"]))
    dump()
    say(f"finished, {left():.0f}s left")


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001
        import traceback

        say("driver failed: " + "".join(traceback.format_exception(exc)))
        dump()
        raise
