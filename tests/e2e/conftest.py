"""A real `korqa serve` process on a free loopback port, shared by the end-to-end and browser tests."""

from __future__ import annotations

import pytest

from tests.support.server import Server


@pytest.fixture(scope="session")
def server(tiny_model_dir):
    srv = Server(["--model", str(tiny_model_dir), "--max-context-chars", "5000", "--max-batch-items", "4"])
    yield srv
    srv.stop()
