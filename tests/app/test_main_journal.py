"""The program keeps its journal in the data directory and refuses a directory in use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from labqueue import ExpStatus, Manager
from labqueue.app.main import EXIT_CANNOT_START, main

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
def triple(x):
    return 3 * x

manager.queued_exec(triple)(14)
"""


def test_the_program_keeps_its_journal_in_the_data_directory_from_the_environment(tmp_path, isolated_dirs):
    script = tmp_path / "measure.py"
    script.write_text(SCRIPT)
    assert main(["--no-gui", str(script)]) == 0
    assert (isolated_dirs / "labqueue.db").is_file()
    manager = Manager(data_dir=isolated_dirs, start=False)
    try:
        (exp,) = manager.history()
        assert exp.status is ExpStatus.FINISHED and exp.result(0) == 42
    finally:
        manager.shutdown()


def test_a_second_program_on_the_same_directory_exits_with_a_clear_error(tmp_path):
    script = tmp_path / "measure.py"
    script.write_text(SCRIPT)
    lab = tmp_path / "lab"
    holder = Manager(data_dir=lab)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "labqueue", "--no-gui", str(script), "--data-dir", str(lab)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.shutdown()
    assert run.returncode == EXIT_CANNOT_START
    assert run.stderr.startswith(f"labqueue: The data directory {lab} is in use by another labqueue")
    assert f"process {os.getpid()} on " in run.stderr
    assert "Traceback" not in run.stderr
