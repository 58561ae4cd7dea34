"""One program per data directory: the instance lock (with real processes)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from labqueue import Manager
from labqueue.core.journal import DataDirectoryInUse

from .journal_helpers import square

HOLDER = textwrap.dedent(
    """
    import sys

    from labqueue import Manager
    manager = Manager(data_dir={lab!r})
    print("holding", flush=True)
    sys.stdin.read()  # until the parent closes the pipe or kills us
    manager.shutdown()
    print("released", flush=True)
    """
)


@pytest.fixture
def holder(lab):
    """Another process that holds ``lab``; yields the Popen."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(lab=str(lab))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "holding"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        child.stdin.close()
        child.stdout.close()


def test_a_second_manager_on_the_same_directory_is_refused_naming_the_holder(open_manager):
    first = open_manager()
    with pytest.raises(DataDirectoryInUse, match=f"in use by another labqueue \\(process {os.getpid()} on "):
        Manager(data_dir=first.data_dir)
    first.shutdown()
    assert open_manager().queued_exec(square)(2).result(timeout=10) == 4


def test_another_process_holding_the_directory_is_named_in_the_error(holder, lab):
    with pytest.raises(DataDirectoryInUse) as info:
        Manager(data_dir=lab)
    message = str(info.value)
    assert f"process {holder.pid} on " in message and str(lab) in message and "--data-dir" in message


def test_a_lock_left_by_a_killed_process_is_taken_over(holder, lab, open_manager, caplog):
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(10) == -signal.SIGKILL
    with caplog.at_level(logging.WARNING, logger="labqueue"):
        manager = open_manager()
    assert f"left by process {holder.pid} on" in caplog.text and "no longer running" in caplog.text
    assert manager.queued_exec(square)(3).result(timeout=10) == 9
    assert json.loads((lab / "labqueue.lock").read_text())["pid"] == os.getpid()


def test_a_lock_released_cleanly_names_nobody(holder, lab, open_manager, caplog):
    holder.stdin.close()
    assert holder.stdout.readline().strip() == "released"
    assert holder.wait(10) == 0
    assert (lab / "labqueue.lock").read_bytes() == b""
    with caplog.at_level(logging.WARNING, logger="labqueue"):
        open_manager()
    assert "Taking over" not in caplog.text


def test_a_stale_description_of_a_dead_process_is_taken_over(lab, open_manager):
    lab.mkdir()
    dead = {"pid": 999999, "host": "bench-pc", "command": "labqueue", "started": "2024-01-01 00:00:00"}
    (lab / "labqueue.lock").write_text(json.dumps(dead))
    manager = open_manager()
    assert manager.queued_exec(square)(1).result(timeout=10) == 1
