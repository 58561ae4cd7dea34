"""Fixtures of the run tests."""

from __future__ import annotations

import pytest

from .helpers import Pipe


@pytest.fixture
def pipe(tmp_path):
    """A named pipe for ``--tell``."""
    made = Pipe(tmp_path / "tell.fifo")
    yield made
    made.close()
