"""The run watchdog: whatever labqueue started dies with it, even when labqueue is SIGKILLed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
