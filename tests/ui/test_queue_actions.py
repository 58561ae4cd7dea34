"""Every queue action through the real widgets: toolbar buttons, menus, shortcuts, drops."""

from __future__ import annotations

import threading

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from labqueue import Experiment, ExpStatus, WorkerState
from labqueue.ui.queue_model import Column

from .conftest import answer, click_row, fail, noop, row_point, titles, wait_for


def queue_with(qtbot, window, manager, finished: int = 0, queued: int = 0):
    """``finished`` ended experiments, then ``queued`` ones waiting behind a paused worker."""
    done = [manager.queued_exec(noop)(i) for i in range(finished)]
    for exp in done:
        exp.result(timeout=10)
    manager.pause_worker()
    assert manager.wait_until_idle(timeout=10)
    waiting = [manager.queued_exec(noop)(100 + i) for i in range(queued)]
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == finished + queued)
    return done, waiting


def click_toolbar(qtbot, window, action) -> None:
    qtbot.mouseClick(window.toolbar.widgetForAction(action), Qt.MouseButton.LeftButton)


def press(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Type a shortcut into the queue table, as a user with the window active would."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.queue_view.setFocus()
    qtbot.keyClick(window.queue_view, key, modifier)


def drag_rows_to(window, rows: list[int], point: QPointF) -> bool:
    """Drag ``rows`` over the table and release at ``point``: enter, move, drop, like
    Qt's own drag would. Returns whether the drop was accepted."""
    model, viewport = window.queue_model, window.queue_view.viewport()
    payload = model.mimeData([model.index(row, 0) for row in rows])
    move, left, plain = Qt.DropAction.MoveAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QApplication.sendEvent(viewport, QDragEnterEvent(point.toPoint(), move, payload, left, plain))
    QApplication.sendEvent(viewport, QDragMoveEvent(point.toPoint(), move, payload, left, plain))
    drop = QDropEvent(point, move, payload, left, plain)
    QApplication.sendEvent(viewport, drop)
    return drop.isAccepted()


def test_pause_resume_label_follows_the_real_state(qtbot, window, manager):
    action = window.queue_actions.pause_resume
    assert action.text() == "Pause now"
    pause_icon = action.icon().cacheKey()

    click_toolbar(qtbot, window, action)
    assert manager.paused
    assert action.text() == "Resume"
    assert action.icon().cacheKey() != pause_icon

    threading.Thread(target=manager.resume_worker).start()  # someone else resumes (the console)
    qtbot.waitUntil(lambda: action.text() == "Pause now")

    manager.queued_exec(fail)("the lock-in is off")  # a failure pauses the queue
    qtbot.waitUntil(lambda: action.text() == "Resume")
    assert manager.paused
    assert "Resume" in action.toolTip() and "F8" in action.toolTip()


def test_abort_stops_the_running_experiment_and_is_then_disabled(qtbot, window, manager):
    gate = threading.Event()
    running = manager.queued_exec(wait_for)(gate)
    qtbot.waitUntil(window.queue_actions.abort.isEnabled)

    click_toolbar(qtbot, window, window.queue_actions.abort)

    qtbot.waitUntil(lambda: running.status is ExpStatus.ABORTED)
    qtbot.waitUntil(lambda: not window.queue_actions.abort.isEnabled())
    assert window.queue_model.index(0, Column.STATUS).data() == "Aborted"


def test_while_aborting_the_abort_action_offers_force_abort(qtbot, window, manager):
    manager.abort_grace_seconds = 3600
    stop, started = threading.Event(), threading.Event()

    def never_checks():
        started.set()
        while not stop.is_set():  # a pure-Python loop that ignores the abort
            pass

    running = manager.queued_exec(never_checks)()
    abort = window.queue_actions.abort
    try:
        assert started.wait(10)
        qtbot.waitUntil(abort.isEnabled)
        assert abort.text() == "Abort"

        click_toolbar(qtbot, window, abort)
        qtbot.waitUntil(lambda: abort.isEnabled() and abort.text() == "Force abort")
        assert manager.state is WorkerState.ABORTING and "now" in abort.toolTip()

        click_toolbar(qtbot, window, abort)
        qtbot.waitUntil(lambda: running.status is ExpStatus.ABORTED)
        qtbot.waitUntil(lambda: not abort.isEnabled() and abort.text() == "Abort")
    finally:
        stop.set()


def test_clear_asks_with_the_count_and_cancels_only_when_confirmed(qtbot, window, manager):
    _, waiting = queue_with(qtbot, window, manager, finished=1, queued=3)
    clear = window.queue_actions.clear
    assert clear.isEnabled()

    clear.trigger()
    box = window.findChild(QMessageBox, "confirm-clear")
    assert sorted(button.text() for button in box.buttons()) == ["Cancel 3 experiments", "Keep them"]
    question = answer(qtbot, window, "confirm-clear", "Keep them")
    assert "3 queued experiments" in question
    assert all(exp.status is ExpStatus.QUEUED for exp in waiting)

    click_toolbar(qtbot, window, clear)
    answer(qtbot, window, "confirm-clear", "Cancel 3 experiments")
    assert all(exp.status is ExpStatus.CANCELLED for exp in waiting)
    qtbot.waitUntil(lambda: not clear.isEnabled())


def test_remove_takes_a_non_contiguous_selection_and_spares_finished_rows(qtbot, window, manager):
    done, waiting = queue_with(qtbot, window, manager, finished=2, queued=5)
    click_row(qtbot, window, 1)  # a finished one
    click_row(qtbot, window, 3, Qt.KeyboardModifier.ControlModifier)
    click_row(qtbot, window, 5, Qt.KeyboardModifier.ControlModifier)
    click_row(qtbot, window, 6, Qt.KeyboardModifier.ControlModifier)
    assert window.queue_actions.remove.isEnabled()

    press(qtbot, window, Qt.Key.Key_Delete)

    assert [exp.status for exp in waiting] == [ExpStatus.QUEUED, ExpStatus.CANCELLED, ExpStatus.QUEUED] + [
        ExpStatus.CANCELLED
    ] * 2
    assert all(exp.status is ExpStatus.FINISHED for exp in done)
    queue = manager.job_queue
    assert queue.queue == done + [waiting[0], waiting[2]]  # cancelled ones leave the queue...
    qtbot.waitUntil(lambda: window.queue_model.experiments() == queue.snapshot().experiments)
    model = window.queue_model
    cancelled_rows = [model.row_of(exp.id) for exp in (waiting[1], waiting[3], waiting[4])]
    assert all(row is not None and row < model.history_size for row in cancelled_rows)  # ...not the window

    click_row(qtbot, window, cancelled_rows[0])
    window.queue_actions.requeue.trigger()

    assert queue.queued[-1].requeued_from == waiting[1].id


def test_actions_apply_only_where_they_make_sense(qtbot, window, manager):
    queue_with(qtbot, window, manager, finished=2, queued=3)
    actions = window.queue_actions

    click_row(qtbot, window, 0)  # finished
    assert actions.requeue.isEnabled() and actions.copy.isEnabled()
    assert not any(a.isEnabled() for a in (actions.remove, actions.move_up, actions.move_down, actions.abort))

    click_row(qtbot, window, 2)  # first queued
    assert actions.remove.isEnabled() and actions.move_down.isEnabled() and actions.move_bottom.isEnabled()
    assert not actions.move_up.isEnabled() and not actions.move_top.isEnabled() and not actions.requeue.isEnabled()

    click_row(qtbot, window, 4)  # last queued
    assert actions.move_up.isEnabled() and not actions.move_down.isEnabled()


def test_move_actions_reorder_the_selected_queued_rows(qtbot, window, manager):
    _, waiting = queue_with(qtbot, window, manager, finished=1, queued=5)
    queue = manager.job_queue
    a, b, c, d, e = waiting
    click_row(qtbot, window, 3)  # c
    click_row(qtbot, window, 5, Qt.KeyboardModifier.ControlModifier)  # e

    press(qtbot, window, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert queue.queued == [a, c, b, e, d]

    window.queue_actions.move_top.trigger()
    assert queue.queued == [c, e, a, b, d]
    qtbot.waitUntil(lambda: window.queue_model.experiments()[1:] == queue.queued)
    assert window.queue_view.selected_experiments() == [c, e]  # the selection moved with them

    click_toolbar(qtbot, window, window.queue_actions.move_bottom)
    assert queue.queued == [a, b, d, c, e]

    qtbot.waitUntil(lambda: window.queue_model.experiments()[1:] == queue.queued)
    click_row(qtbot, window, 1)  # a
    window.queue_actions.move_down.trigger()
    assert queue.queued == [b, a, d, c, e]


def test_dragging_queued_rows_drops_them_where_released(qtbot, window, manager):
    _, waiting = queue_with(qtbot, window, manager, finished=1, queued=5)
    a, b, c, d, e = waiting
    bottom_of_e = window.queue_view.visualRect(window.queue_model.index(5, 0)).bottom() - 1

    accepted = drag_rows_to(window, [1, 3], QPointF(row_point(window, 5).x(), bottom_of_e))  # a and c

    assert accepted
    assert manager.job_queue.queued == [b, d, e, a, c]
    qtbot.waitUntil(lambda: titles(window)[1:] == [exp.title for exp in (b, d, e, a, c)])


def test_dropping_onto_finished_rows_is_refused(qtbot, window, manager):
    _, waiting = queue_with(qtbot, window, manager, finished=2, queued=2)

    accepted = drag_rows_to(window, [3], QPointF(row_point(window, 0)))

    assert not accepted
    assert manager.job_queue.queued == waiting
    assert not window.queue_model.flags(window.queue_model.index(0, 0)) & Qt.ItemFlag.ItemIsDragEnabled


def test_requeue_queues_a_copy_of_each_selected_ended_experiment(qtbot, window, manager):
    done, _ = queue_with(qtbot, window, manager, finished=2, queued=1)
    click_row(qtbot, window, 0)
    click_row(qtbot, window, 1, Qt.KeyboardModifier.ShiftModifier)

    press(qtbot, window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)

    copies = manager.job_queue.queued[1:]
    assert [copy.requeued_from for copy in copies] == [exp.id for exp in done]
    assert [copy.title for copy in copies] == [exp.title for exp in done]
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 5)


def test_copy_puts_titles_with_results_or_tracebacks_on_the_clipboard(qtbot, window, manager):
    manager.pause_on_failure = False
    good = manager.queued_exec(noop)(42)
    bad = manager.queued_exec(fail)("no signal")
    assert manager.wait_until_idle(timeout=10)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 2)
    click_row(qtbot, window, 0)
    click_row(qtbot, window, 1, Qt.KeyboardModifier.ControlModifier)

    window.queue_actions.copy.trigger()

    text = QGuiApplication.clipboard().text()
    assert f"{good.title}\t42" in text
    assert bad.title in text and "RuntimeError: no signal" in text and "Traceback" in text


