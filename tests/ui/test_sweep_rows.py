"""A sweep in the queue table: one row with its counts, progress and time left that
expands into its runs; pause, abort, remove and requeue on the sweep and on one run;
Restart sweep; and a command's live output."""

from __future__ import annotations

import threading

from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication, QMessageBox

from labqueue import ExpStatus, Manager, WorkerState
from labqueue.core.runs import CommandExperiment
from labqueue.multirun import ParallelLocalRunner, multirun
from labqueue.ui.main_window import MainWindow
from labqueue.ui.queue_model import Column, RowFilter

from ..core.runs.helpers import Pipe, child
from .conftest import click_row, noop
from .test_queue_actions import drag_rows_to
from .test_run_state import save_screenshot


def sweep_row(window, index: int = 0):
    """(row, sweep) of the table's ``index``-th sweep, or (None, None)."""
    rows = window.queue_model.sweep_rows()
    return rows[index] if len(rows) > index else (None, None)


def text(window, row: int, column: Column) -> str:
    return window.queue_model.cell(row, column).text


def click_arrow(qtbot, window, row: int, double: bool = False) -> None:
    view = window.queue_view
    cell = view.visualRect(window.queue_model.index(row, Column.STATUS))
    click = qtbot.mouseDClick if double else qtbot.mouseClick
    click(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(cell.left() + 8, cell.center().y()))


def press(qtbot, window, key: Qt.Key) -> None:
    window.queue_view.setFocus()
    qtbot.keyClick(window.queue_view, key)


def test_a_sweep_is_one_row_with_its_counts_that_expands_into_its_runs(qtbot, window, manager, tmp_path):
    before = manager.queued_exec(noop)(1)
    runs = multirun(
        runs=[{"exit": code} for code in (0, 0, 1)],
        cmd=child("--exit-param"),
        output_path=tmp_path / "sweep",
        runner=ParallelLocalRunner(max_parallel=2, manager=manager),
    )
    model = window.queue_model
    qtbot.waitUntil(
        lambda: sweep_row(window)[1] is not None and sweep_row(window)[1].counts_text() == "2 done · 1 failed"
    )
    row, sweep = sweep_row(window)
    assert model.rowCount() == 2 and model.experiment(0) is before  # the plain one, then the sweep's row
    assert text(window, row, Column.TITLE) == "multirun python × 3 in sweep"
    assert text(window, row, Column.STATUS) == "Ended"
    assert model.cell(row, Column.RESULT).progress == (1.0, "2 done · 1 failed")
    assert model.cell(row, Column.STATUS).expanded is False
    assert not manager.paused  # the failed run did not stop the queue

    click_arrow(qtbot, window, row)
    qtbot.waitUntil(lambda: model.rowCount() == 5)
    click_arrow(qtbot, window, row, double=True)  # two clicks, two toggles: shown again
    assert model.rowCount() == 5
    assert [model.experiment(row + i) for i in (1, 2, 3)] == [run.experiment for run in runs]
    assert text(window, row + 3, Column.STATUS) == "Failed" and model.cell(row + 3, Column.STATUS).indent == 1
    assert model.cell(row, Column.STATUS).expanded is True

    click_row(qtbot, window, row + 2)  # a run: Left goes back to its sweep's row, and Left again hides the runs
    press(qtbot, window, Qt.Key.Key_Left)
    assert window.queue_view.selected_sweeps() == [sweep]
    press(qtbot, window, Qt.Key.Key_Left)
    assert model.rowCount() == 2
    press(qtbot, window, Qt.Key.Key_Plus)
    assert model.rowCount() == 5
    press(qtbot, window, Qt.Key.Key_Minus)
    assert model.rowCount() == 2
    press(qtbot, window, Qt.Key.Key_Right)
    assert model.rowCount() == 5
    assert window.queue_view.selected_sweeps() == [sweep]  # the selection stayed on the sweep
    assert window.details.experiment is None  # a sweep's row is no experiment to detail

    window.row_filter.setCurrentIndex(window.row_filter.findData(RowFilter.FAILED))
    assert [model.item(row) for row in range(model.rowCount())] == [sweep, *sweep.members]  # a run failed
    window.row_filter.setCurrentIndex(window.row_filter.findData(RowFilter.ACTIVE))
    assert model.rowCount() == 0  # it has ended
    window.row_filter.setCurrentIndex(window.row_filter.findData(RowFilter.ALL))
    row = sweep_row(window)[0]
    click_row(qtbot, window, row)
    press(qtbot, window, Qt.Key.Key_Left)
    window.show_traceback(runs[2].experiment)  # the banner's or the log's way to a run hidden under its sweep
    assert model.rowCount() == 5 and window.queue_view.selected_experiments() == [runs[2].experiment]
    assert window.details.experiment is runs[2].experiment


