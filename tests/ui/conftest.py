"""Fixtures for the window tests: a real Manager and a real MainWindow, offscreen."""

from __future__ import annotations

import gc
import threading

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from labqueue import Manager, checkpoint, set_progress
from labqueue.ui import interpreter_sharing
from labqueue.ui.main_window import MainWindow
from labqueue.ui.queue_model import Column


def noop(i: int = 0) -> int:
    return i


def fail(message: str = "boom") -> None:
    raise RuntimeError(message)


def wait_for(gate: threading.Event) -> str:
    """A job that runs until ``gate`` is set, honouring pause and abort meanwhile."""
    while not gate.wait(0.02):
        checkpoint()
    return "released"


def report_then_wait(gate: threading.Event, fraction: float, message: str) -> str:
    """A job that reports its progress, then runs until ``gate`` is set."""
    set_progress(fraction, message)
    return wait_for(gate)


@pytest.fixture(autouse=True)
def collect_garbage_on_the_gui_thread(qapp):
    """After each test, once its windows are closed, collect their reference cycles
    here on the GUI thread (pyqtgraph keeps menus owned by Python), not later in some
    worker thread's automatic collection, where destroying Qt objects can hang.

    Every window is closed by then: one left open (it asked about queued jobs instead
    of closing) keeps the interpreter settings of an open window for the tests after."""
    yield
    gc.collect()
    assert interpreter_sharing._open == 0, "a window of this test is still open: stop its manager before it closes"


@pytest.fixture
def manager():
    manager = Manager()
    yield manager
    manager.shutdown(wait=True, abort_running=True, timeout=10)


@pytest.fixture
def window(qtbot, manager, tmp_path):
    window = MainWindow(manager, config_dir=tmp_path / "config")
    # Stopped before pytest-qt closes the window (it does so before fixtures end): a
    # window with queued jobs would ask instead of closing, and stay open for the tests
    # after, with the interpreter settings it took (no automatic garbage collection).
    qtbot.addWidget(window, before_close_func=lambda _: manager.shutdown(wait=True, abort_running=True, timeout=10))
    window.show()
    qtbot.waitExposed(window)
    yield window


def row_point(window: MainWindow, row: int) -> QPoint:
    view = window.queue_view
    return view.visualRect(window.queue_model.index(row, Column.TITLE)).center()


def click_row(qtbot, window: MainWindow, row: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Click a row of the queue table like a user (scrolling it into view first)."""
    view = window.queue_view
    view.scrollTo(window.queue_model.index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier, row_point(window, row))


def titles(window: MainWindow) -> list[str]:
    model = window.queue_model
    return [model.experiment(row).title for row in range(model.rowCount())]


def answer(qtbot, window, name: str, button_text: str) -> str:
    """Click ``button_text`` in the open message box ``name``; returns the box's text."""
    qtbot.waitUntil(
        lambda: window.findChild(QMessageBox, name) is not None and window.findChild(QMessageBox, name).isVisible()
    )
    box = window.findChild(QMessageBox, name)
    text = f"{box.text()} {box.informativeText()}"
    button = next(b for b in box.buttons() if b.text().replace("&", "") == button_text)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, name) is None)
    return text
