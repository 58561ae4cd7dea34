"""`labqueue --no-gui FILE`: runs a script headless, prints a summary, sets the exit code."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labqueue.app.headless import run_headless
from labqueue.app.main import main

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, body):
    script = tmp_path / "measurements.py"
    script.write_text(textwrap.dedent(body))
    return script


def test_script_runs_with_manager_in_namespace_and_summary(tmp_path, capsys):
    script = write(
        tmp_path,
        """
        @manager.queued_exec
        def measure(field, n=3):
            set_progress(1.0, "done")
            return field * n

        measure(2.0)
        measure(1.5, n=2)
        """,
    )
    assert main(["--no-gui", str(script), "--data-dir", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FINISHED") and "measure(field=2.0)" in out[0] and "-> 6.0" in out[0]
    assert "measure(field=1.5, n=2)" in out[1] and "-> 3.0" in out[1]
    assert out[-1] == "labqueue: 2 finished"


def test_failure_gives_non_zero_exit_and_reports_what_was_left(tmp_path, capsys):
    script = write(
        tmp_path,
        """
        def broken():
            raise RuntimeError("lock-in not answering")

        manager.queued_exec(broken)()
        manager.queued_exec(lambda: 1)()
        """,
    )
    assert run_headless(script, data_dir=tmp_path / "d") == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "RuntimeError: lock-in not answering" in out
    assert "not run" in out and "paused with 1 experiment(s) not run" in out


def test_script_that_raises_exits_2_with_its_traceback(tmp_path, capsys):
    script = write(tmp_path, "raise NameError('typo in script')\n")
    assert run_headless(script, data_dir=tmp_path / "d") == 2
    assert "NameError: typo in script" in capsys.readouterr().out


def test_ctrl_c_aborts_the_running_job_and_exits_cleanly(tmp_path):
    script = write(
        tmp_path,
        """
        import sys, threading

        running = threading.Event()

        def long_measurement():
            running.set()
            while True:
                checkpoint()
                threading.Event().wait(0.01)

        manager.queued_exec(long_measurement)()
        manager.queued_exec(lambda: "never")()
        running.wait()
        print("STARTED", flush=True)  # both are queued and the first runs: Ctrl-C may come
        """,
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labqueue", "--no-gui", str(script), "--data-dir", str(tmp_path / "d")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.startswith("STARTED"):
                break
        else:
            pytest.fail("the job never started")
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "interrupted, aborting" in rest
    assert "ABORTED" in rest and "long_measurement()" in rest
    assert "QUEUED" in rest and "(not run; it stays queued in the journal)" in rest
    assert "Traceback" not in rest.split("interrupted")[1].split("ABORTED")[0]


def leftover(i):
    return i


def test_unfinished_work_from_an_earlier_session_is_explained_not_run(tmp_path, capsys):
    from labqueue import Manager

    data = tmp_path / "d"
    earlier = Manager(data_dir=data)
    earlier.pause_worker()
    earlier.queued_exec(leftover)(1)
    earlier.shutdown()
    script = write(tmp_path, "manager.queued_exec(lambda: 2)()\n")

    assert run_headless(script, data_dir=data) == 1
    out = capsys.readouterr().out
    assert "QUEUED" in out and "(not run; it stays queued in the journal)" in out
    assert "started paused because unfinished experiments came back" in out
    assert "manager.resume_worker()" in out

    resumed = write(tmp_path, "manager.resume_worker()\n")
    assert run_headless(resumed, data_dir=data) == 0
    assert "queued in the journal" not in capsys.readouterr().out
