"""Test setup shared by every layer: offscreen Qt and no access to the user's folders."""

import os

# Before anything imports Qt: GUI tests render offscreen, never on a real display,
# and PySide6 makes its classes at import, as it does in the program (see labqueue.ui).
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["PYSIDE6_OPTION_LAZY"] = "0"

import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own data, config, log and home directories."""
    home = tmp_path / "home"
    home.mkdir()
    data = tmp_path / "data"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("LABQUEUE_DATA_DIR", str(data))
    monkeypatch.delenv("LABQUEUE_SMTP_PASSWORD", raising=False)
    return data
