"""Command experiments on the process lane: real subprocesses in their run folders."""

from __future__ import annotations

import os
import queue as std_queue
import threading
import time
from concurrent import futures

import pytest

from labqueue import Experiment, ExpStatus
from labqueue.core.engine import ExperimentQueue
from labqueue.core.runs import (
    FINISHED_MARKER,
    RUN_DIR_ENV,
    CommandExperiment,
    CommandFailed,
    CommandTimedOut,
    ProcessLane,
    command_of,
)

from ..job_helpers import wait_for_end
from .helpers import child, wait_gone


def test_a_command_that_exits_0_finishes_with_its_output_in_its_run_folder(open_manager, tmp_path):
    manager = open_manager(data_dir=None)
    run_dir = tmp_path / "runs" / "one"
    exp = CommandExperiment(
        child("--stdout", "hello", "--stderr", "a warning", "--write", "out.dat", "42"),
        run_dir=run_dir,
        env={"LABQUEUE_TEST_VALUE": "x"},
    )
    manager.job_queue.put(exp)
    assert exp.result(timeout=30) is None
    assert exp.status is ExpStatus.FINISHED
    assert exp.lane == "process"
    assert (run_dir / "stdout.txt").read_text() == "hello\n"
    assert (run_dir / "stderr.txt").read_text() == "a warning\n"
    assert (run_dir / "out.dat").read_text() == "42"
    assert (run_dir / FINISHED_MARKER).is_file()


def test_the_command_gets_labqueues_environment_plus_its_own_and_its_run_folder(open_manager, tmp_path):
    manager = open_manager(data_dir=None)
    script = (
        f"import os; print(os.environ['{RUN_DIR_ENV}'], os.environ['EXTRA'], os.environ.get('PATH') is not None, "
        "os.getcwd())"
    )
    exp = CommandExperiment([child()[0], "-c", script], run_dir=tmp_path / "r", env={"EXTRA": "yes"})
    manager.job_queue.put(exp)
    exp.result(timeout=30)
    run_dir = str(tmp_path / "r")
    assert (tmp_path / "r" / "stdout.txt").read_text().split() == [run_dir, "yes", "True", run_dir]


def test_a_non_zero_exit_fails_with_the_last_lines_of_stderr(open_manager, tmp_path):
    manager = open_manager(data_dir=None, pause_on_failure=False)
    lines = [arg for i in range(15) for arg in ("--stderr", f"line {i}")]
    exp = CommandExperiment(child(*lines, "--exit", "3"), run_dir=tmp_path / "r")
    manager.job_queue.put(exp)
    with pytest.raises(CommandFailed, match="exited with status 3") as raised:
        exp.result(timeout=30)
    assert exp.status is ExpStatus.FAILED
    assert raised.value.returncode == 3
    assert raised.value.stderr_tail == [f"line {i}" for i in range(5, 15)]
    assert "line 14" in str(raised.value) and "line 4" not in str(raised.value)
    assert not (tmp_path / "r" / FINISHED_MARKER).exists()


def test_a_failed_command_alone_pauses_the_queue_as_a_failed_job_does(open_manager, tmp_path):
    manager = open_manager(data_dir=None)
    exp = CommandExperiment(child("--exit", "1"), run_dir=tmp_path / "r")
    manager.job_queue.put(exp)
    with pytest.raises(CommandFailed):
        exp.result(timeout=30)
    assert manager.paused


def test_a_command_past_its_timeout_is_stopped_and_fails(open_manager, tmp_path):
    manager = open_manager(data_dir=None, pause_on_failure=False, kill_grace=0.2)
    exp = CommandExperiment(child("--ignore-term", "--hang"), run_dir=tmp_path / "r", timeout=0.3)
    manager.job_queue.put(exp)
    with pytest.raises(CommandTimedOut, match="timed out after 0.3 s"):
        exp.result(timeout=30)
    assert exp.status is ExpStatus.FAILED


