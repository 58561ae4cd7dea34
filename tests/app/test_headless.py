"""`labqueue --no-gui FILE`: runs a script headless, reports as it goes, ends with a
summary and an exit code. The command line is tested through real child processes."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import queue
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time
from pathlib import Path

import pytest

from labqueue import ExpStatus, Manager
from labqueue.app.exit_codes import ExitCode
from labqueue.app.headless import run_headless
from labqueue.app.main import main

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


def write(folder: Path, body: str, name: str = "measurements.py") -> Path:
    script = folder / name
    script.write_text(textwrap.dedent(body))
    return script


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment (temporary HOME and data dir) with unbuffered output and
    none of the variables that make rich draw on a pipe or not draw on a terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "COLUMNS")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def labqueue(*args: str) -> list[str]:
    return [sys.executable, "-m", "labqueue", *args]


class Child:
    """A labqueue process whose output lines are read on a thread, so the test can wait
    for a given line with a timeout (stderr goes to its own pipe unless merged)."""

    def __init__(self, args: list[str], cwd: Path = ROOT, merge_stderr: bool = False) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._arrived: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self._arrived.put(line)
        self._arrived.put(None)

    def wait_for(self, text: str) -> str:
        """The next line containing ``text``; fails if the process ends or TIMEOUT passes first."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                line = self._arrived.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line with {text!r} within {TIMEOUT} s; got {''.join(self.lines)!r}")
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                pytest.fail(f"the process ended before a line with {text!r}; got {''.join(self.lines)!r}, {err!r}")
            if text in line:
                return line

    def send_line(self, text: str) -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self) -> tuple[int, str, str]:
        """Wait for the exit; returns the exit code, all of stdout and all of stderr."""
        try:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            code = self.proc.wait(timeout=TIMEOUT)
            self._reader.join(timeout=TIMEOUT)
        finally:
            self.proc.kill()
        return code, "".join(self.lines), err


# -- reporting as it goes ----------------------------------------------------------------


def test_each_line_is_printed_as_its_experiment_ends_and_a_pipe_gets_no_escape_codes(tmp_path):
    script = write(
        tmp_path,
        """
        import sys

        def first():
            return 1

        def wait_for_the_test():
            return sys.stdin.readline().strip()

        manager.queued_exec(first)()
        manager.queued_exec(wait_for_the_test)()
        """,
    )
    child = Child(labqueue("--no-gui", str(script), "--data-dir", str(tmp_path / "d")))
    # Printed while the second one is still running: it ends only once the test answers.
    first = child.wait_for("first()")
    assert first.startswith("FINISHED") and "-> 1" in first
    child.send_line("go")
    code, out, err = child.finish()
    assert code == ExitCode.OK, err
    assert "FINISHED" in out.splitlines()[1] and "wait_for_the_test()  -> 'go'" in out
    assert out.splitlines()[-1] == "labqueue: 2 finished"
    assert "\x1b" not in out and "\x1b" not in err


