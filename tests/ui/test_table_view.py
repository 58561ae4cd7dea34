"""The table follows the running row unless the user scrolled away, and filters rows."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QAbstractSlider

from labqueue import Experiment, ExpStatus
from labqueue.ui.queue_model import RowFilter

from .conftest import fail, noop, titles, wait_for


def running_row_in_sight(window) -> bool:
    view, row = window.queue_view, window.queue_model.running_row
    first, last = view.rowAt(0), view.rowAt(view.viewport().height() - 1)
    return row is not None and first <= row <= (last if last >= 0 else row)


def test_the_table_follows_the_running_row_until_the_user_scrolls_away(qtbot, window, manager):
    window._frame_timer.stop()  # all of it reaches the table in one frame, below
    manager.job_queue.put_many([Experiment(noop, (i,)) for i in range(150)])
    first_gate, second_gate = threading.Event(), threading.Event()
    first = manager.queued_exec(wait_for)(first_gate)
    second = manager.queued_exec(wait_for)(second_gate)
    qtbot.waitUntil(lambda: first.status is ExpStatus.RUNNING)
    window.apply_pending()
    window._frame_timer.start()
    assert window.queue_model.running_row == 150 and running_row_in_sight(window)
    scrollbar = window.queue_view.verticalScrollBar()

    scrollbar.triggerAction(QAbstractSlider.SliderAction.SliderToMinimum)  # the user looks at the top
    qtbot.waitUntil(lambda: not window.queue_view.following)
    first_gate.set()
    qtbot.waitUntil(lambda: second.status is ExpStatus.RUNNING and window.queue_model.running_row == 151)
    assert scrollbar.value() == 0 and not running_row_in_sight(window)

    scrollbar.triggerAction(QAbstractSlider.SliderAction.SliderToMaximum)  # and scrolls back down to it
    qtbot.waitUntil(lambda: window.queue_view.following)
    second_gate.set()
    qtbot.waitUntil(lambda: second.done())


def test_the_filter_shows_all_queued_and_running_or_failed(qtbot, window, manager):
    manager.pause_on_failure = False
    manager.queued_exec(noop)(1).result(timeout=10)
    broken = manager.queued_exec(fail)("no signal")
    broken.exception(timeout=10)
    gate = threading.Event()
    running = manager.queued_exec(wait_for)(gate)
    qtbot.waitUntil(lambda: running.status is ExpStatus.RUNNING)
    manager.pause_worker(after_current=True)
    waiting = manager.queued_exec(noop)(2)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 4)
    combo = window.row_filter

    combo.setCurrentIndex(combo.findData(RowFilter.ACTIVE))
    assert titles(window) == [running.title, waiting.title]
    assert window.queue_model.running_row == 0 and window.queue_model.first_queued_row == 1
    combo.setCurrentIndex(combo.findData(RowFilter.FAILED))
    assert titles(window) == [broken.title]

    again = manager.queued_exec(fail)("still no signal")  # queued behind the rest...
    manager.job_queue.move(again, 0)
    manager.pause_worker()
    gate.set()  # ...the running one ends, and nothing else starts
    assert manager.wait_until_idle(timeout=10)
    manager.resume_worker()
    again.exception(timeout=10)
    qtbot.waitUntil(lambda: titles(window) == [broken.title, again.title])  # failures keep coming in

    combo.setCurrentIndex(combo.findData(RowFilter.ALL))
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 5)
    qtbot.waitUntil(lambda: window.stats.counts.get(ExpStatus.FAILED) == 2)