def test_hold_abort_of_one_run_requeue_and_abort_of_the_whole_sweep_from_the_table(qtbot, window, manager, tmp_path):
    pipe = Pipe(tmp_path / "tell.fifo")
    try:
        runner = ParallelLocalRunner(max_parallel=1, manager=manager)
        runs = multirun(runs=[{}] * 3, cmd=child("--tell", str(pipe.path), "--hang"), output_path=tmp_path / "s",
                        runner=runner, wait=False)  # fmt: skip
        pipe.pids()
        model, view, actions = window.queue_model, window.queue_view, window.queue_actions
        group_id = runs[0].experiment.group_id
        qtbot.waitUntil(lambda: sweep_row(window)[1] is not None and sweep_row(window)[1].total == 3)
        row, sweep = sweep_row(window)
        assert row == model.running_row  # a sweep with a running run is among the running rows
        assert text(window, row, Column.STATUS) == "Running"
        click_row(qtbot, window, row)
        assert actions.pause_sweep.isEnabled() and actions.pause_sweep.text() == "Pause sweep"
        actions.pause_sweep.trigger()
        assert manager.job_queue.is_held(group_id)
        qtbot.waitUntil(lambda: sweep.counts_text() == "held · 1 running · 2 queued")
        assert actions.pause_sweep.text() == "Resume sweep"

        view.set_expanded(row, True)
        click_row(qtbot, window, row + 1)  # the running run
        actions.abort_selected.trigger()  # that run only
        runs[0].experiment.exception(timeout=30)
        assert runs[0].experiment.status is ExpStatus.ABORTED
        assert runs[1].experiment.status is ExpStatus.QUEUED  # held: the next does not start
        qtbot.waitUntil(lambda: model.running_row is None)  # the aborted run has left the running ones
        assert text(window, sweep_row(window)[0], Column.STATUS) == "Held"
        assert sweep_row(window)[0] == model.first_queued_row  # in the queue, where its next run is

        row = sweep_row(window)[0]
        click_row(qtbot, window, row + 1)  # the aborted run, still first under its sweep
        assert model.experiment(row + 1) is runs[0].experiment
        assert actions.requeue.isEnabled()
        actions.requeue.trigger()
        qtbot.waitUntil(lambda: sweep.total == 3 and len(sweep.members) == 4)
        again = next(exp for exp in sweep.members if exp.requeued_from == runs[0].experiment.id)
        assert again.status is ExpStatus.QUEUED and again.group_id == group_id
        assert sweep.counts_text() == "held · 3 queued"  # the requeued copy replaces the aborted run

        click_row(qtbot, window, sweep_row(window)[0])
        actions.pause_sweep.trigger()  # resume: one run starts
        assert not manager.job_queue.is_held(group_id)
        pipe.pids()
        actions.abort_selected.trigger()  # the whole sweep, from its row
        qtbot.waitUntil(lambda: all(exp.status.is_terminal for exp in sweep.members) and not sweep.is_active)
        statuses = sorted(exp.status.name for exp in sweep.latest)
        assert statuses == ["ABORTED", "CANCELLED", "CANCELLED"]
        qtbot.waitUntil(lambda: "1 aborted · 2 cancelled" in text(window, sweep_row(window)[0], Column.RESULT))
        row = sweep_row(window)[0]
        assert row < model.history_size  # ended: among the ended rows now

        click_row(qtbot, window, row)
        actions.requeue.trigger()  # the sweep's runs that did not finish, each once
        qtbot.waitUntil(lambda: sweep.counts[ExpStatus.QUEUED] + sweep.counts[ExpStatus.RUNNING] == 3)
        pipe.pids()
        click_row(qtbot, window, sweep_row(window)[0])
        actions.remove.trigger()  # its queued runs
        qtbot.waitUntil(lambda: sweep.counts[ExpStatus.QUEUED] == 0 and sweep.counts[ExpStatus.CANCELLED] == 2)
        actions.abort_selected.trigger()
        qtbot.waitUntil(lambda: not sweep.is_active)
    finally:
        pipe.close()


