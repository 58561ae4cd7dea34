"""The run watchdog: whatever labqueue started dies with it, even when labqueue is SIGKILLed."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from labqueue.core.runs import spawner

from ..job_helpers import sigkill
from .helpers import child, wait_gone

SUPERVISOR_CHILD = Path(__file__).with_name("supervisor_child.py")


def run_and_kill(pipe, slots: int, runs: int, reaped: int = 0, kill_watchdog: bool = False, after: int = 0):
    """Start a stand-in labqueue with these runs, SIGKILL it; returns the (pid, grandchild)
    of each run it started, the reaped ones first."""
    command = child("--ignore-term", "--grandchild", "--tell", str(pipe.path), "--hang")
    args = [str(slots), str(runs), str(reaped), str(int(kill_watchdog)), str(after)]
    labqueue = subprocess.Popen(
        [sys.executable, str(SUPERVISOR_CHILD), *args, "--", *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        started = [pipe.pids() for _ in range(runs)]
        labqueue.stdin.write("go\n")
        labqueue.stdin.flush()
        started += [pipe.pids() for _ in range(after)]
        assert labqueue.stdout.readline() == "ready\n"
    finally:
        sigkill(labqueue)
    return started


@pytest.mark.parametrize("slots", [2, 64], ids=["table-grows", "table-fits"])
def test_every_live_run_and_its_grandchild_dies_with_labqueue(pipe, slots):
    started = run_and_kill(pipe, slots=slots, runs=5, reaped=1)
    for pid, grandchild in started:
        assert wait_gone(pid, 5) and wait_gone(grandchild, 5), "a run outlived the labqueue that started it"


def test_a_watchdog_that_died_is_replaced_and_the_new_one_knows_every_run(pipe):
    started = run_and_kill(pipe, slots=8, runs=2, kill_watchdog=True, after=2)
    for pid, grandchild in started:
        assert wait_gone(pid, 5) and wait_gone(grandchild, 5), "a run outlived the labqueue that started it"


def test_a_run_the_watchdog_cannot_be_told_of_still_runs_and_close_still_kills_it(monkeypatch, caplog, tmp_path):
    def no_memory_file():
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(spawner, "_GroupTable", no_memory_file)
    supervisor = spawner.RunSupervisor()
    run = supervisor.spawn(["sleep", "60"], cwd=tmp_path, stdout=tmp_path / "out", stderr=tmp_path / "err")
    try:
        assert run.wait(0) is None  # it runs
        assert "Cannot tell the run watchdog about a run (" in caplog.text
    finally:
        supervisor.close()
    assert wait_gone(run.pid, 5)


def test_a_small_file_cut_short_by_a_full_disk_raises_and_leaves_nothing(tmp_path):
    """A file-size limit stands in for a full disk: the write stops part way."""
    script = (
        "import resource, signal, sys\n"
        "from labqueue.core.runs.run_files import write_small_file\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    write_small_file(sys.argv[1], b'x' * 20000)\n"
        "except OSError as exc:\n"
        "    print(exc.errno)\n"
    )
    target = tmp_path / "params.json"
    out = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str(errno.EFBIG), out.stderr
    assert not target.exists()
