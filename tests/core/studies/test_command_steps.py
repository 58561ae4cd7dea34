"""Study command steps are command runs on the process lane: parallel, killed by cancel,
retried in place, skipped on restart once finished; isolated Python steps run there too."""

from __future__ import annotations

import json
import os
import select
import shlex
import sys
import textwrap
import time
from pathlib import Path

import pytest

from labqueue import ExpStatus, Manager
from labqueue.core.engine import INSTRUMENT_LANE, PROCESS_LANE
from labqueue.studies import FINISHED_MARKER, StudyManager

TIMEOUT = 30
KILL_GRACE = 0.5
STEP_SCRIPT = Path(__file__).with_name("command_step.py")


def command(*args: str | Path) -> str:
    """A spec's command line running command_step.py with ``args``, as a TOML string
    (a JSON string is one)."""
    return json.dumps(shlex.join([sys.executable, str(STEP_SCRIPT), *map(str, args)]))


def write_spec(folder: Path, body: str) -> Path:
    path = folder / "study.toml"
    path.write_text(textwrap.dedent(body))
    return path


def read_pid(fifo_fd: int) -> int:
    """The pid a held command step writes to its READY FIFO (opened read-write by the test)."""
    ready, _, _ = select.select([fifo_fd], [], [], TIMEOUT)
    assert ready, "the command step did not start"
    return int(os.read(fifo_fd, 64).split()[0])


def assert_gone_within(pid_fd: int, seconds: float) -> None:
    started = time.monotonic()
    gone, _, _ = select.select([pid_fd], [], [], seconds)
    assert gone, f"the command step still runs {seconds} s after the cancel"
    assert time.monotonic() - started <= seconds


@pytest.fixture
def fifos(tmp_path):
    """``ready`` (held open read-write, so a child's open for writing never blocks) and ``hold``."""
    ready, hold = tmp_path / "ready.fifo", tmp_path / "hold.fifo"
    os.mkfifo(ready)
    os.mkfifo(hold)
    ready_fd = os.open(ready, os.O_RDWR | os.O_NONBLOCK)
    yield ready, hold, ready_fd
    os.close(ready_fd)


@pytest.mark.parametrize("mark_runs_cancelled", [True, False])
def test_cancel_kills_a_running_command_step_that_ignores_sigterm(tmp_path, fifos, mark_runs_cancelled):
    ready, hold, ready_fd = fifos
    spec = write_spec(tmp_path, f"""
        [study]
        name = "stubborn"
        workspace = "ws"
        [steps.hold]
        command = {command("hold", ready, hold)}
        foreach = false
        """)  # fmt: skip
    manager = Manager(pause_on_failure=False, kill_grace=KILL_GRACE)
    try:
        studies = StudyManager(manager)
        study = studies.run(spec)
        pid_fd = os.pidfd_open(read_pid(ready_fd))
        try:
            done = studies.cancel(study, mark_runs_cancelled=mark_runs_cancelled)
            assert done["stopped"] == 1
            assert_gone_within(pid_fd, KILL_GRACE + 1)
        finally:
            os.close(pid_fd)
        (run,) = studies.runs.get_all({"study_id": study.id})
        exp = manager.get(run.experiment_id)
        exp.exception(TIMEOUT)
        assert exp.status is ExpStatus.ABORTED
        assert exp.lane == PROCESS_LANE
        assert studies.wait(study, TIMEOUT)
        studies.status(study)  # records the outcome of a run whose done-callback may be on its way
        run = studies.runs.get(run.id)
        if mark_runs_cancelled:
            assert (run.status, run.reason) == ("cancelled", "study cancelled")
        else:
            assert run.status == "aborted"
        assert not (tmp_path / "ws" / "hold" / FINISHED_MARKER).exists()
    finally:
        manager.shutdown()


def test_restart_after_cancel_runs_only_what_did_not_finish(tmp_path, fifos):
    ready, hold, ready_fd = fifos
    spec = write_spec(tmp_path, f"""
        [study]
        name = "twostep"
        workspace = "ws"
        [study.samples]
        field = [1, 2, 3]
        [steps.prepare]
        python = "tests.core.studies.lab_steps:measure"
        parameters = {{ field = "{{field}}", n = 2 }}
        [steps.simulate]
        command = {command("hold", ready, tmp_path / "hold-{field}.fifo")}
        depends = ["prepare"]
        """)  # fmt: skip
    os.rename(hold, tmp_path / "hold-2.fifo")  # only field 2 waits
    data_dir = tmp_path / "lab"
    manager = Manager(data_dir=data_dir, pause_on_failure=False, kill_grace=KILL_GRACE)
    try:
        studies = StudyManager(manager)
        study = studies.run(spec)
        pid_fd = os.pidfd_open(read_pid(ready_fd))
        simulate = {run.parameters["field"]: run for run in studies.runs.get_all({"step": "simulate"})}
        for field in (1, 3):
            manager.get(simulate[field].experiment_id).result(TIMEOUT)
        try:
            assert studies.cancel(study)["stopped"] == 1
            assert_gone_within(pid_fd, KILL_GRACE + 1)
        finally:
            os.close(pid_fd)
        manager.get(simulate[2].experiment_id).exception(TIMEOUT)
        assert studies.wait(study, TIMEOUT)
        counts = {s.step: s.counts for s in studies.status(study).steps}
        assert counts == {"prepare": {"finished": 3}, "simulate": {"finished": 2, "cancelled": 1}}
        ran_before = {exp.id for exp in manager.job_queue.history}
    finally:
        manager.shutdown()

    os.remove(tmp_path / "hold-2.fifo")  # field 2 now finishes at once
    manager = Manager(data_dir=data_dir, pause_on_failure=False, kill_grace=KILL_GRACE)
    try:
        studies = StudyManager(manager)
        manager.resume_worker()
        studies.restart(tmp_path / "ws")
        assert studies.wait(study, TIMEOUT)
        counts = {s.step: s.counts for s in studies.status(study.name).steps}
        assert counts == {"prepare": {"finished": 3}, "simulate": {"finished": 3}}
        ran_now = [exp.title for exp in manager.job_queue.history if exp.id not in ran_before]
        assert ran_now == ["twostep/simulate[1](field=2)"]
        workspace = tmp_path / "ws" / "simulate"
        assert (workspace / "1" / "out.txt").read_text() == "hold"
        assert (workspace / "1" / "attempt-1" / "stdout.txt").is_file()  # the killed attempt's output, set aside
        assert not (workspace / "0" / "attempt-1").exists()
    finally:
        manager.shutdown()