def test_a_command_is_a_list_unless_shell_is_asked_for(open_manager, tmp_path):
    with pytest.raises(TypeError, match="list of arguments"):
        CommandExperiment("echo hi", run_dir=tmp_path)
    with pytest.raises(ValueError, match="at least the program"):
        CommandExperiment([], run_dir=tmp_path)
    manager = open_manager(data_dir=None)
    exp = CommandExperiment("echo $((6 * 7)) > answer.txt", run_dir=tmp_path / "r", shell=True)
    manager.job_queue.put(exp)
    exp.result(timeout=30)
    assert (tmp_path / "r" / "answer.txt").read_text() == "42\n"


def test_a_missing_or_not_executable_command_fails_with_a_clear_error(open_manager, tmp_path):
    manager = open_manager(data_dir=None, pause_on_failure=False)
    not_executable = tmp_path / "script.sh"
    not_executable.write_text("#!/bin/sh\necho hi\n")
    missing = CommandExperiment(["no-such-program-here", "x"], run_dir=tmp_path / "a")
    denied = CommandExperiment([str(not_executable)], run_dir=tmp_path / "b")
    relative = CommandExperiment(["./script.sh"], run_dir=tmp_path / "c")  # beside the caller, not in the run folder
    manager.job_queue.put_many([missing, denied, relative])
    with pytest.raises(
        CommandFailed, match=f"command not found: 'no-such-program-here' \\(run folder {tmp_path / 'a'}"
    ):
        missing.result(timeout=30)
    with pytest.raises(CommandFailed, match=f"'./script.sh', looked for from the run folder {tmp_path / 'c'}"):
        relative.result(timeout=30)
    with pytest.raises(CommandFailed, match=f"command not executable: '{not_executable}'"):
        denied.result(timeout=30)


def test_abort_kills_a_command_that_ignores_sigterm_and_its_grandchild_within_the_grace(open_manager, tmp_path, pipe):
    grace = 0.5
    manager = open_manager(data_dir=None, kill_grace=grace)
    exp = CommandExperiment(
        child("--ignore-term", "--grandchild", "--tell", str(pipe.path), "--hang"), run_dir=tmp_path / "r"
    )
    manager.job_queue.put(exp)
    pid, grandchild = pipe.pids()
    started = time.monotonic()
    assert manager.abort_experiment(exp)
    assert wait_gone(pid, grace + 1) and wait_gone(grandchild, grace + 1)
    exp.exception(timeout=grace + 1)
    assert time.monotonic() - started <= grace + 1
    assert exp.status is ExpStatus.ABORTED
    assert not manager.paused  # an abort is not a failure


def test_commands_run_beside_an_instrument_job(open_manager, tmp_path):
    manager = open_manager(data_dir=None)
    command_done = threading.Event()

    @manager.queued_exec
    def instrument_job():
        return command_done.wait(30)  # only true if the command ran while this job did

    job = instrument_job()
    command = CommandExperiment(child("--stdout", "x"), run_dir=tmp_path / "r")
    command.add_done_callback(lambda _: command_done.set())
    manager.job_queue.put(command)
    assert job.result(timeout=30) is True
    assert command.status is ExpStatus.FINISHED


def test_paused_no_command_starts_and_resumed_they_do(open_manager, tmp_path):
    manager = open_manager(data_dir=None)
    manager.pause_worker()
    exp = CommandExperiment(child(), run_dir=tmp_path / "r")
    manager.job_queue.put(exp)
    manager.job_queue.wake()  # the lane re-checks, and still may not start it
    assert manager.wait_until_idle(timeout=5)
    assert exp.status is ExpStatus.QUEUED
    manager.resume_worker()
    exp.result(timeout=30)
    assert exp.status is ExpStatus.FINISHED