class Terminal:
    """A child process on a pseudo-terminal of 120 x 30, as in a terminal window."""

    def __init__(self, args: list[str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=child_env(TERM="xterm-256color"), stdin=slave, stdout=slave, stderr=slave
        )
        os.close(slave)
        self.screen = bytearray()

    def _read_some(self, deadline: float) -> bool:
        """Read what is there (waiting until ``deadline``); False at the end of the output."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            pytest.fail(f"nothing more within {TIMEOUT} s; got {bytes(self.screen)!r}")
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.screen += chunk
        return bool(chunk)

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while text.encode() not in self.screen:
            if not self._read_some(deadline):
                pytest.fail(f"the process ended before {text!r}; got {bytes(self.screen)!r}")

    def type_line(self, text: str) -> None:
        os.write(self.master, (text + "\n").encode())

    def finish(self) -> tuple[int, str]:
        deadline = time.monotonic() + TIMEOUT
        try:
            while self._read_some(deadline):
                pass
            return self.proc.wait(timeout=TIMEOUT), self.screen.decode(errors="replace")
        finally:
            self.proc.kill()
            os.close(self.master)


def test_a_terminal_gets_a_live_status_line_below_the_ended_experiments(tmp_path):
    script = write(
        tmp_path,
        """
        import sys

        @manager.queued_exec
        def step(i):
            if i == 1:
                set_progress(0.5, "halfway point")
                sys.stdin.readline()  # until the test types a line
            return i

        for i in range(3):
            step(i)
        """,
    )
    terminal = Terminal(labqueue("--no-gui", str(script), "--data-dir", str(tmp_path / "d")))
    # Each piece is waited for: the line is redrawn as events arrive, a piece at a time.
    for shown in ("FINISHED", "step(i=0)", "1 queued · 1 running · 1 finished", "▶", "step(i=1)", "50%"):
        terminal.wait_for(shown)
    terminal.wait_for("halfway point")
    terminal.wait_for("≈ 0 s left")  # step(0) finished at once: the estimate for the rest
    terminal.type_line("go")
    code, screen = terminal.finish()
    assert code == ExitCode.OK, screen
    assert "\x1b[" in screen  # the live line is drawn, and redrawn, with escape codes
    assert "labqueue: 3 finished" in screen


# -- the script runs like `python FILE` ------------------------------------------------------


SHOWS_ITS_ENVIRONMENT = """
import json, sys
import helpers  # beside the script

print("ENVIRONMENT " + json.dumps({"argv": sys.argv, "name": __name__, "file": __file__, "path0": sys.path[0]}))

def later():
    import helpers  # imported while the queue runs, after the script body
    return helpers.double(21)

manager.queued_exec(later)()
"""


@pytest.mark.parametrize(
    "where_data_dir",
    ["after FILE", "before FILE"],
)
def test_the_script_runs_like_python_file_with_its_folder_importable_and_its_arguments(tmp_path, where_data_dir):
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    write(lab, SHOWS_ITS_ENVIRONMENT, name="sweep.py")
    data = ["--data-dir", str(tmp_path / "d")]
    script = ["--no-gui", "sweep.py"]
    args = [*script, *data] if where_data_dir == "after FILE" else [*data, *script]
    child = Child(labqueue(*args, "--", "--points", "50", "--data-dir", "not-ours"), cwd=lab)
    environment = json.loads(child.wait_for("ENVIRONMENT").split(" ", 1)[1])
    code, out, err = child.finish()
    assert code == ExitCode.OK, err
    assert environment == {
        "argv": ["sweep.py", "--points", "50", "--data-dir", "not-ours"],
        "name": "__main__",
        "file": str(lab / "sweep.py"),
        "path0": str(lab.resolve()),
    }
    assert "later()  -> 42" in out
    assert (tmp_path / "d" / "labqueue.db").is_file() and not (lab / "not-ours").exists()


def test_sys_path_argv_and_main_are_restored_after_a_run(tmp_path):
    script = write(tmp_path, "import sys\nsys.path.append('added by the script')\nsys.argv.append('x')\n")
    path, argv, main_module = sys.path[:], sys.argv[:], sys.modules["__main__"]
    assert run_headless(script, data_dir=tmp_path / "d", script_args=["--points", "3"]) == ExitCode.OK
    assert sys.path == path and sys.argv == argv and sys.modules["__main__"] is main_module


def test_a_script_may_parse_its_arguments_and_exit_like_a_program(tmp_path, capsys):
    script = write(
        tmp_path,
        """
        import argparse, sys
        parser = argparse.ArgumentParser()
        parser.add_argument("--points", type=int, required=True)
        points = parser.parse_args().points
        for i in range(points):
            manager.queued_exec(abs)(-i)
        sys.exit(0)  # an ordinary end, like the end of the file
        """,
    )
    assert run_headless(script, data_dir=tmp_path / "d", script_args=["--points", "3"]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines()[-1] == "labqueue: 3 finished"

    assert run_headless(script, data_dir=tmp_path / "d", script_args=[]) == ExitCode.SCRIPT_ERROR
    err = capsys.readouterr().err
    assert "the following arguments are required: --points" in err
    assert f"labqueue: {script} exited with status 2" in err


# -- bad input: one clear line and an exit code ------------------------------------------------


def run_labqueue(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(labqueue(*args), cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=TIMEOUT)


def test_a_missing_script_is_one_line_and_creates_no_journal(tmp_path):
    data = tmp_path / "d"
    done = run_labqueue("--no-gui", str(tmp_path / "nope.py"), "--data-dir", str(data))
    assert done.returncode == ExitCode.SCRIPT_ERROR
    assert done.stderr == f"labqueue: cannot run {tmp_path / 'nope.py'}: no such file\n"
    assert done.stdout == ""
    assert not data.exists()


def test_a_folder_given_as_the_script_is_one_line(tmp_path):
    done = run_labqueue("--no-gui", str(tmp_path), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == ExitCode.SCRIPT_ERROR
    assert done.stderr == f"labqueue: cannot run {tmp_path}: it is a folder, not a Python file\n"
    assert not (tmp_path / "d").exists()


def test_a_syntax_error_shows_the_users_file_line_and_caret_as_python_does(tmp_path):
    script = write(tmp_path, "x = 1\nif x > 0\n    print(x)\n")
    done = run_labqueue("--no-gui", str(script), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == ExitCode.SCRIPT_ERROR
    lines = done.stderr.splitlines()
    assert lines[0] == f"labqueue: cannot run {script}: it does not compile"
    assert lines[1] == f'  File "{script}", line 2'
    assert lines[2] == "    if x > 0"
    assert lines[3].strip() == "^" and lines[3].index("^") == lines[2].index("0") + 1
    assert lines[4] == "SyntaxError: expected ':'"
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("problem", ["a file", "under a file"])
def test_a_data_dir_that_cannot_be_one_is_one_line_with_exit_3(tmp_path, problem):
    script = write(tmp_path, "manager.queued_exec(abs)(-1)\n")
    results = tmp_path / "results.csv"
    results.write_text("1,2,3\n")
    data = results if problem == "a file" else results / "lab"
    done = run_labqueue("--no-gui", str(script), "--data-dir", str(data))
    assert done.returncode == ExitCode.CANNOT_START
    expected = {
        "a file": f"labqueue: the data directory {data} is not a directory (it is a file)\n",
        "under a file": f"labqueue: cannot create the data directory {data}: {results} is a file, not a directory\n",
    }[problem]
    assert done.stderr == expected
    assert done.stdout == ""


def _in_read_only_mount(command: list[str], directory: Path) -> list[str]:
    """``command`` in a private mount namespace where ``directory`` is read-only: root
    writes through any permission bits, so that is how a read-only folder is made for root."""
    where = str(directory)
    return [
        "unshare",
        "--mount",
        "sh",
        "-c",
        'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"',
        where,
        *command,
    ]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_read_only_data_dir_says_read_only(tmp_path):
    script = write(tmp_path, "manager.queued_exec(abs)(-1)\n")
    lab = tmp_path / "lab"
    lab.mkdir()
    command = labqueue("--no-gui", str(script), "--data-dir", str(lab))
    as_root = os.geteuid() == 0
    if as_root:
        command = _in_read_only_mount(command, lab)
    else:
        os.chmod(lab, 0o500)
    try:
        done = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=TIMEOUT)
    except FileNotFoundError:
        pytest.skip("root needs unshare(1) to make a read-only directory")
    finally:
        os.chmod(lab, 0o700)
    if as_root and "labqueue:" not in done.stderr:
        pytest.skip(f"no private read-only mount here: {done.stderr.strip()[-200:]}")
    assert done.returncode == ExitCode.CANNOT_START, done.stderr
    assert done.stderr.startswith(f"labqueue: the data directory {lab} is read-only (")
    assert done.stderr.count("\n") == 1 and "No such file or directory" not in done.stderr
    assert not any(lab.iterdir())


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in ExitCode:
        assert f"\n  {int(code):<4} " in out


def test_script_arguments_without_a_script_are_bad_usage(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--", "--points", "50"])
    assert exited.value.code == ExitCode.SCRIPT_ERROR
    assert "no --no-gui FILE" in capsys.readouterr().err


# -- an error in the script ----------------------------------------------------------------------


def test_an_error_in_the_script_shows_its_frames_only_and_what_it_queued_runs(tmp_path):
    write(tmp_path, "def load(name):\n    return {}[name]\n", name="calibration.py")
    script = write(
        tmp_path,
        """
        import calibration

        @manager.queued_exec
        def measure(x):
            return 2 * x

        measure(1)
        measure(2)
        table = calibration.load("magnet")
        measure(3)
        """,
    )
    done = run_labqueue("--no-gui", str(script), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == ExitCode.SCRIPT_ERROR
    err = done.stderr
    assert err.startswith(f'Traceback (most recent call last):\n  File "{script}", line 10, in <module>\n')
    assert f'File "{tmp_path / "calibration.py"}", line 2, in load' in err
    assert "KeyError: 'magnet'" in err
    for internal in ("labqueue", "runpy", "app/script.py", "app/headless.py", "<frozen"):
        assert internal not in err.split(f"labqueue: {script} raised")[0]
    assert f"labqueue: {script} raised KeyError\n" in err
    assert "labqueue: the 2 experiment(s) it queued before that run as usual: measure(x=1), measure(x=2)\n" in err
    # They ran, and were reported like any other.
    assert "measure(x=1)  -> 2" in done.stdout and "measure(x=2)  -> 4" in done.stdout
    assert done.stdout.splitlines()[-1] == "labqueue: 2 finished"


def test_a_script_that_fails_before_queueing_anything_says_so(tmp_path, capsys):
    script = write(tmp_path, "raise NameError('typo in script')\n")
    assert run_headless(script, data_dir=tmp_path / "d") == ExitCode.SCRIPT_ERROR
    captured = capsys.readouterr()
    assert "NameError: typo in script" in captured.err
    assert "labqueue: it had queued no experiment" in captured.err
    assert captured.out == "labqueue: nothing was queued\n"


# -- Ctrl-C and SIGTERM --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "exit_code", "said"),
    [
        (signal.SIGINT, ExitCode.INTERRUPTED, "interrupted"),
        (signal.SIGTERM, ExitCode.TERMINATED, "terminated (SIGTERM)"),
    ],
)
def test_a_signal_aborts_the_running_job_prints_the_summary_and_releases_the_directory(
    tmp_path, signum, exit_code, said
):
    script = write(
        tmp_path,
        """
        import sys, threading

        def long_measurement():
            sys.stdout.write("STARTED\\n")  # one write: the main thread prints meanwhile
            while True:
                checkpoint()
                threading.Event().wait(0.01)

        def never():
            return "never"

        manager.queued_exec(long_measurement)()
        manager.queued_exec(never)()
        sys.stdout.write("ALL QUEUED\\n")
        """,
    )
    data = tmp_path / "d"
    child = Child(labqueue("--no-gui", str(script), "--data-dir", str(data)))
    child.wait_for("STARTED")  # the two lines come from two threads, in either order
    if not any("ALL QUEUED" in line for line in child.lines):
        child.wait_for("ALL QUEUED")
    child.proc.send_signal(signum)
    code, out, err = child.finish()
    assert code == exit_code
    assert f"labqueue: {said}, aborting the running experiment" in err
    assert "Traceback" not in err
    summary = [line for line in out.splitlines() if line not in ("STARTED", "ALL QUEUED")]
    assert summary[0].startswith("ABORTED") and "long_measurement()" in summary[0]
    assert summary[1].startswith("QUEUED") and "never()  (not run; it stays queued in the journal)" in summary[1]
    assert summary[2] == "labqueue: 1 aborted, 1 not run"

    # Shut down cleanly: the directory is free, the abort was written, the rest stays queued.
    again = Manager(data_dir=data, start=False)
    try:
        (aborted,) = again.history()
        assert aborted.status is ExpStatus.ABORTED and aborted.title.endswith("long_measurement()")
        assert [exp.title for exp in again.job_queue.queued] == ["never()"]
    finally:
        again.shutdown()


# -- how the run ended -----------------------------------------------------------------------


FAILS_THEN_MORE = """
def broken():
    raise RuntimeError("lock-in not answering")

def after():
    return "after"

manager.queued_exec(broken)()
manager.queued_exec(after)()
"""


def test_a_failure_that_paused_the_queue_is_one_line_naming_it_and_how_to_go_on(tmp_path, capsys):
    script = write(tmp_path, FAILS_THEN_MORE)
    data = tmp_path / "d"
    assert run_headless(script, data_dir=data) == ExitCode.FAILED
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAILED") and "RuntimeError: lock-in not answering" in out[0]
    assert out[1].startswith("QUEUED") and "after()  (not run; it stays queued in the journal)" in out[1]
    assert out[2] == "labqueue: 1 failed, 1 not run"
    (paused,) = [line for line in out if "paused" in line]
    assert paused == out[-1]
    assert paused.startswith("labqueue: stopped because broken() failed and paused the queue;")
    assert f"1 experiment(s) not run stay queued in {data}" in paused
    assert "--continue-on-failure" in paused and "Resume" in paused and "manager.resume_worker()" in paused


def test_continue_on_failure_runs_the_rest_after_a_failure(tmp_path, capsys):
    script = write(tmp_path, FAILS_THEN_MORE)
    args = ["--no-gui", str(script), "--data-dir", str(tmp_path / "d"), "--continue-on-failure"]
    assert main(args) == ExitCode.FAILED  # something failed all the same
    out = capsys.readouterr().out.splitlines()
    assert "after()  -> 'after'" in out[1]
    assert out[-1] == "labqueue: 1 finished, 1 failed"


def leftover(i):
    return i


def test_experiments_left_by_an_earlier_run_are_counted_and_listed_apart(tmp_path, capsys):
    data = tmp_path / "d"
    earlier = Manager(data_dir=data)
    earlier.pause_worker()
    earlier.queued_exec(leftover)(1)
    earlier.shutdown()
    script = write(tmp_path, "manager.queued_exec(abs)(-2)\n")

    assert run_headless(script, data_dir=data) == ExitCode.FAILED
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("QUEUED") and "abs(x=-2)" in out[0] and "earlier run" not in out[0]
    assert out[1] == "labqueue: this run's experiments: 1 not run"
    assert out[2] == (
        f"labqueue: 1 experiment(s) queued by an earlier run on {data} came back from the journal: 1 not run"
    )
    assert out[3].startswith("QUEUED") and "leftover(i=1)" in out[3] and out[3].endswith("[queued by an earlier run]")
    assert out[4].startswith("labqueue: nothing ran because the queue started paused")
    assert "manager.resume_worker()" in out[4] and "manager.clear_all_jobs()" in out[4]
    assert len(out) == 5

    resumed = write(tmp_path, "manager.resume_worker()\n")
    assert run_headless(resumed, data_dir=data) == ExitCode.OK
    out = capsys.readouterr().out.splitlines()
    assert "leftover(i=1)  -> 1  [queued by an earlier run]" in out[0]
    assert "abs(x=-2)  -> 2  [queued by an earlier run]" in out[1]
    assert out[-1].endswith("came back from the journal: 2 finished")


# -- the demo's own data directory -------------------------------------------------------------


def quick_demo(manager):
    return [manager.queued_exec(abs)(-7)]


def test_the_demo_keeps_its_queue_in_a_demo_folder_of_the_data_dir(isolated_dirs, monkeypatch, capsys):
    monkeypatch.setattr("labqueue.app.headless.queue_demo", quick_demo)
    assert main(["--demo", "--no-gui"]) == ExitCode.OK
    captured = capsys.readouterr()
    demo = isolated_dirs / "demo"
    assert captured.err.splitlines()[0] == f"labqueue: demo queue kept in {demo}"
    assert "abs(x=-7)  -> 7" in captured.out
    assert (demo / "labqueue.db").is_file() and (demo / "logs").is_dir()
    assert sorted(p.name for p in isolated_dirs.iterdir()) == ["demo"]  # the user's journal is untouched


def test_the_demo_uses_the_data_dir_it_is_given(tmp_path, isolated_dirs, monkeypatch, capsys):
    monkeypatch.setattr("labqueue.app.headless.queue_demo", quick_demo)
    lab = tmp_path / "lab"
    assert main(["--demo", "--no-gui", "--data-dir", str(lab)]) == ExitCode.OK
    assert "demo queue kept in" not in capsys.readouterr().err
    assert (lab / "labqueue.db").is_file() and not (lab / "demo").exists()
    assert not isolated_dirs.exists()


def test_a_run_ends_when_what_is_left_waits_for_an_interrupted_upstream(tmp_path, capsys):
    from labqueue import Experiment, ExperimentQueue
    from labqueue.core.journal import Journal

    data_dir = tmp_path / "d"
    data_dir.mkdir()
    journal = Journal(data_dir / "labqueue.db")
    earlier_queue = ExperimentQueue(store=journal)
    upstream = Experiment(abs, (-2,))
    earlier_queue.put_many([upstream, Experiment(abs, inputs={0: upstream})])
    assert earlier_queue.get_next_job() is upstream
    journal.close()  # the program died while the upstream ran
    script = write(tmp_path, "manager.resume_worker()\nmanager.queued_exec(abs)(-3)\n")

    outcome: queue.Queue = queue.Queue()
    runner = threading.Thread(target=lambda: outcome.put(run_headless(script, data_dir=data_dir)), daemon=True)
    runner.start()
    # It ends instead of waiting for ever on the blocked one; work left queued is exit 1.
    assert outcome.get(timeout=60) == ExitCode.FAILED
    out = capsys.readouterr().out
    assert "1 experiment(s) not run stay queued" in out
    assert "they wait for abs(x=-2), which was interrupted. Requeue it" in out


def test_dask_scheduler_on_the_command_line_is_where_the_dask_lane_goes(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"  # nobody listens there
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    (data_dir / "config.toml").write_text('[dask]\nscheduler = "tcp://10.0.0.5:8786"\nconnect_timeout_seconds = 1\n')
    write(tmp_path, "manager.queued_exec(lane='dask')(abs)(-1)\n")
    args = ["--no-gui", "measurements.py", "--data-dir", str(data_dir), "--dask-scheduler", address]
    child = Child(labqueue(*args, "--continue-on-failure"), cwd=tmp_path)
    code, out, err = child.finish()
    assert code == ExitCode.FAILED, err
    assert f"cannot reach the Dask scheduler at {address} within 1 s" in out + err
