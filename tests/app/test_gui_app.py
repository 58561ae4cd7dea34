"""``labqueue`` and ``labqueue --demo`` open the window (the event loop runs for real)."""

from __future__ import annotations

import signal

import pytest
from PySide6.QtCore import QTimer

import app.gui
from app.gui import start_gui
from app.main import main


@pytest.fixture
def restore_sigint():
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


def test_demo_opens_the_window_on_the_data_dir_with_the_demo_queued(qtbot, tmp_path, restore_sigint):
    session = start_gui(data_dir=tmp_path / "lab", demo=True)
    window = session.window
    qtbot.addWidget(window)

    assert window.isVisible()
    assert str(tmp_path / "lab") in window.windowTitle()
    assert not window.windowIcon().isNull()
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 5)
    assert session.manager.data_dir == tmp_path / "lab"

    def stop() -> None:
        session.manager.shutdown(wait=True, abort_running=True, timeout=10)
        window.close()

    QTimer.singleShot(0, stop)
    assert session.run() == 0
    assert not window.isVisible()


def test_labqueue_without_arguments_opens_the_window_and_demo_adds_the_demo(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(app.gui, "run_gui", lambda data_dir=None, demo=False: calls.append((data_dir, demo)) or 0)

    assert main([]) == 0
    assert main(["--demo", "--data-dir", str(tmp_path)]) == 0

    assert calls == [(None, False), (tmp_path, True)]