def test_the_lane_runs_as_many_at_once_as_it_has_slots(open_manager, tmp_path, pipe):
    manager = open_manager(data_dir=None, process_slots=2, kill_grace=0.1)
    exps = [CommandExperiment(child("--tell", str(pipe.path), "--hang"), run_dir=tmp_path / f"r{i}") for i in range(3)]
    manager.job_queue.put_many(exps)
    pipe.pids()
    pipe.pids()
    assert [e.status for e in exps] == [ExpStatus.RUNNING, ExpStatus.RUNNING, ExpStatus.QUEUED]
    assert manager.process_lane.statistics().running == 2
    assert manager.job_queue.qsize("running") == 2
    manager.abort_experiment(exps[0])
    pipe.pids()  # the third starts in the freed slot
    assert exps[2].status is ExpStatus.RUNNING
    for exp in exps:
        manager.abort_experiment(exp)
    assert manager.wait_until_idle(timeout=30)
    assert [e.status for e in exps] == [ExpStatus.ABORTED] * 3
    assert manager.process_lane.statistics().aborted == 3


def test_a_queued_command_comes_back_after_a_restart_and_runs(open_manager, lab, tmp_path):
    first = open_manager(start=False)
    exp = CommandExperiment(child("--write", "done.txt", "yes"), run_dir=tmp_path / "r", timeout=60)
    first.job_queue.put(exp)
    first.shutdown()

    second = open_manager()
    [restored] = second.job_queue.queued
    assert restored.id == exp.id and restored.lane == "process"
    call = command_of(restored)
    assert call is not None and call.run_dir == tmp_path / "r" and call.timeout == 60
    assert restored.title == exp.title
    second.resume_worker()
    restored.result(timeout=30)
    assert (tmp_path / "r" / "done.txt").read_text() == "yes"
    requeued = second.job_queue.requeue(restored)
    assert command_of(requeued) is not None and requeued.lane == "process"


def test_a_second_attempt_moves_the_first_attempts_output_aside(open_manager, tmp_path):
    manager = open_manager(data_dir=None)
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "mine.txt").write_text("the scientist's")
    first = CommandExperiment(child("--stdout", "first"), run_dir=run_dir)
    manager.job_queue.put(first)
    first.result(timeout=30)
    again = manager.job_queue.requeue(first)
    again.result(timeout=30)
    assert (run_dir / "stdout.txt").read_text() == "first\n"  # the same command wrote it again
    assert (run_dir / "attempt-1" / "stdout.txt").read_text() == "first\n"
    assert (run_dir / "mine.txt").read_text() == "the scientist's"  # not labqueue's, never moved


def test_shutdown_kills_running_commands(open_manager, tmp_path, pipe):
    manager = open_manager(data_dir=None, kill_grace=0.2)
    exp = CommandExperiment(child("--ignore-term", "--tell", str(pipe.path), "--hang"), run_dir=tmp_path / "r")
    manager.job_queue.put(exp)
    pid, _ = pipe.pids()
    manager.shutdown(timeout=10)
    assert wait_gone(pid, 5)
    assert exp.status is ExpStatus.ABORTED


def test_a_python_experiment_can_name_its_lane(open_manager):
    assert Experiment(print).lane == "instrument"
    assert Experiment(print, isolate=True).lane == "process"
    assert os.environ.get(RUN_DIR_ENV) is None


def test_a_command_waits_for_its_upstream_and_is_cancelled_when_it_fails(open_manager, tmp_path):
    manager = open_manager(data_dir=None, pause_on_failure=False)
    release = threading.Event()
    calibration = Experiment(release.wait, (30,))
    analysis = CommandExperiment(child("--write", "ran", "yes"), run_dir=tmp_path / "a", after=[calibration])
    manager.job_queue.put_many([calibration, analysis])
    assert analysis.waiting_for is calibration and analysis.status is ExpStatus.QUEUED
    release.set()
    analysis.result(timeout=30)
    assert (tmp_path / "a" / "ran").read_text() == "yes" and analysis.started_at >= calibration.finished_at

    broken = Experiment(int, ("not a number",))
    skipped = CommandExperiment(child("--write", "ran", "yes"), run_dir=tmp_path / "b", after=[broken])
    manager.job_queue.put_many([broken, skipped])
    wait_for_end(skipped)
    assert skipped.status is ExpStatus.CANCELLED and "upstream int" in skipped.cancel_reason
    assert not (tmp_path / "b").exists()