def test_restart_sweep_skips_finished_runs_and_a_changed_input_asks_before_forcing(qtbot, window, manager, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("one")
    out = tmp_path / "sweep"
    runner = ParallelLocalRunner(max_parallel=2, manager=manager)
    multirun(runs=[{"exit": 0}, {"exit": 1}], cmd=child("--exit-param"), output_path=out, input_files=[data],
             runner=runner)  # fmt: skip
    model, actions = window.queue_model, window.queue_actions
    qtbot.waitUntil(lambda: sweep_row(window)[1] is not None and not sweep_row(window)[1].is_active)
    click_row(qtbot, window, sweep_row(window)[0])
    assert actions.restart_sweep.isEnabled()
    actions.restart_sweep.trigger()
    qtbot.waitUntil(lambda: sweep_row(window, 1)[1] is not None and not sweep_row(window, 1)[1].is_active)
    restarted = sweep_row(window, 1)[1]
    assert restarted.counts_text() == "1 failed"  # run_0 had finished: skipped, not queued
    assert (out / "run_1" / "attempt-1").is_dir()

    data.write_text("two")
    click_row(qtbot, window, sweep_row(window, 1)[0])
    actions.restart_sweep.trigger()
    box = window.findChild(QMessageBox, "restart-sweep-changed")
    assert box is not None and box.isVisible()
    assert f"the content of the input file data.txt ({data}) changed" in box.informativeText()
    assert len(model.sweep_rows()) == 2  # nothing queued until it is forced
    force = next(button for button in box.buttons() if button.text() == "Restart anyway")
    force.click()
    qtbot.waitUntil(lambda: sweep_row(window, 2)[1] is not None and not sweep_row(window, 2)[1].is_active)
    assert sweep_row(window, 2)[1].counts_text() == "1 failed"


def test_a_restart_of_a_sweep_whose_folder_is_gone_says_why(qtbot, window, manager, tmp_path):
    out = tmp_path / "sweep"
    multirun(runs=[{}], cmd=child(), output_path=out, runner=ParallelLocalRunner(manager=manager))
    qtbot.waitUntil(lambda: sweep_row(window)[1] is not None and not sweep_row(window)[1].is_active)
    click_row(qtbot, window, sweep_row(window)[0])
    assert window.queue_actions.restart_sweep.isEnabled()
    (out / "sweep.json").write_text("{not json")
    box = window.queue_actions.restart_selected_sweep()
    assert box is not None and box.objectName() == "restart-sweep-failed"
    assert "cannot read the sweep" in box.informativeText() and "sweep.json" in box.informativeText()
    box.close()


def test_a_sweep_expanded_in_the_window_renders_to_a_png(qtbot, window, manager, tmp_path):
    pipe = Pipe(tmp_path / "tell.fifo")
    try:
        for i in range(2):
            manager.queued_exec(noop)(i)
        runs = multirun(
            runs=[{"exit": code} for code in (0, 0, 0, 1, 0)] + [{"hang": True}] * 6,
            cmd=child("--exit-param", "--hang-if-param", str(tmp_path / "release"), "--tell", str(pipe.path), "--hang"),
            output_path=tmp_path / "temperature",
            runner=ParallelLocalRunner(max_parallel=1, manager=manager),
            wait=False,
        )
        manager.queued_exec(noop)(3)
        pipe.pids()  # run 5 runs (and hangs); 4 done, 1 failed, 5 queued
        qtbot.waitUntil(lambda: sweep_row(window)[1] is not None and sweep_row(window)[1].counts[ExpStatus.RUNNING])
        row = sweep_row(window)[0]
        window.queue_view.set_expanded(row, True)
        click_row(qtbot, window, row)  # the sweep, in the details
        assert window.details.sweep is sweep_row(window)[1]
        assert window.details.sweep_page.first_failed is runs[3].experiment
        QApplication.processEvents()
        save_screenshot(window, tmp_path, "sweep-expanded")
        manager.abort_group(runs[0].experiment.group_id)
    finally:
        pipe.close()


def test_the_details_show_a_commands_output_live(qtbot, window, manager, tmp_path):
    pipe = Pipe(tmp_path / "tell.fifo")
    try:
        exp = CommandExperiment(
            child("--stdout", "step 1 done", "--stderr", "careful", "--tell", str(pipe.path), "--hang"),
            run_dir=tmp_path / "r",
        )
        manager.job_queue.put(exp)
        pipe.pids()
        window.details.show_experiment(exp)
        output = window.details.texts["Output"]
        qtbot.waitUntil(lambda: "step 1 done" in output.toPlainText() and "careful" in output.toPlainText())
        assert "stdout.txt" in output.toPlainText()
        manager.abort_experiment(exp)
        exp.exception(timeout=30)
    finally:
        pipe.close()


def test_a_sweeps_row_drags_its_queued_runs_and_a_plain_row_drops_before_the_sweep(qtbot, window, manager):
    manager.pause_worker()
    first = manager.queued_exec(noop)(1)
    sweep = manager.sweep(noop, {"i": [10, 11, 12]})
    last = manager.queued_exec(noop)(2)
    model = window.queue_model
    qtbot.waitUntil(lambda: model.rowCount() == 3 and sweep_row(window)[0] == 1)
    assert [text(window, row, Column.POSITION) for row in range(3)] == ["1", "2", "5"]  # the sweep's first run is 2nd

    below_last = window.queue_view.visualRect(model.index(2, Column.TITLE)).bottomLeft() + QPoint(4, 4)
    assert drag_rows_to(window, [1], QPointF(below_last))  # the sweep's row, to the end
    assert manager.job_queue.queued == [first, last, *sweep.experiments]
    qtbot.waitUntil(lambda: [model.item(row) for row in range(3)] == [first, last, sweep_row(window)[1]])

    window.queue_view.set_expanded(2, True)
    on_the_sweep = window.queue_view.visualRect(model.index(2, Column.TITLE)).topLeft() + QPoint(4, 2)
    assert drag_rows_to(window, [0], QPointF(on_the_sweep))  # a plain row, just above the sweep's row
    assert manager.job_queue.queued == [last, first, *sweep.experiments]


def test_a_sweep_held_before_a_restart_shows_held_in_the_window(qtbot, tmp_path):
    first = Manager(data_dir=tmp_path / "lab", start=False)
    sweep = first.sweep(noop, {"i": [1, 2]})
    first.pause_group(sweep.group.id)
    first.shutdown()
    again = Manager(data_dir=tmp_path / "lab")
    try:
        window = MainWindow(again, config_dir=tmp_path / "config")
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: sweep_row(window)[1] is not None)
        row, shown = sweep_row(window)
        assert text(window, row, Column.STATUS) == "Held" and shown.counts_text() == "held · 2 queued"
        click_row(qtbot, window, row)
        assert window.queue_actions.pause_sweep.text() == "Resume sweep"
    finally:
        again.shutdown(wait=True, abort_running=True, timeout=10)


