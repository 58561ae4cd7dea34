"""The window says what the run is doing: a job paused mid-run shows paused."""

from __future__ import annotations

import os
import threading

from PySide6.QtWidgets import QApplication

from labqueue import ExpStatus, WorkerState
from labqueue.ui.queue_model import Column

from .conftest import noop, report_then_wait

#: Set to a folder to keep the screenshots these tests take (``docs/screenshots`` in the README).
SCREENSHOTS_ENV = "LABQUEUE_SCREENSHOTS"


def save_screenshot(window, tmp_path, name: str) -> None:
    QApplication.processEvents()  # lay out what the last frame changed, as a user would see it
    path = tmp_path / f"{name}.png"
    assert window.grab().save(str(path))
    folder = os.environ.get(SCREENSHOTS_ENV)
    if folder:
        window.grab().save(os.path.join(folder, f"{name}.png"))


def test_a_job_paused_at_its_checkpoint_shows_paused_with_its_progress(qtbot, window, manager, tmp_path):
    gate = threading.Event()
    exp = manager.queued_exec(report_then_wait)(gate, 0.4, "point 8/20")
    manager.queued_exec(noop)(1)
    model = window.queue_model
    qtbot.waitUntil(lambda: exp.status is ExpStatus.RUNNING and model.rowCount() == 2)

    window.queue_actions.pause_resume.trigger()

    qtbot.waitUntil(lambda: model.cell(0, Column.STATUS).text == "Paused")
    assert manager.state is WorkerState.PAUSED and exp.paused
    fraction, message = model.cell(0, Column.RESULT).progress
    assert fraction == 0.4 and message == "paused · point 8/20"
    qtbot.waitUntil(lambda: window.status.state_label.text() == "Paused mid-run")
    assert window.status.counts_label.text() == "1 queued · 1 paused"  # not "1 running"
    assert window.status.eta_label.text() == "time left: paused"  # neither has run before: no estimate
    save_screenshot(window, tmp_path, "paused-mid-run")

    window.queue_actions.pause_resume.trigger()  # Resume
    qtbot.waitUntil(lambda: model.cell(0, Column.STATUS).text == "Running")
    qtbot.waitUntil(lambda: window.status.state_label.text() == "Running")
    assert window.status.counts_label.text() == "1 queued · 1 running"
    gate.set()
    exp.result(timeout=10)
    assert exp.paused_seconds > 0
    qtbot.waitUntil(lambda: window.stats.estimate(exp) is not None)
    assert window.stats.estimate(exp) == exp.duration  # learned without the time paused


def test_a_job_paused_at_its_checkpoint_can_be_aborted(qtbot, window, manager):
    gate = threading.Event()
    exp = manager.queued_exec(report_then_wait)(gate, None, "")
    qtbot.waitUntil(lambda: exp.status is ExpStatus.RUNNING)
    manager.pause_worker()
    qtbot.waitUntil(lambda: exp.paused and window.queue_actions.abort.isEnabled())

    window.queue_actions.abort.trigger()

    qtbot.waitUntil(lambda: exp.status is ExpStatus.ABORTED)
    assert exp.traceback is not None and not exp.paused
