"""Fixtures that build their own world: a tiny model trained on a synthetic task (seconds), a WordPiece vocab with
Hangul syllables, fake nlpbook checkpoints. No network, no ../shared."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from korqa.engine import QAEngine
from korqa.models import load_model
from tests.support import tiny


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny BERT QA model, trained once per test session (about 10 s on 2 cores)."""
    logging.getLogger("korqa").setLevel(logging.INFO)
    return tiny.build(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    return load_model(str(tiny_model_dir))


@pytest.fixture(scope="session")
def engine(tiny_model) -> QAEngine:
    return QAEngine(tiny_model)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model):
    return tiny_model.tokenizer