def test_a_sweeps_row_shows_the_sweep_in_the_details_and_its_first_failed_run_one_click_away(
    qtbot, window, manager, tmp_path
):
    runs = multirun(
        runs=[{"exit": code} for code in (0, 3, 1)],
        cmd=child("--exit-param"),
        output_path=tmp_path / "sweep",
        runner=ParallelLocalRunner(max_parallel=2, manager=manager),
    )
    qtbot.waitUntil(lambda: sweep_row(window)[1] is not None and not sweep_row(window)[1].is_active)
    row, sweep = sweep_row(window)
    click_row(qtbot, window, row)
    page = window.details.sweep_page
    assert window.details.sweep is sweep and page.isVisible()
    assert page.title.text() == "multirun python × 3 in sweep"
    fields = {name: label.text() for name, label in page.fields.items()}
    assert fields["Kind"].startswith("multirun")
    assert fields["Status"] == "Ended"
    assert fields["Runs"] == "3 in all: 1 done · 2 failed"
    assert fields["Progress"] == "3 of 3 ended" and page.progress.value() == page.progress.maximum()
    assert fields["Held"] == "no" and fields["At once"] == "at most 2 of its runs"
    assert fields["Folder"] == str(tmp_path / "sweep")
    assert "--exit-param" in fields["Command"]
    assert fields["Id"] == sweep.group_id
    assert page.first_failed is runs[1].experiment  # the first of its failed runs, in its order
    assert page.failed_run.text() == runs[1].experiment.title and "3" in page.failed_error.text()

    qtbot.mouseClick(page.show_failed, Qt.MouseButton.LeftButton)
    assert window.queue_view.selected_experiments() == [runs[1].experiment]
    assert window.details.experiment is runs[1].experiment and window.details.sweep is None


