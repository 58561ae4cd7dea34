"""What was logged shows where the scientist looks: a marker on the row, the error on
the log's row, the experiment's id on every row of it, and a count on the log's tab."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from labqueue.ui.queue_model import Column

from .conftest import fail

lab_log = logging.getLogger("lab.instrument")


def warns_twice() -> str:
    lab_log.warning("lock-in overload")
    lab_log.warning("lock-in overload again")
    return "done"


def logs_an_error() -> str:
    lab_log.error("the cryostat is warming up")
    return "done"


def log_rows(window) -> list:
    model = window.log_pane.model
    return [model.row(i) for i in range(model.rowCount())]


def test_rows_that_logged_warnings_or_errors_show_a_marker_with_the_count(qtbot, window, manager):
    manager.queued_exec(warns_twice)().result(timeout=10)
    manager.queued_exec(logs_an_error)().result(timeout=10)
    model = window.queue_model
    qtbot.waitUntil(lambda: model.rowCount() == 2)

    warned, erred = model.cell(0, Column.TITLE), model.cell(1, Column.TITLE)

    assert warned.badge[0] == "⚠ 2" and erred.badge[0] == "✖ 1"
    assert warned.badge[1] != erred.badge[1]  # amber and red
    assert "logged 2 warnings" in model.index(0, Column.TITLE).data(Qt.ItemDataRole.ToolTipRole)
    assert model.cell(0, Column.ID).text == model.experiment(0).id[:8]


def test_a_failure_in_the_log_shows_its_error_then_the_pause_both_naming_the_experiment(qtbot, window, manager):
    failed = manager.queued_exec(fail)("no signal on channel 3")
    qtbot.waitUntil(lambda: any("Queue paused" in row.message for row in log_rows(window)))

    rows = [row for row in log_rows(window) if row.source == "labqueue"]
    error = next(i for i, row in enumerate(rows) if row.levelno == logging.ERROR)
    pause = next(i for i, row in enumerate(rows) if "Queue paused" in row.message)
    assert error < pause  # the pause comes after the error that caused it
    assert rows[error].summary.endswith("failed: RuntimeError: no signal on channel 3")
    assert rows[error].experiment == rows[pause].experiment == failed.id[:8]
    assert rows[error].title == failed.title


def test_double_clicking_a_log_row_selects_its_experiment(qtbot, window, manager):
    exp = manager.queued_exec(warns_twice)()
    exp.result(timeout=10)
    qtbot.waitUntil(lambda: any(row.experiment == exp.id[:8] for row in log_rows(window)))
    view = window.log_pane.view
    row = next(i for i, r in enumerate(log_rows(window)) if r.experiment == exp.id[:8])
    index = window.log_pane.filter.mapFromSource(window.log_pane.model.index(row, 2))
    view.scrollTo(index)

    where = view.visualRect(index).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)  # a double click: press, release,
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)  # then the second press

    assert window.details.experiment is exp


def test_warnings_behind_the_console_are_counted_on_the_log_tab(qtbot, window, manager):
    window.add_dock(QLabel("console"), "Console", Qt.DockWidgetArea.BottomDockWidgetArea, tab_with="Log")
    log_dock = window.docks["Log"]
    qtbot.waitUntil(lambda: log_dock.visibleRegion().isEmpty())  # the console is in front

    manager.queued_exec(warns_twice)().result(timeout=10)

    qtbot.waitUntil(lambda: log_dock.windowTitle() == "Log ⚠ 2")
    log_dock.raise_()
    qtbot.waitUntil(lambda: log_dock.windowTitle() == "Log")
