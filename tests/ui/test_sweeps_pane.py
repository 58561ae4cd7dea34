"""A sweep in the window: one row with counts and progress that expands into its runs,
pause, abort, remove and requeue on the sweep and on a run, and a command's live output."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel

from labqueue import ExpStatus
from labqueue.core.runs import CommandExperiment
from labqueue.multirun import ParallelLocalRunner, multirun

from ..core.runs.helpers import Pipe, child


def select(pane, index) -> None:
    flags = QItemSelectionModel.SelectionFlag
    pane.view.selectionModel().select(index, flags.Rows | flags.ClearAndSelect)


def group_row_text(window, column: int) -> str:
    model = window.sweeps.model
    return model.data(model.index(0, column))


def test_a_sweep_is_one_row_with_its_counts_that_expands_into_its_runs(qtbot, window, manager, tmp_path):
    runs = multirun(
        runs=[{"exit": code} for code in (0, 0, 1)],
        cmd=child("--exit-param"),
        output_path=tmp_path / "sweep",
        runner=ParallelLocalRunner(max_parallel=2, manager=manager),
    )
    model = window.sweeps.model
    qtbot.waitUntil(lambda: model.rowCount() == 1 and "2 ok, 1 failed" in group_row_text(window, 1), timeout=10_000)
    assert group_row_text(window, 0) == "multirun python × 3 in sweep"
    assert group_row_text(window, 2) == "3/3 (100%)"
    group = model.index(0, 0)
    assert model.rowCount(group) == 3
    assert [model.experiment_at(model.index(i, 0, group)) for i in range(3)] == [run.experiment for run in runs]
    window.sweeps.view.expand(group)
    assert model.data(model.index(2, 1, group)) == "Failed"
    assert not manager.paused  # the failed run did not stop the queue


def test_pause_requeue_remove_and_abort_from_the_sweeps_pane(qtbot, window, manager, tmp_path):
    pipe = Pipe(tmp_path / "tell.fifo")
    try:
        runner = ParallelLocalRunner(max_parallel=1, manager=manager)
        runs = multirun(runs=[{}] * 3, cmd=child("--tell", str(pipe.path), "--hang"), output_path=tmp_path / "s",
                        runner=runner, wait=False)  # fmt: skip
        pipe.pids()
        pane, model = window.sweeps, window.sweeps.model
        qtbot.waitUntil(lambda: model.rowCount() == 1 and model.rowCount(model.index(0, 0)) == 3)
        group = model.index(0, 0)
        select(pane, group)
        pane.buttons["Pause sweep"].click()
        assert manager.job_queue.is_held(runs[0].experiment.group_id)
        qtbot.waitUntil(lambda: group_row_text(window, 1).startswith("held"))

        first_run = model.index(0, 0, group)
        select(pane, first_run)
        pane.buttons["Abort"].click()  # one run
        runs[0].experiment.exception(timeout=30)
        assert runs[0].experiment.status is ExpStatus.ABORTED
        assert runs[1].experiment.status is ExpStatus.QUEUED  # held: the next does not start

        pane.buttons["Requeue"].click()
        qtbot.waitUntil(lambda: model.rowCount(model.index(0, 0)) == 4)
        select(pane, model.index(0, 0))
        pane.buttons["Remove"].click()  # the whole sweep's queued runs
        assert {run.experiment.status for run in runs[1:]} == {ExpStatus.CANCELLED}
        pane.buttons["Resume sweep"].click()
        assert not manager.job_queue.is_held(runs[0].experiment.group_id)
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