def test_the_sweep_details_rebuild_only_when_the_sweep_moved_on(qtbot, window, manager):
    manager.pause_worker()
    sweep = manager.sweep(noop, {"i": list(range(5))})
    qtbot.waitUntil(lambda: sweep_row(window)[1] is not None and sweep_row(window)[1].total == 5)
    click_row(qtbot, window, sweep_row(window)[0])
    page = window.details.sweep_page
    assert page.fields["Runs"].text() == "5 in all: 5 queued"
    assert page.fields["Kind"].text() == "sweep (a Python function)"
    assert page.fields["Time left"].text() == "not known yet" and not page.fields["Command"].isVisible()
    page.fields["Runs"].setText("painted over")
    window.apply_pending()
    assert page.fields["Runs"].text() == "painted over"  # nothing changed: nothing rebuilt
    window.queue_actions.pause_sweep.trigger()
    qtbot.waitUntil(lambda: page.fields["Held"].text().startswith("yes"))
    assert page.fields["Runs"].text() == "5 in all: 5 queued"  # "held" is said once, on its own line
    assert page.fields["Status"].text() == "Held"
    window.queue_actions.pause_sweep.trigger()  # Resume sweep
    manager.resume_worker()
    sweep.experiments[-1].result(timeout=30)
    qtbot.waitUntil(lambda: page.fields["Runs"].text() == "5 in all: 5 done")
    assert page.fields["Time left"].text() == "none" and page.progress.value() == page.progress.maximum()


def test_actions_on_a_sweeps_rows_are_enabled_only_where_they_would_act(qtbot, window, manager):
    done = manager.sweep(noop, {"i": [1, 2]})
    done.experiments[-1].result(timeout=30)
    manager.pause_worker()
    waiting = manager.sweep(noop, {"i": [3, 4, 5]})
    manager.job_queue.remove([waiting.experiments[0]])  # cancelled: an ended run under a queued sweep
    actions, model, view = window.queue_actions, window.queue_model, window.queue_view
    second = lambda: sweep_row(window, 1)[1]  # noqa: E731
    qtbot.waitUntil(lambda: second() is not None and second().counts_text() == "2 queued · 1 cancelled")

    click_row(qtbot, window, sweep_row(window)[0])  # every run finished: nothing to requeue, nothing queued
    assert not actions.requeue.isEnabled() and actions.requeue.text() == "Requeue"
    assert not actions.remove.isEnabled() and not actions.move_up.isEnabled()

    row = sweep_row(window, 1)[0]
    assert row >= model.first_queued_row
    view.set_expanded(row, True)
    click_row(qtbot, window, row + 1)  # the cancelled run, among the queued rows
    assert model.experiment(row + 1) is waiting.experiments[0]
    for action in (actions.remove, actions.move_up, actions.move_down, actions.move_top, actions.move_bottom):
        assert not action.isEnabled(), action.text()
    assert actions.requeue.isEnabled() and actions.edit.isEnabled()  # edit: an edited copy of an ended run
    click_row(qtbot, window, row + 2, Qt.KeyboardModifier.ControlModifier)  # and a queued one
    assert actions.remove.isEnabled() and actions.move_down.isEnabled()

    click_row(qtbot, window, row)  # the sweep's row: its queued runs go, its cancelled one comes back
    assert actions.remove.isEnabled()
    assert actions.requeue.text() == "Requeue 1 run (1 cancelled)"
    assert "Requeue 1 run (1 cancelled)" in actions.requeue.toolTip()
    click_row(qtbot, window, sweep_row(window)[0], Qt.KeyboardModifier.ControlModifier)  # and the finished sweep
    assert actions.requeue.text() == "Requeue 1 run (1 cancelled)"
    actions.remove.trigger()
    qtbot.waitUntil(lambda: sweep_row(window, 1)[1].counts_text() == "3 cancelled")
    click_row(qtbot, window, sweep_row(window, 1)[0])
    assert actions.requeue.text() == "Requeue 3 runs (3 cancelled)"
    actions.requeue.trigger()
    qtbot.waitUntil(lambda: sweep_row(window, 1)[1].counts_text() == "3 queued")
    assert manager.job_queue.qsize("queued") == 3


