"""Shortcuts with the console focused: the console keeps its keys, Abort and Pause work
from anywhere in the window, and the queue's editing keys act only in the table."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication

from labqueue import ExpStatus
from labqueue.app.console import create_console

from .conftest import click_row, fail, noop, wait_for

# ipykernel's own in-process kernel answers history requests synchronously.
pytestmark = pytest.mark.filterwarnings("ignore:For consistency across implementations:PendingDeprecationWarning")

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


_MODIFIER_KEYS = {Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Meta}


class KeyRecorder(QObject):
    """Records the keys that reach a widget (installed last, so it sees them first)."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[tuple[Qt.Key, Qt.KeyboardModifier]] = []

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.KeyPress and event.key() not in _MODIFIER_KEYS:
            self.keys.append((Qt.Key(event.key()), event.modifiers()))
        return False


@pytest.fixture
def console(qtbot, window, manager):
    """The IPython console docked in the window, focused, as a user typing in it."""
    console = create_console(manager, parent=window)
    window.add_dock(console, "Console", Qt.DockWidgetArea.BottomDockWidgetArea, tab_with="Log")
    qtbot.waitUntil(lambda: "In [" in console._control.toPlainText(), timeout=10_000)
    yield console
    console.shutdown()


def focus_console(qtbot, window, console) -> KeyRecorder:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    console._control.setFocus()
    qtbot.waitUntil(console._control.hasFocus)
    recorder = KeyRecorder()
    console._control.installEventFilter(recorder)
    return recorder


def type_in_console(qtbot, console, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(console._control, key, modifier)


def test_ctrl_p_recalls_the_console_history_and_leaves_a_paused_queue_paused(qtbot, window, manager, console):
    manager.queued_exec(fail)("the lock-in is off")  # a failure pauses the queue
    waiting = manager.queued_exec(noop)(1)
    qtbot.waitUntil(lambda: manager.paused and window.queue_actions.pause_resume.text() == "Resume")
    with qtbot.waitSignal(console.executed, timeout=10_000):
        console.execute("field = 0.34")
    recorder = focus_console(qtbot, window, console)

    type_in_console(qtbot, console, Qt.Key.Key_P, CTRL)

    assert (Qt.Key.Key_P, CTRL) in recorder.keys
    assert console.input_buffer == "field = 0.34"  # IPython's previous line
    assert manager.paused and waiting.status is ExpStatus.QUEUED


def test_ctrl_r_delete_and_ctrl_c_in_the_console_leave_the_queue_alone(qtbot, window, manager, console):
    done = manager.queued_exec(noop)(1)
    done.result(timeout=10)
    manager.pause_worker()
    waiting = manager.queued_exec(noop)(2)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 2)
    click_row(qtbot, window, 0)  # one ended and one queued experiment selected:
    click_row(qtbot, window, 1, Qt.KeyboardModifier.ShiftModifier)  # Requeue and Remove apply
    assert window.queue_actions.requeue.isEnabled() and window.queue_actions.remove.isEnabled()
    recorder = focus_console(qtbot, window, console)
    qtbot.keyClicks(console._control, "abc")

    for key, modifier in ((Qt.Key.Key_R, CTRL), (Qt.Key.Key_Left, Qt.KeyboardModifier.NoModifier)):
        type_in_console(qtbot, console, key, modifier)
    type_in_console(qtbot, console, Qt.Key.Key_Delete)
    type_in_console(qtbot, console, Qt.Key.Key_C, CTRL)

    assert {(Qt.Key.Key_R, CTRL), (Qt.Key.Key_Delete, Qt.KeyboardModifier.NoModifier)} <= set(recorder.keys)
    assert console.input_buffer == "ab"  # Delete deleted the character after the cursor
    assert manager.job_queue.queued == [waiting]  # neither requeued nor removed
    assert manager.job_queue.qsize() == 2


def test_ctrl_shift_a_selects_all_in_the_console_and_aborts_nothing(qtbot, window, manager, console):
    gate = threading.Event()
    running = manager.queued_exec(wait_for)(gate)
    qtbot.waitUntil(window.queue_actions.abort.isEnabled)
    focus_console(qtbot, window, console)
    qtbot.keyClicks(console._control, "x = 1")
    selected = []
    console.select_all_action.triggered.connect(lambda: selected.append(True))  # qtconsole's own action

    type_in_console(qtbot, console, Qt.Key.Key_A, CTRL_SHIFT)

    assert selected == [True]
    assert console._control.textCursor().hasSelection()
    assert running.status is ExpStatus.RUNNING
    gate.set()


def test_abort_and_pause_keys_work_with_the_console_focused(qtbot, window, manager, console):
    gate = threading.Event()
    running = manager.queued_exec(wait_for)(gate)
    qtbot.waitUntil(window.queue_actions.abort.isEnabled)
    recorder = focus_console(qtbot, window, console)

    type_in_console(qtbot, console, Qt.Key.Key_F8)
    assert manager.paused
    type_in_console(qtbot, console, Qt.Key.Key_F8)
    assert not manager.paused
    type_in_console(qtbot, console, Qt.Key.Key_X, CTRL_SHIFT)

    qtbot.waitUntil(lambda: running.status is ExpStatus.ABORTED)
    assert recorder.keys == []  # the window took them: nothing was typed into the console
    assert console.input_buffer == ""


def test_the_abort_key_again_while_aborting_forces_the_abort_from_the_console(qtbot, window, manager, console):
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
        recorder = focus_console(qtbot, window, console)

        type_in_console(qtbot, console, Qt.Key.Key_X, CTRL_SHIFT)
        qtbot.waitUntil(lambda: abort.isEnabled() and abort.text() == "Force abort")
        type_in_console(qtbot, console, Qt.Key.Key_X, CTRL_SHIFT)

        qtbot.waitUntil(lambda: running.status is ExpStatus.ABORTED)
        qtbot.waitUntil(lambda: abort.text() == "Abort")
        assert recorder.keys == []  # both went to the window, none into the console
    finally:
        stop.set()
