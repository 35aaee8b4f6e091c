"""`korqa train`: fine-tune an encoder for extractive QA on SQuAD/KorQuAD-format data (the nlpbook training
chapter, done carefully).

- Windows come from korqa.windows -- the same code that serves -- so training and serving see identical inputs.
  Answer character offsets become token labels through the tokenizer's offsets (answers at character 0 included;
  ratsnlp drops them); a window that does not hold the whole answer is labelled at its first token ([CLS]).
- The loop is Hugging Face's Trainer: AdamW, warm-up + linear decay, gradient accumulation, fixed seed, a progress
  bar with loss, rate and ETA, a checkpoint every --save-steps and --resume to continue in a later process.
- At the end of each epoch the model is scored on --val with the engine's own decoder (EM/F1, official metric).
- --teachers: knowledge distillation. The mean start/end logits of already fine-tuned models (same tokenizer) are
  computed once for every training window, and the loss becomes alpha * gold-label loss + (1 - alpha) * T^2 *
  KL(teachers || model) at temperature T: one model learns what an ensemble knows, at one model's serving cost.
  On an unanswerable question (SQuAD 2.0) the teachers' logits are replaced by the gold answer, [CLS]: teachers
  trained without such questions would teach a span where there is none.
- Runs on a CUDA GPU when one is there (--device auto), else on the CPU cores.
- The output directory is a model `korqa serve --model DIR` loads: weights, tokenizer.json, korqa.json.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from korqa.batching import pad
from korqa.boundaries import AlignedAnswer, BoundaryRules, learn
from korqa.config import QAConfig
from korqa.data import QAItem, read_squad
from korqa.errors import ConfigError, ModelLoadError

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Every `korqa train` setting; each is a command-line option of the same name (`--max-seq-length`, ...)."""

    base: str  # HF encoder dir or hub id (e.g. beomi/kcbert-base)
    train: str  # training data (SQuAD/KorQuAD JSON)
    out: str  # run directory: checkpoints/, metrics.jsonl, model/
    val: str | None = None  # validation data: EM/F1 after every epoch
    max_seq_length: int = 384
    max_query_length: int = 64
    doc_stride: int = 256  # step between windows (see korqa.config)
    max_answer_length: int = 30
    epochs: float = 3.0
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 1.5e-4
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    freeze_embeddings: bool = True
    # Attention dropout pushes PyTorch's CPU attention off its fused kernel: measured 2.7x slower per step
    # (582 vs 1,574 tokens/s, e5-small, batch 16 x 288). Hidden-state dropout stays as the model has it.
    attention_dropout: float = 0.0
    seed: int = 42
    save_steps: int = 100
    threads: int | None = None  # compute threads (default: cores available to this process)
    device: str = "auto"  # auto: a CUDA GPU if there is one, else the CPU
    # Knowledge distillation from already fine-tuned models (see the module docstring); none by default.
    teachers: tuple[str, ...] = ()
    distill_alpha: float = 0.5  # weight of the gold-label loss; the teachers' share is 1 - alpha
    distill_temperature: float = 2.0


def features(tokenizer, items: list[QAItem], cfg: QAConfig) -> list[dict]:
    """Every window of every question, with start/end labels."""
    from korqa.windows import encode_passage, encode_question, label_window, make_windows

    out = []
    passages: dict[str, object] = {}
    for item in items:
        passage = passages.get(item.context)
        if passage is None:
            passage = passages[item.context] = encode_passage(tokenizer, item.context)
        q_ids = encode_question(tokenizer, item.question, cfg.max_query_length)
        if item.answers:
            start = item.answer_starts[0]
            end = start + len(item.answers[0])
            if item.context[start:end] != item.answers[0]:
                log.warning("question %s: answer_start does not point at the answer text; skipped", item.id)
                continue
        for w in make_windows(tokenizer.layout, q_ids, passage, cfg.max_seq_length, cfg.doc_stride):
            s, e = label_window(w, start, end) if item.answers else (0, 0)  # unanswerable: the first token
            out.append(
                {
                    "input_ids": w.input_ids,
                    "token_type_ids": w.token_type_ids,
                    "start_positions": s,
                    "end_positions": e,
                    "unanswerable": not item.answers,
                }
            )
    return out