def test_a_sweeps_progress_and_counts_fit_its_row_in_the_default_window(qtbot, window, manager, monkeypatch):
    manager.pause_worker()
    manager.sweep(noop, {"i": list(range(12))})
    qtbot.waitUntil(lambda: sweep_row(window)[1] is not None and sweep_row(window)[1].total == 12)
    row, sweep = sweep_row(window)
    # As many words as a busy sweep shows:
    sweep.counts.update({ExpStatus.QUEUED: -6, ExpStatus.FINISHED: 4, ExpStatus.RUNNING: 1, ExpStatus.FAILED: 1})
    sweep.time_left = 125.0
    painted = []
    original = window.queue_view._paint_progress
    monkeypatch.setattr(
        window.queue_view, "_paint_progress", lambda p, option, progress, s: (
            painted.append((QRect(option.rect), progress, QFontMetrics(option.font))), original(p, option, progress, s))
    )  # fmt: skip
    window.queue_view.viewport().repaint()
    (rect, (fraction, message), metrics), *_ = painted
    assert message == "4 done · 1 running · 6 queued · 1 failed · ≈ 2 min 05 s left"
    view = window.queue_view
    assert rect.left() == view.columnViewportPosition(Column.QUEUED_AT)  # across Queued .. Result
    assert rect.right() + 1 == view.columnViewportPosition(Column.RESULT) + view.columnWidth(Column.RESULT)
    bar = metrics.horizontalAdvance("100%") + 16
    assert metrics.horizontalAdvance(message) + bar + 12 <= rect.width()  # read whole, not elided

    window.queue_view.horizontalHeader().moveSection(view.horizontalHeader().visualIndex(Column.RESULT), 2)
    painted.clear()
    window.queue_view.viewport().repaint()
    assert painted[0][0].width() == view.columnWidth(Column.RESULT)  # columns moved apart: its own cell only


def test_a_sweep_held_and_resumed_from_the_console_shows_it_in_the_window_at_once(qtbot, window, manager):
    manager.pause_worker()  # nothing runs, so no other change brings the hold to the window
    sweep = manager.sweep(noop, {"i": [1, 2, 3]})
    qtbot.waitUntil(lambda: sweep_row(window)[1] is not None and sweep_row(window)[1].total == 3)
    row, shown = sweep_row(window)
    held_elsewhere = threading.Thread(target=manager.pause_group, args=(sweep.group.id,))
    held_elsewhere.start()  # as a script or the console's kernel thread would
    held_elsewhere.join()
    qtbot.waitUntil(lambda: text(window, row, Column.STATUS) == "Held", timeout=5000)
    assert sweep_row(window)[1].counts_text() == "held · 3 queued"
    manager.resume_group(sweep.group.id)
    qtbot.waitUntil(lambda: text(window, row, Column.STATUS) != "Held", timeout=5000)
    assert sweep_row(window)[1].counts_text() == "3 queued"


def test_a_held_sweep_with_nothing_else_to_do_promises_no_time_in_the_status_bar(qtbot, window, manager):
    sweep = manager.sweep(noop, {"i": [1, 2, 3]}, max_parallel=1)
    manager.pause_group(sweep.group.id)  # held at once: at most its first run started
    qtbot.waitUntil(lambda: manager.state is WorkerState.IDLE and not manager.job_queue.has_running(), timeout=10_000)
    eta = window.status.eta_label
    qtbot.waitUntil(lambda: "waiting for you" in eta.text(), timeout=5000)
    assert "done ≈" not in eta.text()
    manager.resume_group(sweep.group.id)
    assert sweep.wait(timeout=30)