def test_command_steps_of_a_study_run_at_the_same_time(tmp_path):
    fifo = tmp_path / "meet.fifo"
    os.mkfifo(fifo)
    spec = write_spec(tmp_path, f"""
        [study]
        name = "parallel"
        workspace = "ws"
        [study.samples]
        end = ["write", "read"]
        [steps.meet]
        command = {command("meet", fifo, "{end}")}
        """)  # fmt: skip
    manager = Manager(pause_on_failure=False, process_slots=2, kill_grace=KILL_GRACE)
    try:
        studies = StudyManager(manager)
        study = studies.run(spec)
        # Each end of the FIFO waits for the other: one at a time, neither would finish.
        assert studies.wait(study, TIMEOUT)
        (meet,) = studies.status(study).steps
        assert meet.counts == {"finished": 2}
        assert all((tmp_path / "ws" / "meet" / str(i) / FINISHED_MARKER).is_file() for i in range(2))
    finally:
        manager.shutdown()


def test_a_failed_command_step_is_retried_in_its_run_directory_and_says_why(tmp_path):
    spec = write_spec(tmp_path, f"""
        [study]
        name = "flaky"
        workspace = "ws"
        [study.samples]
        mode = ["fail-once", "fail"]
        [steps.simulate]
        command = {command("{mode}")}
        retries = 1
        [steps.summary]
        python = "tests.core.studies.lab_steps:summarise"
        parameters = {{ folder = "{{run_dir}}/../../simulate/{{series}}" }}
        depends = ["simulate"]
        """)  # fmt: skip
    with StudyManager() as studies:
        study = studies.run(spec)
        assert studies.wait(study, TIMEOUT)
        by_step = {s.step: s for s in studies.status(study).steps}
        assert by_step["simulate"].counts == {"finished": 1, "failed": 1}
        assert by_step["summary"].counts == {"finished": 1, "cancelled": 1}
        assert studies.studies.get(study.id).status == "incomplete"  # every run ended, not all finished
        simulate = tmp_path / "ws" / "simulate"
        assert (simulate / "0" / "attempt-1" / "stderr.txt").read_text() == "no luck in fail-once\n"
        assert (simulate / "0" / "stdout.txt").is_file() and (simulate / "0" / FINISHED_MARKER).is_file()
        ((run_dir, status, reason),) = by_step["simulate"].failed
        assert status == "failed"
        assert run_dir == str(simulate / "1")
        assert reason.startswith("CommandFailed: ")
        assert f"exited with status 3 in {simulate / '1'}" in reason
        assert reason.endswith("no luck in fail")
        attempts = [e.attempt for e in studies.manager.job_queue.history if e.title == "flaky/simulate[1](mode='fail')"]
        assert sorted(attempts) == [1, 2]


def test_python_steps_stay_on_the_instrument_lane_unless_isolated(tmp_path):
    spec = write_spec(tmp_path, """
        [study]
        name = "lanes"
        workspace = "ws"
        [steps.here]
        python = "tests.core.studies.lab_steps:where_am_i"
        foreach = false
        [steps.apart]
        python = "tests.core.studies.lab_steps:where_am_i"
        foreach = false
        isolate = true
        depends = ["here"]
        """)  # fmt: skip
    with StudyManager() as studies:
        study = studies.run(spec)
        assert studies.wait(study, TIMEOUT)
        records = studies.runs.get_all({"study_id": study.id})
        runs = {run.step: studies.manager.get(run.experiment_id) for run in records}
        assert (runs["here"].lane, runs["here"].result(0)) == (INSTRUMENT_LANE, os.getpid())
        assert runs["apart"].lane == PROCESS_LANE
        assert runs["apart"].result(0) != os.getpid()
        assert (tmp_path / "ws" / "apart" / FINISHED_MARKER).is_file()  # written by the isolated process