class Collator:
    """Pads a batch to its longest window."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict]) -> dict:
        import torch

        return {
            "input_ids": torch.from_numpy(pad([r["input_ids"] for r in rows], self.pad_id)),
            "token_type_ids": torch.from_numpy(pad([r["token_type_ids"] for r in rows], 0)),
            "attention_mask": torch.from_numpy(pad([np.ones(len(r["input_ids"]), np.int64) for r in rows], 0)),
            "start_positions": torch.tensor([r["start_positions"] for r in rows]),
            "end_positions": torch.tensor([r["end_positions"] for r in rows]),
        }


class DistillCollator(Collator):
    """Also pads the teachers' logits (padding is masked out of the loss by attention_mask)."""

    def __call__(self, rows: list[dict]) -> dict:
        import torch

        batch = super().__call__(rows)
        for key in ("teacher_start", "teacher_end"):
            batch[key] = torch.from_numpy(pad([r[key] for r in rows], 0.0, np.float32))
        return batch


def distill_loss(student, teacher, mask, temperature: float):
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)) per window, averaged; padded positions excluded."""
    import torch.nn.functional as F

    # -1e4, not -inf: masked positions get probability 0 on both sides and add exactly 0 to the sum.
    s = student.float().masked_fill(~mask, -1e4) / temperature
    t = teacher.float().masked_fill(~mask, -1e4) / temperature
    kl = F.kl_div(F.log_softmax(s, dim=-1), F.log_softmax(t, dim=-1), log_target=True, reduction="batchmean")
    return kl * temperature**2


def add_teacher_logits(teacher_dirs, tokenizer, rows: list[dict], device: str, batch_size: int = 32) -> None:
    """Each row gets the teachers' mean start and end logits over its tokens ("teacher_start", "teacher_end").
    A teacher named twice counts twice (weighs double) and is run once."""
    from types import SimpleNamespace

    import torch
    from tqdm import tqdm
    from transformers import AutoModelForQuestionAnswering

    from korqa.models.hf import ensure_tokenizer
    from korqa.runtime import TorchRuntime, run_windows

    for r in rows:
        r["teacher_start"] = np.zeros(len(r["input_ids"]), dtype=np.float32)
        r["teacher_end"] = np.zeros(len(r["input_ids"]), dtype=np.float32)
    windows = [SimpleNamespace(input_ids=r["input_ids"], token_type_ids=r["token_type_ids"]) for r in rows]
    budget = batch_size * max(len(w.input_ids) for w in windows)
    counts = Counter(str(d) for d in teacher_dirs)
    for teacher_dir, count in counts.items():
        weight = count / len(teacher_dirs)
        # Same vocabulary or the teacher reads different tokens than the model it teaches.
        if ensure_tokenizer(Path(teacher_dir)).backend.get_vocab() != tokenizer.backend.get_vocab():
            raise ModelLoadError(f"teacher {teacher_dir} has a different vocabulary than the base model")
        teacher = AutoModelForQuestionAnswering.from_pretrained(str(teacher_dir)).to(device).eval()
        with tqdm(total=len(windows), desc=f"teacher {Path(teacher_dir).name}", unit="window") as bar:
            starts, ends = run_windows(TorchRuntime(teacher), windows, tokenizer.pad_id, budget, bar.update)
        for r, start, end in zip(rows, starts, ends, strict=True):
            r["teacher_start"] += start * weight
            r["teacher_end"] += end * weight
        del teacher
        if device != "cpu":
            torch.cuda.empty_cache()
    gold_no_answer(rows)


NO_ANSWER_LOGIT = 30.0  # softmax(30 / T) at [CLS] against 0 elsewhere: all the mass on [CLS] for any T <= 3


def gold_no_answer(rows: list[dict]) -> None:
    """Teacher logits of unanswerable questions' windows -> all on the first token ([CLS])."""
    for r in rows:
        if r.get("unanswerable"):
            for key in ("teacher_start", "teacher_end"):
                r[key] = np.zeros(len(r["input_ids"]), dtype=np.float32)
                r[key][0] = NO_ANSWER_LOGIT


