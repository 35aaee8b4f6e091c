"""A tiny BERT QA model trained in seconds on a synthetic task, so tests (and a fresh install with no default
model) have a model whose right answers are known without any download.

The task: a passage of Hangul words holds one span `甲 <word> 丙`; the answer is that span. The question holds a
`甲` too, and test passages add a `丙` before the span and another far after it, so a decoder that takes the
argmax of start and end independently (the seed) returns spans that end before they start or lie in the
question, while a correct decoder returns exactly the span.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

from korqa.config import QAConfig

log = logging.getLogger(__name__)

START_MARK, END_MARK = "甲", "丙"  # CJK ideographs: the BERT pre-tokenizer makes each its own token
QUESTION = "甲 에서 시작하는 답은 무엇인가?"
SYLLABLES = (
    "가나다라마바사아자차카타파하거너더러머버서어저처커터퍼허고노도로모보소오조초코토포호"
    "구누두루무부수우주추쿠투푸후그느드르므브스으즈츠크트프흐기니디리미비시이지치키티피히"
    "한국어대학교서울부산역사문화경제정치사회과학기술음악미술영화시작답무엇인에는을를이가의"
)
SETTINGS = QAConfig(max_seq_length=64, max_query_length=16, max_answer_length=8, doc_stride=32)


def vocabulary() -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    syllables = sorted(set(SYLLABLES))
    ascii_ = [chr(c) for c in range(33, 127)]
    alnum = [c for c in ascii_ if c.isalnum()]
    return (
        specials
        + [START_MARK, END_MARK]
        + syllables
        + ["##" + s for s in syllables]
        + ascii_
        + ["##" + c for c in alnum]
    )


def random_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))


@dataclass(frozen=True)
class Example:
    question: str
    context: str
    answer_start: int
    answer_text: str


def make_example(rng: random.Random, n_before: int, n_after: int, distractors: bool = False) -> Example:
    before = [random_word(rng) for _ in range(n_before)]
    after = [random_word(rng) for _ in range(n_after)]
    if distractors:  # an end mark before the span, and one beyond max_answer_length after it
        before.insert(rng.randint(0, len(before)), END_MARK)
        if len(after) >= SETTINGS.max_answer_length:
            after.append(END_MARK)
    prefix = " ".join(before) + (" " if before else "")
    answer = f"{START_MARK} {random_word(rng)} {END_MARK}"
    context = prefix + answer + (" " + " ".join(after) if after else "")
    return Example(QUESTION, context, len(prefix), answer)


def write_vocab(path: Path) -> None:
    path.write_text("\n".join(vocabulary()) + "\n", encoding="utf-8")


def build(out_dir: str | Path, steps: int = 200, seed: int = 0) -> Path:
    """Train the tiny model and save it as a Hugging Face directory (config, safetensors, vocab, korqa.json)."""
    import numpy as np
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    from korqa.models import ModelSettings
    from korqa.tokenizer import load_tokenizer
    from korqa.windows import encode_passage, encode_question, label_window, make_windows

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_vocab(out / "vocab.txt")
    tokenizer = load_tokenizer(out)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
    )
    model = BertForQuestionAnswering(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    question_ids = encode_question(tokenizer, QUESTION, SETTINGS.max_query_length)
    model.train()
    for _ in range(steps):
        ids, types, starts, ends = [], [], [], []
        while len(ids) < 32:  # every window of a passage; those without the answer are labelled at [CLS]
            ex = make_example(rng, rng.randint(0, 30), rng.randint(0, 30), distractors=rng.random() < 0.5)
            passage = encode_passage(tokenizer, ex.context)
            for window in make_windows(
                tokenizer.layout, question_ids, passage, SETTINGS.max_seq_length, SETTINGS.doc_stride
            ):
                s, e = label_window(window, ex.answer_start, ex.answer_start + len(ex.answer_text))
                ids.append(window.input_ids)
                types.append(window.token_type_ids)
                starts.append(s)
                ends.append(e)
        length = max(len(x) for x in ids)
        input_ids = np.zeros((len(ids), length), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        type_ids = np.zeros_like(input_ids)
        for row, (x, t) in enumerate(zip(ids, types, strict=True)):
            input_ids[row, : len(x)], mask[row, : len(x)], type_ids[row, : len(x)] = x, 1, t
        loss = model(
            input_ids=torch.from_numpy(input_ids),
            attention_mask=torch.from_numpy(mask),
            token_type_ids=torch.from_numpy(type_ids),
            start_positions=torch.tensor(starts),
            end_positions=torch.tensor(ends),
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    log.info("tiny model trained: final loss %.4f", loss.item())
    model.eval()
    model.save_pretrained(out)
    ModelSettings(qa=ModelSettings.window_settings(SETTINGS), name="korqa-tiny-synthetic").write(out)
    return out
