"""labqueue.multirun: Karana's sweep API, each run a command experiment in its own folder."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import threading

import pytest

from labqueue import ExpStatus
from labqueue.core.journal import JournalError
from labqueue.multirun import (
    FileResource,
    MultirunError,
    ParallelLocalRunner,
    RunStatistics,
    SweepChanged,
    displayStatus,
    multirun,
    multirunAsync,
    restart_multirun,
)

from .helpers import child


@pytest.fixture
def runner(open_manager):
    return ParallelLocalRunner(max_parallel=2, manager=open_manager(data_dir=None))


def test_each_run_gets_its_folder_its_params_and_posts_its_results(runner, tmp_path):
    runs = multirun(
        runs=[{"x": 1}, {"x": 2}, {"x": 2}],
        cmd=child("--params", "--post", '{"ok": true}'),
        output_path=tmp_path / "sweep",
        runner=runner,
    )
    assert [run.path.name for run in runs] == ["run_0", "run_1", "run_2"]  # equal parameters: separate runs
    for run, x in zip(runs, [1, 2, 2], strict=True):
        assert json.loads((run.path / "params.json").read_text()) == {"x": x}
        assert json.loads((run.path / "stdout.txt").read_text()) == {"x": x}
        assert run.status == "success" and run.result == {"ok": True}
        assert pickle.loads((run.path / "results.pkl").read_bytes()) == {"ok": True}
    assert runner.computeStatistics() == RunStatistics(success_count=3, complete_count=3, total_count=3)
    group = runner.manager.groups[runs[0].experiment.group_id]
    assert group.kind == "multirun" and group.max_parallel == 2 and group.output_path == str(tmp_path / "sweep")
    assert all(run.experiment in runner.manager.job_queue for run in runs)


def test_input_files_are_copied_shared_or_linked(runner, tmp_path):
    sources = tmp_path / "inputs"
    sources.mkdir()
    for name in ("copied.txt", "shared.txt", "linked.txt"):
        (sources / name).write_text(name)
    [run] = multirun(
        runs=[{}],
        cmd=child(),
        output_path=tmp_path / "sweep",
        input_files=[
            FileResource(sources / "copied.txt", linkage="copy"),
            FileResource(sources / "shared.txt", linkage="shared", rename="data/mine.txt"),
            FileResource(sources / "linked.txt", linkage="link"),
        ],
        runner=runner,
    )
    copied, shared, linked = run.path / "copied.txt", run.path / "data" / "mine.txt", run.path / "linked.txt"
    assert copied.is_file() and not copied.is_symlink() and copied.read_text() == "copied.txt"
    assert shared.is_symlink() and shared.resolve() == (tmp_path / "sweep" / "shared" / "data" / "mine.txt")
    assert shared.read_text() == "shared.txt"
    assert linked.is_symlink() and linked.resolve() == sources / "linked.txt"
    assert FileResource(sources / "shared.txt", rename="data/mine.txt").name.as_posix() == "data/mine.txt"
    assert FileResource("a/b.txt").linkage == "shared" and FileResource("a/b.txt").name.as_posix() == "b.txt"
    with pytest.raises(ValueError, match="linkage must be one of"):
        FileResource("a", linkage="hard")


def test_an_existing_folder_is_never_written_into_a_suffix_is_added(runner, tmp_path):
    taken = tmp_path / "out"
    taken.mkdir()
    (taken / "precious.txt").write_text("keep")
    first = multirun(runs=[{}], cmd=child(), output_path=taken, runner=runner)
    (tmp_path / "out_1" / "sweep.json").rename(tmp_path / "out_1" / "was-a-sweep.json")  # no longer a sweep
    second = multirun(runs=[{}], cmd=child(), output_path=taken, runner=runner)
    assert first[0].path.parent == tmp_path / "out_1"
    assert second[0].path.parent == tmp_path / "out_2"
    assert os.listdir(taken) == ["precious.txt"]


def test_a_default_output_folder_is_timestamped_in_the_current_directory(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    [run] = multirun(runs=[{}], cmd=child(), runner=runner)
    assert run.path.parent.parent == tmp_path and run.path.parent.name.startswith("multirun-")


def test_a_restart_runs_only_what_did_not_finish_and_moves_its_partial_output_aside(runner, tmp_path):
    params = [{"exit": 0}, {"exit": 1}, {"exit": 0}]
    out = tmp_path / "sweep"
    first = multirun(runs=params, cmd=child("--stdout", "attempt", "--exit-param"), output_path=out, runner=runner)
    assert [run.status for run in first] == ["success", "failure", "success"]
    (out / "run_1" / "params.json").write_text('{"exit": 0}')  # the scientist fixes nothing in the sweep...
    again = multirun(runs=params, cmd=child("--stdout", "attempt", "--exit-param"), output_path=out, runner=runner)
    assert [run.status for run in again] == ["skipped", "failure", "skipped"]  # ...so run_1 fails again
    assert (out / "run_1" / "attempt-1" / "stdout.txt").read_text() == "attempt\n"
    assert (out / "run_1" / "stdout.txt").read_text() == "attempt\n"
    assert not (out / "run_0" / "attempt-1").exists()
    assert runner.computeStatistics() == RunStatistics(
        skipped_count=2, failure_count=1, complete_count=3, total_count=3
    )


def test_a_restart_refuses_a_changed_command_parameters_or_input_unless_forced(runner, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("one")
    out = tmp_path / "sweep"
    multirun(runs=[{"x": 1}, {"x": 2}], cmd=child(), output_path=out, input_files=[data], runner=runner)
    with pytest.raises(MultirunError, match="the command changed"):
        multirun(
            runs=[{"x": 1}, {"x": 2}], cmd=child("--exit", "0"), output_path=out, input_files=[data], runner=runner
        )
    with pytest.raises(MultirunError, match=r"the parameters of run_1 changed from \{'x': 2\} to \{'x': 3\}"):
        multirun(runs=[{"x": 1}, {"x": 3}], cmd=child(), output_path=out, input_files=[data], runner=runner)
    data.write_text("two")
    with pytest.raises(MultirunError, match="the content of the input file data.txt"):
        multirun(runs=[{"x": 1}, {"x": 2}], cmd=child(), output_path=out, input_files=[data], runner=runner)
    forced = multirun(
        runs=[{"x": 1}, {"x": 3}], cmd=child(), output_path=out, input_files=[data], runner=runner, force=True
    )
    assert [run.status for run in forced] == ["skipped", "success"]  # only the changed run ran again
    assert json.loads((out / "run_1" / "params.json").read_text()) == {"x": 3}


def test_a_sweep_restarts_from_its_folder_alone_and_names_an_input_that_changed(runner, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("one")
    out = tmp_path / "sweep"
    params = [{"exit": 0}, {"exit": 1}]
    multirun(runs=params, cmd=child("--exit-param"), output_path=out, input_files=[data], runner=runner)
    again = restart_multirun(out, runner=runner)
    assert [run.status for run in again] == ["skipped", "failure"]
    assert (out / "run_1" / "attempt-1").is_dir()
    data.write_text("two")
    with pytest.raises(SweepChanged) as refused:
        restart_multirun(out, runner=runner)
    assert refused.value.changes == [f"the content of the input file data.txt ({data}) changed"]
    assert [run.status for run in restart_multirun(out, runner=runner, force=True)] == ["skipped", "failure"]
    with pytest.raises(MultirunError, match="holds no sweep to restart"):
        restart_multirun(tmp_path, runner=runner)


def test_bad_runs_fail_with_clear_errors_and_the_rest_go_on(runner, tmp_path):
    out = tmp_path / "sweep"
    runs = multirun(
        runs=[{"post": "unpicklable"}, {"x": object()}, {"post": "fine"}],
        cmd=child("--post", "param"),
        output_path=out,
        runner=runner,
    )
    assert [run.status for run in runs] == ["failure", "failure", "success"]
    assert runs[2].result == "fine"
    assert "cannot be pickled into" in str(runs[0].experiment.exception()) and "run_0" in str(
        runs[0].experiment.exception()
    )
    # A run that cannot run is still one of the sweep's experiments, failed with why.
    refused = runs[1].experiment
    assert refused.status is ExpStatus.FAILED and refused.group_id == runs[0].experiment.group_id
    assert str(refused.exception()) == runs[1].error
    assert f"the parameters of run_1 cannot be written to {out / 'run_1' / 'params.json'}" in runs[1].error
    assert not runs[1].path.exists()

    good = multirun(runs=[{"x": float("nan")}, {"x": 1}], cmd=child(), output_path=tmp_path / "other", runner=runner)
    assert [run.status for run in good] == ["failure", "success"]


def test_a_command_not_found_fails_every_run_naming_its_folder(runner, tmp_path):
    runs = multirun(runs=[{}, {}], cmd=["no-such-simulator", "--fast"], output_path=tmp_path / "s", runner=runner)
    for run in runs:
        assert run.status == "failure"
        assert f"command not found: 'no-such-simulator' (run folder {run.path})" in str(run.experiment.exception())


def test_bad_output_paths_and_missing_inputs_are_refused_before_anything_runs(runner, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(MultirunError, match=f"the output path {a_file} is a file"):
        multirun(runs=[{}], cmd=child(), output_path=a_file, runner=runner)
    with pytest.raises(MultirunError, match="cannot create the output folder /proc/1/labqueue-sweep"):
        multirun(runs=[{}], cmd=child(), output_path="/proc/1/labqueue-sweep", runner=runner)
    with pytest.raises(MultirunError, match=f"input file {tmp_path / 'missing.dat'} does not exist"):
        multirun(
            runs=[{}], cmd=child(), output_path=tmp_path / "s", input_files=[tmp_path / "missing.dat"], runner=runner
        )
    with pytest.raises(MultirunError, match="cmd must be a list"):
        multirun(runs=[{}], cmd="python run.py", output_path=tmp_path / "s2", runner=runner)
    assert runner.manager.job_queue.qsize() == 0


def test_multirun_async_with_the_status_bar(runner, tmp_path, capsys):
    async def main():
        runs, _ = await asyncio.gather(
            multirunAsync(runs=[{"i": i} for i in range(4)], cmd=child(), output_path=tmp_path / "s", runner=runner),
            displayStatus(runner),
        )
        return runs

    runs = asyncio.run(main())
    assert [run.status for run in runs] == ["success"] * 4
    assert all(run.task.done() for run in runs)
    assert "4/4" in capsys.readouterr().out


def test_a_sweeps_runs_run_at_most_max_parallel_at_once(open_manager, tmp_path, pipe):
    manager = open_manager(data_dir=None, process_slots=4, kill_grace=0.1)
    runner = ParallelLocalRunner(max_parallel=2, manager=manager)
    runs = multirun(runs=[{}] * 4, cmd=child("--tell", str(pipe.path), "--hang"), output_path=tmp_path / "s",
                    runner=runner, wait=False)  # fmt: skip
    pipe.pids()
    pipe.pids()
    assert [run.status for run in runs].count("running") == 2
    assert [run.status for run in runs].count("pending") == 2
    group_id = runs[0].experiment.group_id
    stopped = manager.abort_group(group_id)
    assert len(stopped) == 4
    assert manager.wait_until_idle(timeout=30)
    assert runner.finished
    assert {run.experiment.status for run in runs} == {ExpStatus.ABORTED, ExpStatus.CANCELLED}


def test_without_a_runner_or_an_open_manager_a_private_one_runs_the_sweep(tmp_path):
    runner = ParallelLocalRunner()
    runs = multirun(runs=[{}, {}], cmd=child(), output_path=tmp_path / "s", runner=runner, wait=False)
    assert runner.wait(timeout=60)
    assert [run.status for run in runs] == ["success", "success"]
    assert runner.manager is None  # its private manager was shut down with the sweep


def test_a_new_run_folder_is_made_when_its_run_starts_and_made_again_if_it_was_left_half_made(open_manager, tmp_path):
    manager = open_manager(data_dir=None)
    manager.pause_worker()
    data = tmp_path / "mesh.dat"
    data.write_text("mesh")
    runner = ParallelLocalRunner(max_parallel=1, manager=manager)
    out = tmp_path / "s"
    runs = multirun(runs=[{"x": 1}, {"x": 2}], cmd=child("--params"), output_path=out, runner=runner,
                    input_files=[FileResource(data, linkage="copy")], wait=False)  # fmt: skip
    assert (out / "sweep.json").is_file() and not runs[0].path.exists()  # nothing made before it starts

    manager.resume_worker()
    assert runner.wait(timeout=30)
    for run, x in zip(runs, [1, 2], strict=True):
        assert json.loads((run.path / "params.json").read_text()) == {"x": x}
        assert (run.path / "mesh.dat").read_text() == "mesh"

    setup = runs[0].folder_setup
    (runs[0].path / "mesh.dat").write_text("changed by the run")
    setup(runs[0].path)  # made already: left as it is
    assert (runs[0].path / "mesh.dat").read_text() == "changed by the run"
    (runs[0].path / "params.json").unlink()  # labqueue died while making it
    setup(runs[0].path)
    assert (runs[0].path / "mesh.dat").read_text() == "mesh" and (runs[0].path / "params.json").is_file()


def test_a_big_sweep_put_from_the_queues_waiter_thread_goes_through_the_waiter(runner, tmp_path):
    """The window's console runs on the GUI thread, the queue's waiter: a big put from
    there (2,000 or more) must go through it (it keeps the window answering), not in
    many direct puts."""
    queue = runner.manager.job_queue
    waited: list[int] = []

    def waiter(put):
        waited.append(1)
        put()

    runner.manager.pause_worker()
    queue.set_waiter(threading.current_thread(), waiter)
    try:
        runs = multirun(runs=[{"i": i} for i in range(2500)], cmd=child(), output_path=tmp_path / "s",
                        runner=runner, wait=False)  # fmt: skip
    finally:
        queue.set_waiter(None, None)
    assert waited == [1] and queue.qsize("queued") == len(runs)


def test_a_sweep_whose_later_runs_cannot_be_queued_stops_whole_and_says_why(runner, tmp_path, monkeypatch):
    queue = runner.manager.job_queue
    put_many = queue.put_many
    puts: list[int] = []

    def disk_full_at_the_second_put(experiments):
        puts.append(len(experiments))
        if len(puts) == 2:
            raise JournalError("cannot add experiments in the journal: database or disk is full")
        put_many(experiments)

    runner.manager.pause_worker()
    monkeypatch.setattr(queue, "put_many", disk_full_at_the_second_put)
    with pytest.raises(JournalError, match="disk is full"):
        multirun(runs=[{"i": i} for i in range(200)], cmd=child(), output_path=tmp_path / "s", runner=runner)
    assert puts[0] < 200 and queue.qsize("queued") == 0  # the first runs were queued, then cancelled
    assert {exp.status for exp in queue.ended} == {ExpStatus.CANCELLED}