def learn_boundaries(tokenizer, items: list[QAItem]) -> BoundaryRules:
    """Character-level answer boundary rules from the training answers (see korqa.boundaries)."""
    from korqa.windows import token_span

    aligned = []
    offsets_of: dict[str, np.ndarray] = {}
    for item in items:
        offsets = offsets_of.get(item.context)
        if offsets is None:
            offsets = offsets_of[item.context] = np.asarray(tokenizer.encode(item.context)[1], dtype=np.int64).reshape(
                -1, 2
            )
        for text, start in zip(item.answers, item.answer_starts, strict=True):
            span = token_span(offsets, start, start + len(text))
            if span is not None:
                t_start, t_end = int(offsets[span[0], 0]), int(offsets[span[1], 1])
                inner = int(offsets[span[1], 0]), int(offsets[span[0], 1])  # last token's start, first token's end
                aligned.append(AlignedAnswer(item.context, start, start + len(text), t_start, t_end, *inner))
    return learn(aligned)


def save_model(model, tokenizer, qa_config: QAConfig, out: Path, name: str, boundaries: BoundaryRules) -> None:
    from korqa.models import ModelSettings

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save(out)
    ModelSettings(qa=ModelSettings.window_settings(qa_config), name=name, boundaries=boundaries).write(out)


def relearn_boundaries(model_dir: str | Path, train_path: str | Path) -> tuple[BoundaryRules, Path]:
    """Learn boundary rules from training data into an existing model directory's korqa.json."""
    from korqa.models import ModelSettings
    from korqa.tokenizer import load_tokenizer

    rules = learn_boundaries(load_tokenizer(model_dir), read_squad(train_path))
    settings = ModelSettings.read(model_dir)
    settings.boundaries = rules
    return rules, settings.write(model_dir)


def score_model(model, tokenizer, qa_config: QAConfig, items: list[QAItem], max_positions: int) -> dict:
    """EM/F1 of the model as it is now, through the serving engine."""
    from korqa.engine import QAEngine, as_question
    from korqa.metric import score
    from korqa.models import LoadedModel
    from korqa.runtime import TorchRuntime

    was_training = model.training
    runtime = TorchRuntime(model)
    if runtime.device.type != "cpu":  # the CPU serving budget would feed a GPU two windows at a time
        qa_config = qa_config.with_(max_batch_tokens=32768)
    loaded = LoadedModel(tokenizer, runtime, qa_config, "training", "training", "", max_positions)
    engine = QAEngine(loaded)
    predictions = {}
    for i in range(0, len(items), 32):
        group = items[i : i + 32]
        for item, result in zip(
            group, engine.answer_many([as_question(x.question, x.context) for x in group]), strict=True
        ):
            predictions[item.id] = result.answers[0].text if result.answers else ""
    model.train(was_training)
    return score(items, predictions)


