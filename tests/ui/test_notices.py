"""The banner above the table says why the queue is not running, and goes away when
that stops being true: a failure, a stall, a dead worker, work back from the journal."""

from __future__ import annotations

import logging
import sqlite3
import threading
from html import escape

from PySide6.QtCore import Qt

from labqueue import ExpStatus, Manager, WorkerState
from labqueue.core.journal import JOURNAL_FILE
from labqueue.core.notify import StallWatchdog
from labqueue.ui.main_window import MainWindow

from .conftest import fail, noop, wait_for
from .test_run_state import save_screenshot


def banner_button(window, text: str):
    return next(button for button in window.banner.buttons if button.text() == text)


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_a_failure_that_paused_the_queue_is_named_with_resume_requeue_and_traceback(qtbot, window, manager, tmp_path):
    manager.queued_exec(noop)(1).result(timeout=10)
    failed = manager.queued_exec(fail)("lock-in amplifier channel 3 did not answer")
    waiting = manager.queued_exec(noop)(2)
    qtbot.waitUntil(window.banner.isVisible)

    text = window.banner.message.text()
    assert escape(failed.title) in text and "RuntimeError: lock-in amplifier channel 3 did not answer" in text
    assert [button.text() for button in window.banner.buttons] == ["Resume", "Requeue it", "Show traceback"]
    save_screenshot(window, tmp_path, "failure-banner")

    click(qtbot, banner_button(window, "Show traceback"))
    assert window.details.experiment is failed
    assert window.details.tabs.tabText(window.details.tabs.currentIndex()) == "Traceback"

    click(qtbot, banner_button(window, "Requeue it"))
    copy = manager.job_queue.queued[0]
    assert copy.requeued_from == failed.id and manager.job_queue.queued[1] is waiting and manager.paused
    qtbot.waitUntil(lambda: "A copy is queued to run next" in window.banner.message.text())
    assert [button.text() for button in window.banner.buttons] == ["Resume", "Show traceback"]

    click(qtbot, banner_button(window, "Resume"))  # the copy runs first, and fails again
    qtbot.waitUntil(lambda: copy.done() and window.banner.notice is not None and copy.id in window.banner.notice.key)
    assert "Requeue it" in [button.text() for button in window.banner.buttons]  # a new failure, a new notice

    click(qtbot, banner_button(window, "Resume"))
    qtbot.waitUntil(lambda: not window.banner.isVisible())
    assert waiting.result(timeout=10) == 2
    manager.pause_worker()  # a pause of one's own later is not blamed on the failure
    qtbot.waitUntil(lambda: window.queue_actions.pause_resume.text() == "Resume")
    assert not window.banner.isVisible()


def test_no_banner_for_a_failure_when_failures_do_not_pause(qtbot, window, manager):
    manager.pause_on_failure = False
    assert manager.queued_exec(fail)().exception(timeout=10) is not None
    manager.pause_worker()
    qtbot.waitUntil(lambda: window.stats.last_failed is not None)
    assert not window.banner.isVisible()


def test_the_stall_watchdog_puts_the_quiet_experiment_in_the_banner(qtbot, window, manager):
    gate = threading.Event()
    exp = manager.queued_exec(wait_for)(gate)  # reports nothing, logs nothing
    watchdog = StallWatchdog(manager, 0.2, on_stall=window.report_stall)
    try:
        qtbot.waitUntil(window.banner.isVisible, timeout=5000)
        assert escape(exp.title) in window.banner.message.text()
        assert "logged nothing since" in window.banner.message.text()
        assert [button.text() for button in window.banner.buttons] == ["Abort", "Show its log"]
        gate.set()
        exp.result(timeout=10)
        qtbot.waitUntil(lambda: not window.banner.isVisible())  # it ended
    finally:
        watchdog.close()


def test_a_stall_notice_goes_away_at_a_sign_of_life(qtbot, window, manager):
    gate, logged = threading.Event(), threading.Event()

    def quiet_then_logs() -> None:
        wait_for(gate)
        logging.getLogger("lab").warning("the instrument answered")
        logged.set()
        wait_for(finish)

    finish = threading.Event()
    exp = manager.queued_exec(quiet_then_logs)()
    qtbot.waitUntil(lambda: exp.status is ExpStatus.RUNNING)
    window.report_stall(exp, 900.0)
    qtbot.waitUntil(window.banner.isVisible)

    gate.set()
    assert logged.wait(10)
    qtbot.waitUntil(lambda: not window.banner.isVisible())
    finish.set()
    exp.result(timeout=10)


def test_stall_banner_abort_aborts_the_quiet_experiment(qtbot, window, manager):
    gate = threading.Event()
    exp = manager.queued_exec(wait_for)(gate)
    qtbot.waitUntil(lambda: exp.status is ExpStatus.RUNNING)
    threading.Thread(target=window.report_stall, args=(exp, 900.0)).start()  # as the watchdog's thread does
    qtbot.waitUntil(window.banner.isVisible)

    click(qtbot, banner_button(window, "Abort"))

    qtbot.waitUntil(lambda: exp.status is ExpStatus.ABORTED)
    qtbot.waitUntil(lambda: not window.banner.isVisible())


def test_a_dead_worker_is_said_when_the_core_reports_one(qtbot, window, manager, monkeypatch):
    monkeypatch.setattr(Manager, "state", property(lambda self: WorkerState.DEAD))
    qtbot.waitUntil(window.banner.isVisible)
    assert "worker has stopped unexpectedly" in window.banner.message.text()
    window.docks["Log"].hide()

    click(qtbot, banner_button(window, "Show log"))

    assert window.docks["Log"].isVisible()
    monkeypatch.undo()
    qtbot.waitUntil(lambda: not window.banner.isVisible())


def test_work_back_from_the_journal_is_said_and_interrupted_ones_can_be_requeued(qtbot, tmp_path):
    data = tmp_path / "lab"
    first = Manager(data_dir=data)
    first.pause_worker()
    was_running = first.queued_exec(noop)(1)
    first.queued_exec(noop)(2)
    first.shutdown()
    with sqlite3.connect(data / JOURNAL_FILE) as conn:  # as if it was running when the program died
        conn.execute("UPDATE experiments SET status = 'running' WHERE id = ?", (was_running.id,))
    conn.close()

    window = MainWindow(Manager(data_dir=data), config_dir=tmp_path / "config")
    qtbot.addWidget(window)
    window.show()
    manager = window.manager
    try:
        qtbot.waitUntil(window.banner.isVisible)
        text = window.banner.message.text()
        assert "1 queued experiment came back from the journal" in text
        assert "noop(i=1)</b> was running when labqueue stopped and came back interrupted" in text
        assert [button.text() for button in window.banner.buttons] == ["Resume", "Requeue interrupted"]

        click(qtbot, banner_button(window, "Requeue interrupted"))
        assert manager.job_queue.queued[0].requeued_from == was_running.id
        qtbot.waitUntil(lambda: "2 queued experiments came back" in window.banner.message.text())

        click(qtbot, banner_button(window, "Resume"))
        qtbot.waitUntil(lambda: not window.banner.isVisible())
        assert manager.wait_until_idle(timeout=10)
    finally:
        manager.shutdown()
