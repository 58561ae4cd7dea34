"""The window as a whole: saved layout, extra docks, settings hook, closing with work left."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from labqueue import ExpStatus, Manager, WorkerState
from labqueue.ui import main_window
from labqueue.ui.main_window import MainWindow
from labqueue.ui.queue_model import Column
from labqueue.ui.window_layout import LAYOUT_FILE

from .conftest import answer, noop, wait_for


def open_window(qtbot, config_dir, manager=None) -> MainWindow:
    window = MainWindow(manager or Manager(), config_dir=config_dir)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_layout_geometry_and_columns_come_back_after_a_restart(qtbot, tmp_path):
    config = tmp_path / "config"
    first = open_window(qtbot, config)
    first.resize(760, 540)  # inside the offscreen screen, which Qt keeps windows within
    first.docks["Log"].toggleViewAction().trigger()  # hidden through the View menu
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, first.docks["Details"])
    first.queue_view.horizontalHeader().resizeSection(Column.TITLE, 333)
    size = first.size()
    first.close()
    assert (config / LAYOUT_FILE).is_file()

    second = open_window(qtbot, config)

    assert second.size() == size and size.width() == 760
    assert second.docks["Log"].isHidden()
    assert second.dockWidgetArea(second.docks["Details"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert second.queue_view.horizontalHeader().sectionSize(Column.TITLE) == 333
    second.manager.shutdown()


def test_reset_layout_brings_hidden_panes_back(qtbot, window):
    window.docks["Live plot"].toggleViewAction().trigger()
    assert window.docks["Live plot"].isHidden()

    reset = next(a for a in window.view_menu.actions() if a.text() == "Reset layout")
    reset.trigger()

    assert not window.docks["Live plot"].isHidden()


def test_a_dock_added_later_is_listed_and_keeps_its_saved_place(qtbot, tmp_path):
    config = tmp_path / "config"
    first = open_window(qtbot, config)
    console = first.add_dock(QLabel("console"), "IPython console", Qt.DockWidgetArea.BottomDockWidgetArea)
    assert console.toggleViewAction() in first.view_menu.actions()
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, console)
    first.close()

    second = open_window(qtbot, config)
    again = second.add_dock(QLabel("console"), "IPython console", Qt.DockWidgetArea.BottomDockWidgetArea)

    assert again.objectName() == "dock-ipython-console"
    assert second.dockWidgetArea(again) == Qt.DockWidgetArea.LeftDockWidgetArea
    second.manager.shutdown()


def test_an_unreadable_layout_file_is_ignored_with_a_warning(qtbot, tmp_path, caplog):
    config = tmp_path / "config"
    config.mkdir()
    (config / LAYOUT_FILE).write_text("[window]\ngeometry=not a layout\nstate=@ByteArray(garbage)\n")

    window = open_window(qtbot, config)

    assert window.isVisible()
    assert any("Ignored the window layout" in record.getMessage() for record in caplog.records)
    window.manager.shutdown()


def test_a_layout_that_cannot_be_saved_does_not_stop_closing(qtbot, tmp_path, caplog):
    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    window = open_window(qtbot, blocked / "config")

    window.close()

    assert not window.isVisible()
    assert any("Could not save the window layout" in record.getMessage() for record in caplog.records)


def test_settings_entry_calls_the_handler_once_one_is_set(qtbot, window):
    opened = []
    assert not window.settings_action.isEnabled()

    window.set_settings_handler(lambda: opened.append(True))
    file_menu = next(m for m in window.menuBar().actions() if m.text() == "&File").menu()
    next(a for a in file_menu.actions() if a.text() == "Settings…").trigger()

    assert opened == [True]


def test_closing_with_work_left_asks_first_then_aborts_the_running_experiment(qtbot, window, manager):
    gate = threading.Event()
    running = manager.queued_exec(wait_for)(gate)
    manager.queued_exec(noop)(1)
    qtbot.waitUntil(lambda: running.status is ExpStatus.RUNNING)

    window.close()
    question = answer(qtbot, window, "confirm-close", "Cancel")
    assert window.isVisible() and running.status is ExpStatus.RUNNING
    assert "an experiment is running and 1 is queued" in question
    assert "will be lost" in question  # this manager keeps no journal

    window.close()
    answer(qtbot, window, "confirm-close", "Quit now")

    assert not window.isVisible()
    assert running.status is ExpStatus.ABORTED
    assert manager.state is WorkerState.STOPPED


def test_quitting_gives_up_on_a_job_that_ignores_abort_after_the_time_limit(qtbot, window, manager, monkeypatch):
    monkeypatch.setattr(main_window, "QUIT_ABORT_SECONDS", 0.2)
    stubborn = threading.Event()

    def ignores_abort() -> None:
        stubborn.wait()  # never calls checkpoint()

    job = manager.queued_exec(ignores_abort)()
    qtbot.waitUntil(lambda: job.status is ExpStatus.RUNNING)

    window.close()
    answer(qtbot, window, "confirm-close", "Quit now")

    assert not window.isVisible()
    assert manager.state is WorkerState.STOPPED
    stubborn.set()
    qtbot.waitUntil(lambda: job.done())


def test_stop_after_this_experiment_lets_it_finish_then_quits(qtbot, window, manager):
    gate = threading.Event()
    running = manager.queued_exec(wait_for)(gate)
    waiting = manager.queued_exec(noop)(1)
    qtbot.waitUntil(lambda: running.status is ExpStatus.RUNNING)

    window.close()
    answer(qtbot, window, "confirm-close", "Stop after this experiment")

    qtbot.waitUntil(lambda: window.status.state_label.text() == "Running · quits after this experiment")
    assert window.isVisible() and manager.pausing_after_current
    gate.set()  # its checkpoints do not wait: it runs to its end
    qtbot.waitUntil(lambda: not window.isVisible())
    assert running.status is ExpStatus.FINISHED
    assert waiting.status is not ExpStatus.FINISHED  # never started: cancelled in this process only
    assert manager.state is WorkerState.STOPPED


def test_resuming_while_waiting_to_quit_keeps_the_window_open(qtbot, window, manager):
    gate = threading.Event()
    running = manager.queued_exec(wait_for)(gate)
    qtbot.waitUntil(lambda: running.status is ExpStatus.RUNNING)
    window.close()
    answer(qtbot, window, "confirm-close", "Stop after this experiment")
    qtbot.waitUntil(lambda: manager.pausing_after_current)

    window.queue_actions.pause_resume.trigger()  # Resume
    gate.set()

    qtbot.waitUntil(lambda: running.status is ExpStatus.FINISHED)
    qtbot.waitUntil(lambda: window.status.state_label.text() == "Idle")
    assert window.isVisible()


def test_closing_an_idle_window_does_not_ask(qtbot, window, manager):
    manager.queued_exec(noop)(1).result(timeout=10)

    window.close()

    assert not window.isVisible()
    assert manager.state is WorkerState.STOPPED


def test_unfinished_work_from_the_journal_comes_back_paused_and_the_window_says_so(qtbot, tmp_path):
    data = tmp_path / "lab"
    first = Manager(data_dir=data)
    first.pause_worker()
    first.queued_exec(noop)(1)
    first.queued_exec(noop)(2)
    first.shutdown()

    window = open_window(qtbot, tmp_path / "config", Manager(data_dir=data))

    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 2)
    assert window.queue_actions.pause_resume.text() == "Resume"
    assert window.banner.isVisible()
    assert "2 queued experiments came back from the journal" in window.banner.message.text()
    assert window.status.currentMessage() == ""  # nothing painted over the status labels
    assert window.queue_model.index(0, Column.STATUS).data() == "Queued"

    window.queue_actions.pause_resume.trigger()  # Resume: the notice is no longer true
    qtbot.waitUntil(lambda: not window.banner.isVisible())
    window.manager.shutdown()
