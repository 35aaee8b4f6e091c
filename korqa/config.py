"""Settings in one dataclass.

The field names are the nlpbook / ratsnlp `QADeployArguments` names, so a user of the course can pass the same
arguments they already have (`pretrained_model_name`, `downstream_model_checkpoint_path`, `max_seq_length`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

# ratsnlp calls the checkpoint path `downstream_model_checkpoint_fpath` in some versions; accept both.
_ALIASES = {"downstream_model_checkpoint_fpath": "downstream_model_checkpoint_path"}


@dataclass(frozen=True)
class QAConfig:
    # Where the model comes from (see korqa.models.load_model).
    pretrained_model_name: str | None = None  # hub id or local dir: config + vocab (+ weights for HF models)
    downstream_model_checkpoint_path: str | None = None  # nlpbook Lightning .ckpt with `model.`-prefixed keys
    trust_checkpoint: bool = False  # allow full unpickling of a checkpoint (runs code from the file!)

    # Windows. The seed's defaults: 128 / 32 / 30.
    max_seq_length: int = 128  # tokens per window: [CLS] question [SEP] passage-piece [SEP]
    max_query_length: int = 32  # question tokens kept (the rest is cut)
    # doc_stride is the *step* between window starts, in passage tokens, as in BERT's run_squad.py and ratsnlp
    # (Hugging Face's pipeline calls the *overlap* "doc_stride" instead). A step larger than a window holds is
    # reduced to the window size, so no passage token is ever skipped.
    doc_stride: int = 64

    # Span decoding.
    max_answer_length: int = 30  # tokens
    top_k: int = 1
    no_answer_threshold: float | None = None  # None: always answer; else answer only if p(no answer) < threshold
    use_boundary_rules: bool = True  # apply the model's learned particle cuts (korqa.boundaries), if it has any

    # Batching: windows are padded to the longest in a batch; a batch holds at most this many tokens. Small on
    # purpose: on 2 cores the int8 default model ran 21.6 questions/s at 768 tokens per batch, 19.6 at 1536,
    # 15.8 at 3072 and 12.4 at 8192 (bigger batches fall out of cache); short windows still share batches.
    max_batch_tokens: int = 768

    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> QAConfig:
        """Build from keyword arguments, accepting ratsnlp's aliases and ignoring fields korqa has no use for
        (e.g. QADeployArguments' `downstream_model_dir`) so a user's existing argument dict works as is."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in kwargs.items():
            key = _ALIASES.get(key, key)
            if key in known:
                values[key] = value
            else:
                extra[key] = value
        return cls(**values, extra=extra)

    def with_(self, **changes: Any) -> QAConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def validate(self) -> None:
        from korqa.errors import ConfigError

        if self.max_seq_length < 8:
            raise ConfigError(f"max_seq_length must be at least 8, got {self.max_seq_length}")
        if self.max_query_length < 1:
            raise ConfigError(f"max_query_length must be at least 1, got {self.max_query_length}")
        if self.doc_stride < 1:
            raise ConfigError(f"doc_stride must be at least 1, got {self.doc_stride}")
        if self.max_answer_length < 1:
            raise ConfigError(f"max_answer_length must be at least 1, got {self.max_answer_length}")
        if self.top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {self.top_k}")
        if self.no_answer_threshold is not None and not 0.0 <= self.no_answer_threshold <= 1.0:
            raise ConfigError(f"no_answer_threshold must be in [0, 1], got {self.no_answer_threshold}")
