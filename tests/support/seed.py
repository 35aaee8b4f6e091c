"""The nlpbook deployment chapter's `inference_fn`, reproduced step by step -- for comparison tests and the
benchmark baseline only; korqa never serves with it.

What it does, and where korqa differs:
- one window: the passage is cut at max_seq_length, so an answer further in cannot be found;
- padding to max_seq_length every time;
- start and end are independent argmaxes over *all* positions, so the "span" can end before it starts, or lie in
  the question or on [CLS]/[SEP]/[PAD];
- the text is `tokenizer.decode` of the ids, which is not a substring of the passage (spaces around WordPiece
  `##` pieces, [UNK] instead of the original characters).
"""

from __future__ import annotations


class SeedInference:
    def __init__(self, tokenizer, model, max_seq_length: int = 128, max_query_length: int = 32):
        """tokenizer: transformers BertTokenizer(do_lower_case=False); model: BertForQuestionAnswering."""
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.max_seq_length = max_seq_length
        self.max_query_length = max_query_length

    def encode_plus(self, truncated_query: list[int], context: str) -> dict[str, list[int]]:
        """What `tokenizer.encode_plus(text=ids, text_pair=context, truncation="only_second",
        padding="max_length", max_length=..., return_token_type_ids=True)` returned in the transformers of the
        course (transformers 5 removed encode_plus): [CLS] q [SEP] passage [SEP], the passage cut to fit, then
        [PAD] up to max_length."""
        tok = self.tokenizer
        passage = tok.encode(context, add_special_tokens=False)
        room = self.max_seq_length - len(truncated_query) - 3
        passage = passage[: max(room, 0)]
        input_ids = [tok.cls_token_id, *truncated_query, tok.sep_token_id, *passage, tok.sep_token_id]
        token_type_ids = [0] * (len(truncated_query) + 2) + [1] * (len(passage) + 1)
        pad = self.max_seq_length - len(input_ids)
        return {
            "input_ids": input_ids + [tok.pad_token_id] * pad,
            "token_type_ids": token_type_ids + [0] * pad,
            "attention_mask": [1] * len(input_ids) + [0] * pad,
        }

    def positions(self, question: str, context: str) -> tuple[list[int], int, int]:
        import torch

        truncated_query = self.tokenizer.encode(
            question, add_special_tokens=False, truncation=True, max_length=self.max_query_length
        )
        inputs = self.encode_plus(truncated_query, context)
        with torch.no_grad():
            out = self.model(**{k: torch.tensor([v]) for k, v in inputs.items()})
        start_pred = out.start_logits.argmax(dim=-1).item()
        end_pred = out.end_logits.argmax(dim=-1).item()
        return inputs["input_ids"], start_pred, end_pred

    def __call__(self, question: str, context: str) -> dict:
        if question and context:
            input_ids, start_pred, end_pred = self.positions(question, context)
            pred_text = self.tokenizer.decode(input_ids[start_pred : end_pred + 1])
        else:
            pred_text = ""
        return {"question": question, "context": context, "answer": pred_text}
