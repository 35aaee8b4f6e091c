"""Every setting korqa has, in two dataclasses. Nothing else declares a default.

QAConfig     how a model answers: where it comes from, windows, span decoding, batching. The field names are the
             nlpbook / ratsnlp `QADeployArguments` names, so a course user passes the arguments they already have.
ServeConfig  how `korqa serve` runs: address, request limits, queue.

A QAConfig field left at None is *not set here*: it takes the model's saved setting (its korqa.json), else the
default in `DEFAULTS`. So a value the user gives always wins -- also one that equals a default -- and a value the
user did not give never hides the model's own. `QAEngine` holds a resolved config (no None left).

Precedence, highest first: what the user gives (CLI option, Python argument) > the model's korqa.json > DEFAULTS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from korqa.errors import ConfigError

# ratsnlp calls the checkpoint path `downstream_model_checkpoint_fpath` in some versions; accept both.
_ALIASES = {"downstream_model_checkpoint_fpath": "downstream_model_checkpoint_path"}

OFF = "off"  # no_answer_threshold: never withhold an answer

# What a field that neither the user nor the model sets is: the nlpbook's own window settings (128 / 32 / 64 / 30).
DEFAULTS: dict[str, Any] = {
    "max_seq_length": 128,
    "max_query_length": 32,
    "doc_stride": 64,
    "max_answer_length": 30,
    "top_k": 1,
    "no_answer_threshold": OFF,
    "use_boundary_rules": True,
    # A candidate sharing more than this share of the shorter span with a better answer in the same passage is
    # dropped (Haystack's overlap_threshold): 0 keeps no fragments of a better answer in the top-k list.
    "overlap_threshold": 0.0,
    # Logits are divided by it before the softmax: korqa calibrate fits it so that a score is the probability
    # that the answer is right (1: the model's own scores).
    "temperature": 1.0,
    # Tokens per padded batch. On 2 cores the int8 default model answered 22.5 / 23.1 questions/s at 384 and
    # 22.2 / 22.2 at 768 (korqa eval, 300 val questions, interleaved; earlier: 19.6 at 1536, 15.8 at 3072, 12.4 at
    # 8192). 384 also halves the batch a newly arrived request may wait behind.
    "max_batch_tokens": 384,
}


@dataclass(frozen=True)
class QAConfig:
    # Where the model comes from (see korqa.models.load_model).
    pretrained_model_name: str | None = None  # hub id or local dir: config + vocab (+ weights for HF models)
    downstream_model_checkpoint_path: str | None = None  # nlpbook Lightning .ckpt with `model.`-prefixed keys
    trust_checkpoint: bool = False  # allow full unpickling of a checkpoint (runs code from the file!)

    # Windows: [CLS] question [SEP] passage-piece [SEP].
    max_seq_length: int | None = None  # tokens per window
    max_query_length: int | None = None  # question tokens kept (the rest is cut)
    # doc_stride is the *step* between window starts, in passage tokens, as in BERT's run_squad.py and ratsnlp
    # (Hugging Face's pipeline calls the *overlap* "doc_stride" instead). A step larger than a window holds is
    # reduced to the window size, so no passage token is ever skipped.
    doc_stride: int | None = None

    # Span decoding.
    max_answer_length: int | None = None  # tokens
    top_k: int | None = None
    no_answer_threshold: float | str | None = None  # "off": always answer; else withhold if p(no answer) >= it
    use_boundary_rules: bool | None = None  # apply the model's learned particle cuts (korqa.boundaries)
    overlap_threshold: float | None = None  # top-k: drop candidates overlapping a better one by more than this
    temperature: float | None = None  # calibrates the score shown only (korqa calibrate); never the ranking

    # Batching: windows are padded to the longest in a batch; a batch holds at most this many tokens.
    max_batch_tokens: int | None = None

    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # arguments korqa has no use for

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> QAConfig:
        """Build from keyword arguments, accepting ratsnlp's aliases and keeping fields korqa has no use for
        (e.g. QADeployArguments' `downstream_model_dir`) in `extra`, so a user's existing argument dict works."""
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

    def given(self) -> dict[str, Any]:
        """The answering settings set here (not None)."""
        return {name: getattr(self, name) for name in DEFAULTS if getattr(self, name) is not None}

    def over(self, base: QAConfig | dict[str, Any]) -> QAConfig:
        """These settings where set, `base`'s (a config or a model's saved settings) elsewhere."""
        base = base.given() if isinstance(base, QAConfig) else base
        return replace(self, **{k: v for k, v in base.items() if getattr(self, k) is None})

    def with_(self, **changes: Any) -> QAConfig:
        """A copy with these fields changed (None leaves a field as it is)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def resolved(self) -> QAConfig:
        """Every answering setting filled in from DEFAULTS where not set, then validated."""
        config = self.over(DEFAULTS)
        config.validate()
        return config

    @property
    def withhold_threshold(self) -> float | None:
        """no_answer_threshold as span decoding takes it: None means never withhold."""
        return withhold_threshold(self.no_answer_threshold)

    def validate(self) -> None:
        for name in ("max_seq_length", "max_query_length", "doc_stride", "max_answer_length", "top_k"):
            _check_int(name, getattr(self, name), 8 if name == "max_seq_length" else 1)
        if self.max_batch_tokens is not None:
            _check_int("max_batch_tokens", self.max_batch_tokens, 1)
        if not isinstance(self.trust_checkpoint, bool):
            raise ConfigError(f"trust_checkpoint must be True or False, got {self.trust_checkpoint!r}")
        if self.use_boundary_rules is not None and not isinstance(self.use_boundary_rules, bool):
            raise ConfigError(f"use_boundary_rules must be True or False, got {self.use_boundary_rules!r}")
        overlap = self.overlap_threshold
        if overlap is not None and (
            isinstance(overlap, bool) or not isinstance(overlap, int | float) or not 0 <= overlap <= 1
        ):
            raise ConfigError(f"overlap_threshold must be a number in [0, 1], got {overlap!r}")
        temperature = self.temperature
        if temperature is not None and (
            isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0.05 <= temperature <= 20
        ):
            raise ConfigError(f"temperature must be a number in [0.05, 20], got {temperature!r}")
        threshold = self.no_answer_threshold
        if threshold not in (None, OFF) and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0
        ):
            raise ConfigError(f"no_answer_threshold must be a number in [0, 1] or 'off', got {threshold!r}")


