"""A chain survives a SIGKILL in its middle: the step that was running comes back
INTERRUPTED, its downstream waits for it, and runs with its result once it is requeued."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from labqueue import Experiment, ExpStatus, Manager

from ..job_helpers import kill_once_holding

CHILD = Path(__file__).with_name("chain_crash_child.py")
TIMEOUT = 60


def test_a_chain_killed_in_its_middle_waits_again_after_the_restart(tmp_path):
    data_dir = tmp_path / "lab"
    kill_once_holding([sys.executable, str(CHILD), str(data_dir)], env=dict(os.environ, CHAIN_CRASH_HOLD="1"))

    manager = Manager(data_dir=data_dir, pause_on_failure=False)
    try:
        calibrate, sweep = manager.job_queue.history
        (summary,) = manager.job_queue.queued
        assert (calibrate.status, sweep.status) == (ExpStatus.FINISHED, ExpStatus.INTERRUPTED)
        assert summary.waiting_for is sweep
        assert summary.title.startswith("summary(total=<result of sweep(")

        # Resumed, the interrupted upstream still blocks its downstream: work queued
        # behind it runs first.
        manager.resume_worker()
        behind = Experiment(len, ("abc",))
        manager.job_queue.put(behind)
        assert behind.result(TIMEOUT) == 3
        assert summary.status is ExpStatus.QUEUED

        again = manager.job_queue.requeue(sweep)
        assert summary.waiting_for in (again, None)
        assert summary.result(TIMEOUT) == "sum: 42"
        assert again.result(0) == 42
    finally:
        manager.shutdown()
