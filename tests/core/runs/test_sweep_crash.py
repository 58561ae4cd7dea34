"""A labqueue process killed with SIGKILL mid-sweep: no run outlives it, and the restart
runs only what did not finish."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from labqueue import ExpStatus, Manager
from labqueue.multirun import ParallelLocalRunner, multirun

from ..job_helpers import sigkill
from .helpers import child, wait_gone

SWEEP_CHILD = Path(__file__).with_name("sweep_child.py")


def test_sigkill_mid_sweep_leaves_no_run_behind_and_the_restart_skips_the_finished(tmp_path, pipe):
    data_dir, out, release = tmp_path / "lab", tmp_path / "sweep", tmp_path / "release"
    runs = [{"i": i, "hang": i in (2, 3)} for i in range(5)]
    cmd = child("--stdout", "partial", "--hang-if-param", str(release), "--ignore-term", "--grandchild",
                "--tell", str(pipe.path), "--hang")  # fmt: skip
    labqueue = subprocess.Popen(
        [sys.executable, str(SWEEP_CHILD), str(data_dir), str(out), json.dumps(cmd), json.dumps(runs)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        done = [labqueue.stdout.readline().split() for _ in range(3)]
        hanging = [pipe.pids(), pipe.pids()]
    finally:
        sigkill(labqueue)
    assert sorted(done) == [["done", "0", "FINISHED"], ["done", "1", "FINISHED"], ["done", "4", "FINISHED"]]
    for pid, grandchild in hanging:
        assert wait_gone(pid, 5) and wait_gone(grandchild, 5), "a run outlived the labqueue that started it"

    release.write_text("")
    manager = Manager(data_dir=data_dir)
    try:
        interrupted = [exp for exp in manager.job_queue.history if exp.status is ExpStatus.INTERRUPTED]
        assert sorted(exp.title.split()[0] for exp in interrupted) == ["run_2", "run_3"]
        assert manager.paused
        manager.resume_worker()
        again = multirun(runs=runs, cmd=cmd, output_path=out, runner=ParallelLocalRunner(manager=manager))
        assert [run.status for run in again] == ["skipped", "skipped", "success", "success", "skipped"]
        for name in ("run_2", "run_3"):
            assert (out / name / "attempt-1" / "stdout.txt").read_text() == "partial\n"
            assert (out / name / "stdout.txt").read_text() == "partial\n"
        assert not (out / "run_0" / "attempt-1").exists()
        assert len(json.loads((out / "sweep.json").read_text())["groups"]) == 2
    finally:
        manager.shutdown()
