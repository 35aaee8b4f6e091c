"""korqa.json: the settings a model directory carries. This module is its only reader and writer.

    {"schema": 1, "name": ..., "max_positions": 512,
     "max_seq_length": 384, "max_query_length": 64, "doc_stride": 256, "max_answer_length": 30,   # QAConfig fields
     "boundaries": {...},                                                   # learned answer-boundary rules
     "exported_from": ..., "quantization": {...}, "smoothing": {...}}       # how the file was made (a record)

Files written before the schema number existed are schema 1. Anything else in the file is an error that names
it: a misspelt setting would otherwise be silently ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from korqa.boundaries import BoundaryRules
from korqa.config import DEFAULTS, QAConfig
from korqa.errors import ConfigError, ModelLoadError

SETTINGS_FILE = "korqa.json"
SCHEMA = 1
RECORD_KEYS = (
    "exported_from",
    "rebuilt_from",
    "quantization",
    "smoothing",
)  # how the model was made; serving does not read them


@dataclass
class ModelSettings:
    qa: dict[str, Any] = field(default_factory=dict)  # QAConfig answering settings the model was made with
    name: str | None = None
    max_positions: int | None = None  # longest window the position embeddings allow, for models without a config
    boundaries: BoundaryRules | None = None
    record: dict[str, Any] = field(default_factory=dict)  # exported_from, quantization, smoothing

    @classmethod
    def read(cls, model_dir: str | Path) -> ModelSettings:
        """The directory's korqa.json, validated; empty settings when it has none."""
        path = Path(model_dir) / SETTINGS_FILE
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelLoadError(f"{path} must hold a JSON object")
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = SETTINGS_FILE) -> ModelSettings:
        data = dict(data)
        schema = data.pop("schema", 1)
        if schema != SCHEMA:
            raise ModelLoadError(f"{where} has schema {schema!r}; this korqa reads schema {SCHEMA} (upgrade korqa)")
        qa = {k: data.pop(k) for k in list(data) if k in DEFAULTS}
        try:
            QAConfig(**qa).validate()
        except ConfigError as exc:
            raise ModelLoadError(f"{where}: {exc}") from exc
        name = data.pop("name", None)
        if name is not None and not isinstance(name, str):
            raise ModelLoadError(f"{where}: name must be a string")
        max_positions = data.pop("max_positions", None)
        if max_positions is not None and (not isinstance(max_positions, int) or max_positions < 8):
            raise ModelLoadError(f"{where}: max_positions must be a whole number of at least 8")
        try:
            boundaries = BoundaryRules.from_json(data.pop("boundaries", None))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ModelLoadError(f"{where}: boundaries are malformed ({exc})") from exc
        record = {k: data.pop(k) for k in RECORD_KEYS if k in data}
        if data:
            known = sorted([*DEFAULTS, "schema", "name", "max_positions", "boundaries", *RECORD_KEYS])
            raise ModelLoadError(f"{where}: unknown setting(s) {', '.join(sorted(data))} (known: {', '.join(known)})")
        return cls(qa, name, max_positions, boundaries, record)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA}
        if self.name is not None:
            out["name"] = self.name
        if self.max_positions is not None:
            out["max_positions"] = self.max_positions
        out |= self.qa
        if self.boundaries is not None:
            out["boundaries"] = self.boundaries.to_json()
        return out | {k: v for k, v in self.record.items() if v is not None}

    def write(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / SETTINGS_FILE
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @staticmethod
    def window_settings(config: QAConfig) -> dict[str, Any]:
        """The settings a model is trained with and must be served with (its windows and answer length)."""
        keys = ("max_seq_length", "max_query_length", "doc_stride", "max_answer_length")
        return {k: getattr(config, k) for k in keys if getattr(config, k) is not None}