def test_a_failing_command_is_retried_in_its_run_folder_with_the_first_attempt_set_aside(open_manager, tmp_path):
    manager = open_manager(data_dir=None, pause_on_failure=False)
    counter = tmp_path / "attempts"
    script = (
        "import pathlib, sys; c = pathlib.Path(sys.argv[1]); n = int(c.read_text()) + 1 if c.exists() else 1; "
        "c.write_text(str(n)); print('attempt', n); sys.exit(0 if n == 2 else 4)"
    )
    exp = CommandExperiment([child()[0], "-c", script, str(counter)], run_dir=tmp_path / "r", retries=2)
    manager.job_queue.put(exp)
    assert manager.wait_until_idle(timeout=30)  # the retry is queued before the failure is told
    assert exp.status is ExpStatus.FAILED and exp.attempt == 1
    second = exp.repeated_by
    assert second is not None and second.result(timeout=30) is None and second.attempt == 2
    assert command_of(second).run_dir == tmp_path / "r"
    assert (tmp_path / "r" / "stdout.txt").read_text() == "attempt 2\n"
    assert (tmp_path / "r" / "attempt-1" / "stdout.txt").read_text() == "attempt 1\n"
    assert second.repeated_by is None  # succeeded: no third attempt


def test_the_downstreams_of_a_run_start_together_when_it_ends(open_manager, tmp_path):
    manager = open_manager(data_dir=None, process_slots=4, pause_on_failure=False)
    meet = tmp_path / "meet"
    meet.mkdir()
    # Each one arrives, then waits (up to 20 s) until all three are there: they all end
    # FINISHED only if the lane started the three at once when their upstream ended.
    script = (
        "import pathlib, sys, time; d = pathlib.Path(sys.argv[1]); (d / sys.argv[2]).touch(); end = time.time() + 20\n"
        "while len(list(d.iterdir())) < 3 and time.time() < end: time.sleep(0.01)\n"
        "sys.exit(0 if len(list(d.iterdir())) == 3 else 1)"
    )
    upstream = CommandExperiment(child(), run_dir=tmp_path / "up")
    downstreams = [
        CommandExperiment([child()[0], "-c", script, str(meet), str(i)], run_dir=tmp_path / f"d{i}", after=[upstream])
        for i in range(3)
    ]
    manager.job_queue.put_many([upstream, *downstreams])
    for exp in downstreams:
        assert exp.result(timeout=30) is None


def test_a_runs_done_callback_may_wait_for_the_next_run_of_its_sweep(tmp_path):
    """The thread that ran a run completes its future (its done-callbacks run there) before
    it looks for more: another slot must take the run its end lets start meanwhile."""
    queue = ExperimentQueue()
    running = threading.Event()
    running.set()
    lane = ProcessLane(queue, running, result_queue=std_queue.Queue(), relay=None, slots=2,
                       group_limit={"sweep": 1}.get, isolated_folder=lambda exp: tmp_path)  # fmt: skip
    first, second = (
        CommandExperiment(child(), run_dir=tmp_path / name, group_id="sweep", lane="process") for name in "ab"
    )
    second_seen: list[bool] = []
    callback_done = threading.Event()

    def wait_for_the_second(_) -> None:
        second_seen.append(not futures.wait([second], timeout=30).not_done)
        callback_done.set()

    first.add_done_callback(wait_for_the_second)
    queue.put_many([first, second])
    lane.start()
    try:
        assert callback_done.wait(60)
        assert second_seen == [True] and second.status is ExpStatus.FINISHED
    finally:
        lane.stop()