def test_context_menu_and_queue_menu_offer_the_same_actions(qtbot, window):
    actions = [action for group in window.queue_actions.groups for action in group]
    context = [action for action in window.queue_view.actions() if not action.isSeparator()]
    menu = next(m for m in window.menuBar().actions() if m.text() == "&Queue").menu()

    assert window.queue_view.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    assert context == actions
    assert [a for a in menu.actions() if not a.isSeparator() and a.menu() is None] == actions
    assert all(action.toolTip() and not action.shortcut().isEmpty() for action in actions)


def test_many_experiments_can_be_selected_and_removed_at_once(qtbot, window, manager):
    manager.pause_worker()
    manager.job_queue.put_many([Experiment(noop, (i,)) for i in range(3000)])
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 3000)
    click_row(qtbot, window, 0)
    press(qtbot, window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)

    window.queue_actions.remove.trigger()

    assert manager.job_queue.qsize("queued") == 0
    qtbot.waitUntil(lambda: window.stats.counts == {ExpStatus.CANCELLED: 3000})


def test_pause_now_and_pause_after_this_experiment_say_which_and_do_it(qtbot, window, manager):
    actions = window.queue_actions
    gate = threading.Event()
    running = manager.queued_exec(wait_for)(gate)
    following = manager.queued_exec(noop)(1)
    qtbot.waitUntil(actions.pause_after.isEnabled)
    assert actions.pause_resume.text() == "Pause now" and actions.pause_resume.iconText() == "Pause"
    assert "next checkpoint()" in actions.pause_resume.toolTip() and "(F8)" in actions.pause_resume.toolTip()
    assert "runs to its end" in actions.pause_after.toolTip() and "(Shift+F8)" in actions.pause_after.toolTip()

    click_toolbar(qtbot, window, actions.pause_after)

    assert manager.pausing_after_current and not running.paused
    assert actions.pause_resume.text() == "Resume"
    assert actions.pause_after.text() == "Pause now instead"
    qtbot.waitUntil(lambda: window.status.state_label.text() == "Running · pauses after this experiment")

    click_toolbar(qtbot, window, actions.pause_after)  # now instead: it waits at its checkpoint
    qtbot.waitUntil(lambda: running.paused)
    assert actions.pause_after.text() == "Pause after this experiment"

    click_toolbar(qtbot, window, actions.pause_after)  # let it finish after all
    gate.set()
    qtbot.waitUntil(lambda: running.status is ExpStatus.FINISHED)
    assert manager.wait_until_idle(timeout=10) and following.status is ExpStatus.QUEUED
    qtbot.waitUntil(lambda: not actions.pause_after.isEnabled())  # nothing runs: nothing to pause after