def train(tc: TrainConfig, resume: bool = False) -> Path:
    import torch
    from transformers import AutoModelForQuestionAnswering, Trainer, TrainerCallback, TrainingArguments

    from korqa.models.hf import download, ensure_tokenizer, position_limit
    from korqa.runtime import available_cores

    torch.set_num_threads(tc.threads or available_cores())
    if tc.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible to this process (use --device auto or cpu)")
    use_cuda = tc.device == "cuda" or (tc.device == "auto" and torch.cuda.is_available())
    tc.teachers = tuple(tc.teachers)
    if tc.teachers and not (0.0 <= tc.distill_alpha <= 1.0 and tc.distill_temperature > 0):
        raise ConfigError("--distill-alpha must be in [0, 1] and --distill-temperature above 0")
    base = Path(tc.base) if Path(tc.base).is_dir() else download(tc.base)
    tokenizer = ensure_tokenizer(base)
    model = AutoModelForQuestionAnswering.from_pretrained(str(base), attention_probs_dropout_prob=tc.attention_dropout)
    limit = position_limit(model.config)
    qa_config = QAConfig(
        max_seq_length=min(tc.max_seq_length, limit),
        max_query_length=tc.max_query_length,
        doc_stride=tc.doc_stride,
        max_answer_length=tc.max_answer_length,
    )
    if tc.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)

    items = read_squad(tc.train)
    train_rows = features(tokenizer, items, qa_config)
    log.info("%d questions -> %d windows (max_seq_length %d)", len(items), len(train_rows), qa_config.max_seq_length)
    if tc.teachers:
        add_teacher_logits(tc.teachers, tokenizer, train_rows, "cuda" if use_cuda else "cpu")
    val_items = read_squad(tc.val) if tc.val else []
    out = Path(tc.out)
    checkpoints = out / "checkpoints"
    metrics_file = out / "metrics.jsonl"

    class EpochEval(TrainerCallback):
        def on_epoch_end(self, args, state, control, model=None, **kwargs):
            if not val_items:
                return
            started = time.perf_counter()
            result = score_model(model, tokenizer, qa_config, val_items, limit)
            record = {"epoch": round(state.epoch, 3), "step": state.global_step, **result}
            record["seconds"] = round(time.perf_counter() - started, 1)
            log.info("validation after epoch %.2f: EM %.2f F1 %.2f", state.epoch, result["exact_match"], result["f1"])
            with metrics_file.open("a") as f:
                f.write(json.dumps(record) + "\n")

    args = TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=tc.batch_size,
        gradient_accumulation_steps=tc.grad_accum,
        learning_rate=tc.lr,
        weight_decay=tc.weight_decay,
        warmup_steps=tc.warmup_ratio,  # a float below 1 is a fraction of all steps
        lr_scheduler_type="linear",
        num_train_epochs=tc.epochs,
        logging_steps=10,
        save_steps=tc.save_steps,
        save_total_limit=2,
        seed=tc.seed,
        data_seed=tc.seed,
        train_sampling_strategy="group_by_length",  # similar lengths per batch: less padding
        length_column_name="length",
        dataloader_num_workers=0,
        report_to=[],
        use_cpu=not use_cuda,
        tf32=True if use_cuda else None,  # TensorFloat-32 matmuls on the GPU: ~fp32 results, several times faster
        disable_tqdm=False,
        remove_unused_columns=False,
    )
    for row in train_rows:
        row["length"] = len(row["input_ids"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(json.dumps(tc.__dict__, indent=2) + "\n")

    class DistillTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            teacher_start, teacher_end = inputs.pop("teacher_start"), inputs.pop("teacher_end")
            outputs = model(**inputs)
            mask = inputs["attention_mask"].bool()
            soft = (
                distill_loss(outputs.start_logits, teacher_start, mask, tc.distill_temperature)
                + distill_loss(outputs.end_logits, teacher_end, mask, tc.distill_temperature)
            ) / 2
            loss = tc.distill_alpha * outputs.loss + (1 - tc.distill_alpha) * soft
            return (loss, outputs) if return_outputs else loss

    trainer = (DistillTrainer if tc.teachers else Trainer)(
        model=model,
        args=args,
        train_dataset=train_rows,
        data_collator=(DistillCollator if tc.teachers else Collator)(tokenizer.pad_id),
        callbacks=[EpochEval()],
    )
    has_checkpoint = checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if (resume and has_checkpoint) else None)
    final = out / "model"
    rules = learn_boundaries(tokenizer, items)
    save_model(trainer.model, tokenizer, qa_config, final, name=f"korqa-{Path(tc.base).name}", boundaries=rules)
    log.info("saved %s", final)
    return final


def average_models(sources: list[str], out: str | Path) -> Path:
    """The element-wise mean of fine-tuned models' weights (a "model soup"). A run and its continuation averaged
    well here; independently trained runs were hit and miss (MODEL_CARD.md): measure the result.
    Tokenizer, config and korqa.json come from the first source."""
    import shutil

    from safetensors.torch import load_file, save_file

    weights = []
    for source in sources:
        path = Path(source) / "model.safetensors"
        if not path.exists():
            raise ModelLoadError(f"{path} not found: averaging needs each model's model.safetensors")
        weights.append(load_file(str(path)))
    first = weights[0]
    for source, w in zip(sources[1:], weights[1:], strict=True):
        if w.keys() != first.keys() or any(w[k].shape != first[k].shape for k in first):
            raise ModelLoadError(f"{source} does not have the same tensors as {sources[0]}: not the same architecture")
    mean = {k: (sum(w[k].double() for w in weights) / len(weights)).to(first[k].dtype) for k in first}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for f in Path(sources[0]).iterdir():
        if f.is_file() and f.name != "model.safetensors":
            shutil.copy(f, out / f.name)
    save_file({k: v.contiguous() for k, v in mean.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out
