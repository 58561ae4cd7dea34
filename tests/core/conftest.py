"""Fixtures of the core tests."""

from __future__ import annotations

import pytest

from labqueue import Manager


@pytest.fixture
def manager():
    """An in-memory Manager, shut down at the end (a module may define its own)."""
    made = Manager()
    yield made
    made.shutdown(timeout=10)


@pytest.fixture
def lab(tmp_path):
    """The data directory the journal tests use."""
    return tmp_path / "lab"


@pytest.fixture
def open_manager(lab):
    """``open_manager(**kwargs)``: a Manager on ``lab`` (or ``data_dir=``), shut down at the end."""
    made: list[Manager] = []

    def open_(**kwargs) -> Manager:
        kwargs.setdefault("data_dir", lab)
        manager = Manager(**kwargs)
        made.append(manager)
        return manager

    yield open_
    for manager in made:
        manager.shutdown(wait=True, timeout=10)