# How an OpenVINO int8 model computes: "on" runs its int8 matrix products; "off" runs the same int8-stored weights
# in f32, or, in a directory that also holds an ONNX int8 file (the embedded model), ONNX Runtime; "auto" (default)
# uses OpenVINO int8 where the CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, AMX) and the "off"
# choice elsewhere, where OpenVINO's int8 kernels measured slower (AVX2 only: 0.5x ONNX Runtime's dynamic int8).
# An environment setting, so it reaches every process that loads a model (servers, Ray replicas, korqa batch).
OPENVINO_INT8_ENV = "KORQA_OPENVINO_INT8"


def openvino_int8(environ: dict[str, str] | None = None) -> str:
    value = (os.environ if environ is None else environ).get(OPENVINO_INT8_ENV, "auto").strip().lower()
    if value not in ("auto", "on", "off"):
        raise ConfigError(f"{OPENVINO_INT8_ENV} must be auto, on or off, got {value!r}")
    return value


def withhold_threshold(value: float | str | None) -> float | None:
    """A no_answer_threshold as span decoding takes it: None means never withhold."""
    return None if value in (OFF, None) else float(value)


def _check_int(name: str, value: Any, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeConfig:
    """`korqa serve`: each field is a command-line option of the same name (`--max-queue`, ...)."""

    host: str = "127.0.0.1"  # loopback: reachable from this machine only
    port: int = 8000
    # Host headers answered; others get 400 (DNS rebinding). Empty: the loopback names when bound to loopback,
    # any host otherwise.
    allowed_hosts: tuple[str, ...] = ()
    # Deployment: bearer keys for /api, /v1/* and /metrics (none: open); origins whose pages may call the API
    # (CORS; none by default); the path prefix a reverse proxy serves korqa under; proxies whose
    # X-Forwarded-* headers are trusted; question and passage text in the access log (off: privacy).
    api_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    root_path: str = ""
    forwarded_allow_ips: str | None = None
    log_bodies: bool = False
    threads: int | None = None  # compute threads; None: the cores available to this process
    # Limits: over one, the request gets 413 naming it. Sized for KorQuAD passages (~700 characters) with room.
    max_body_bytes: int = 2 * 1024 * 1024
    max_question_chars: int = 1_000
    max_context_chars: int = 20_000  # per passage
    max_contexts: int = 16  # passages per question
    max_batch_items: int = 32  # questions per /v1/answer/batch call
    max_top_k: int = 20
    # Model work per request, in windows (a KorQuAD paragraph needs 1-4, a 20,000-character passage ~44, 16 such
    # passages ~700): over it, 413. 128 windows are ~3 s of compute on 2 cores.
    max_request_windows: int = 128
    # Queue: past max_queue waiting requests, new ones get 503 + Retry-After.
    max_queue: int = 64
    max_wait_ms: float = 2.0  # how long the model thread waits for more requests to fill a batch
    # Time: a request not answered within request_timeout gets 504 and its remaining windows are dropped; on
    # SIGTERM, /readyz turns 503 and requests in flight get shutdown_timeout to finish (the rest: 503).
    request_timeout: float = 30.0
    shutdown_timeout: float = 20.0
    # Connections: a request head (and each body chunk) must arrive within read_timeout; an idle keep-alive
    # connection is closed after idle_timeout; beyond max_connections open connections, new ones get 503.
    read_timeout: float = 10.0
    idle_timeout: float = 5.0
    max_connections: int = 512

    def validate(self) -> None:
        if not 0 <= self.port <= 65535 or isinstance(self.port, bool):
            raise ConfigError(f"port must be in 0-65535, got {self.port}")
        if self.threads is not None:
            _check_int("threads", self.threads, 1)
        for f in fields(self):
            if f.name.startswith("max_") and f.name != "max_wait_ms":
                _check_int(f.name, getattr(self, f.name), 1)
            if f.name.endswith("_timeout") and not 0 < getattr(self, f.name) <= 3600:
                raise ConfigError(f"{f.name} must be in (0, 3600] seconds, got {getattr(self, f.name)}")
        if not 0 <= self.max_wait_ms <= 60_000:
            raise ConfigError(f"max_wait_ms must be in 0-60000, got {self.max_wait_ms}")
        if any(not key or len(key) < 8 for key in self.api_keys):
            raise ConfigError("an API key must have at least 8 characters")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise ConfigError(f"root_path must start with / and not end with one, like /qa; got {self.root_path!r}")
        if not 0 < self.idle_timeout <= 3600:
            raise ConfigError(f"idle_timeout must be in (0, 3600] seconds, got {self.idle_timeout}")

    @property
    def on_loopback(self) -> bool:
        return self.host in LOOPBACK or self.host.startswith("127.")

    def hosts(self) -> tuple[str, ...]:
        """The Host names answered ("*": any)."""
        if self.allowed_hosts:
            return tuple(self.allowed_hosts)
        if self.on_loopback:
            return (*LOOPBACK, self.host)
        return ("*",)

    def limits(self) -> dict[str, Any]:
        """What /v1/model shows: the request limits and queue settings, not the address."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name.startswith("max_") or "timeout" in f.name}

    def public(self) -> dict[str, Any]:
        """Settings safe to show (never the keys)."""
        return self.limits() | {"auth": bool(self.api_keys), "cors_origins": list(self.cors_origins)}
