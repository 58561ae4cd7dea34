"""Bad input and faults: unpicklable calls and results, corrupt files, full disks, permissions."""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from labqueue import Experiment, ExpStatus
from labqueue.core.journal import CallNotStored, JournalError, ResultNotStored

from .journal_helpers import restart, square

ROOT = Path(__file__).resolve().parents[3]


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "labqueue"]


def test_an_unpicklable_call_still_runs_marked_not_stored_with_one_warning(open_manager, caplog):
    manager = open_manager()
    lock = threading.Lock()

    def read_instrument(channel):
        with lock:  # a lock cannot be pickled
            return channel * 2

    with caplog.at_level(logging.WARNING, logger="labqueue"):
        exp = manager.queued_exec(read_instrument)(4)
        assert exp.result(timeout=10) == 8
    assert exp.stored is False
    assert "cannot be pickled" in exp.store_error and "lock" in exp.store_error
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert "read_instrument(channel=4)" in warnings[0] and "not stored" in warnings[0]

    again = restart(manager, open_manager)
    (restored,) = again.job_queue.history
    assert restored.id == exp.id and restored.result(0) == 8
    assert restored.stored is False and restored.store_error == exp.store_error
    assert restored.title.endswith("read_instrument(channel=4)")


def test_an_unpicklable_argument_comes_back_queued_but_fails_clearly_when_run(open_manager, caplog):
    manager = open_manager(start=False)
    exp = manager.queued_exec(square)(x=(i for i in range(3)))  # a generator cannot be pickled
    stored = manager.queued_exec(square)(2)
    assert exp.stored is False and stored.stored is True

    with caplog.at_level(logging.WARNING, logger="labqueue"):
        again = restart(manager, open_manager, pause_on_failure=False)
    queued = again.job_queue.queued
    assert [e.id for e in queued] == [exp.id, stored.id]
    assert queued[0].stored is False and "cannot be pickled" in queued[0].store_error
    assert any("cannot run after the restart" in w for w in _warnings(caplog))
    again.resume_worker()
    with pytest.raises(CallNotStored, match="cannot be pickled"):
        queued[0].result(timeout=10)
    assert queued[1].result(timeout=10) == 4


def _make_lock():
    return threading.Lock()


def test_an_unpicklable_result_is_kept_as_its_repr(open_manager, caplog):
    manager = open_manager()
    with caplog.at_level(logging.WARNING, logger="labqueue"):
        exp = manager.queued_exec(_make_lock)()
        original = exp.result(timeout=10)
    assert any("result of _make_lock()" in w for w in _warnings(caplog))
    assert "the result was not stored" in exp.store_error

    again = restart(manager, open_manager)
    restored = again.get(exp.id).result(0)
    assert isinstance(restored, ResultNotStored)
    assert repr(restored) == repr(original)


def test_a_result_too_big_for_the_journal_keeps_its_repr_and_the_outcome(open_manager, monkeypatch, caplog):
    monkeypatch.setattr("labqueue.core.journal.codec.MAX_STORED_RESULT_BYTES", 1000)
    manager = open_manager()
    with caplog.at_level(logging.WARNING, logger="labqueue"):
        exp = manager.queued_exec(_big_result)()
        assert len(exp.result(timeout=10)) == 100_000
    assert "more than the journal keeps" in exp.store_error

    again = restart(manager, open_manager)
    restored = again.get(exp.id)
    assert restored.status is ExpStatus.FINISHED  # not INTERRUPTED: the outcome was written
    assert isinstance(restored.result(0), ResultNotStored)
    assert not again.paused


def _moved_aside(lab):
    return sorted(p for p in lab.iterdir() if ".corrupt-" in p.name)


@pytest.mark.parametrize(
    "damage",
    ["garbage", "empty header", "torn pages", "foreign database"],
)
def test_a_corrupt_journal_is_moved_aside_and_a_fresh_one_started(open_manager, lab, caplog, damage):
    manager = open_manager(start=False)
    manager.job_queue.put_many([Experiment(square, (i,)) for i in range(2000)])
    manager.shutdown()
    path = lab / "labqueue.db"
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"these are not the bytes you are looking for\n" * 100)
    elif damage == "empty header":
        data[:100] = bytes(100)
    elif damage == "torn pages":
        data[3 * 4096 : 3 * 4096 + 2000] = b"\xab" * 2000
    else:
        path.unlink()
        with sqlite3.connect(path) as other:
            other.execute("CREATE TABLE spectra (wavelength REAL, counts INTEGER)")
        other.close()
        data = bytearray(path.read_bytes())
    path.write_bytes(data)

    with caplog.at_level(logging.ERROR, logger="labqueue"):
        fresh = open_manager()
    (aside,) = _moved_aside(lab)
    assert aside.read_bytes() == bytes(data)  # never overwritten
    assert fresh.job_queue.qsize() == 0 and not fresh.paused
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert str(path) in error and str(aside) in error
    assert fresh.queued_exec(square)(3).result(timeout=10) == 9
    again = restart(fresh, open_manager)
    assert [e.status for e in again.job_queue.history] == [ExpStatus.FINISHED]


def test_a_journal_from_a_newer_labqueue_is_refused_and_left_untouched(open_manager, lab):
    open_manager(start=False).shutdown()
    path = lab / "labqueue.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match="schema version 99.*newer labqueue"):
        open_manager()
    assert path.read_bytes() == before
    assert not _moved_aside(lab)
    assert not (lab / "labqueue.lock").read_bytes()  # the lock was given back


def test_the_journal_is_readable_by_its_owner_only(open_manager, lab):
    manager = open_manager()
    manager.queued_exec(square)(2).result(timeout=10)
    for name in ("labqueue.db", "labqueue.db-wal"):
        assert stat.S_IMODE((lab / name).stat().st_mode) == 0o600, name
    manager.shutdown()
    os.chmod(lab / "labqueue.db", 0o644)
    open_manager()
    assert stat.S_IMODE((lab / "labqueue.db").stat().st_mode) == 0o600


def _fill_the_disk(manager) -> None:
    """The journal may not grow by another page: SQLite answers 'database or disk is full'."""
    conn = manager._journal._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_refuses_the_put_and_queues_nothing(open_manager, caplog):
    manager = open_manager(start=False)
    first = manager.queued_exec(square)(1)
    _fill_the_disk(manager)
    batch = [Experiment(square, (b"x" * 10_000, i)) for i in range(50)]
    with pytest.raises(JournalError, match="full") as info:
        manager.job_queue.put_many(batch)
    assert "labqueue.db" in str(info.value)
    assert manager.job_queue.queued == [first]
    assert all(exp.stored is None and exp.status is ExpStatus.QUEUED for exp in batch)

    again = restart(manager, open_manager)
    assert [e.id for e in again.job_queue.queued] == [first.id]


def test_a_full_disk_during_a_run_is_logged_and_the_run_goes_on(open_manager, caplog):
    manager = open_manager(start=False)
    exp = manager.queued_exec(_big_result)()
    _fill_the_disk(manager)
    with caplog.at_level(logging.ERROR, logger="labqueue"):
        manager.worker.start()
        assert len(exp.result(timeout=10)) == 100_000
    assert any("Could not write the status of _big_result()" in r.getMessage() for r in caplog.records)


def _big_result():
    return bytes(100_000)


def test_a_data_dir_that_is_a_file_is_a_clear_error(open_manager, tmp_path):
    not_a_dir = tmp_path / "results.csv"
    not_a_dir.write_text("1,2,3\n")
    with pytest.raises(JournalError, match="cannot use the data directory .*results.csv"):
        open_manager(data_dir=not_a_dir)


def _open_in_child(data_dir: Path, read_only_mount: bool) -> subprocess.CompletedProcess:
    """Open a Manager on ``data_dir`` in a child process and print whether it was refused.

    With ``read_only_mount`` the child runs in a private mount namespace where
    ``data_dir`` is bind-mounted read-only: root writes through any permission bits,
    so that is how a read-only directory is made for root.
    """
    script = (
        "from labqueue import Manager\n"
        "from labqueue.core import JournalError\n"
        "try:\n"
        f"    Manager(data_dir={str(data_dir)!r}).shutdown()\n"
        "    print('OPENED')\n"
        "except JournalError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    command = [sys.executable, "-c", script]
    if read_only_mount:
        where = shlex.quote(str(data_dir))
        command = [
            "unshare",
            "--mount",
            "sh",
            "-c",
            f'mount --bind {where} {where} && mount -o remount,ro,bind {where} && exec "$@"',
            "sh",
            *command,
        ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_read_only_data_dir_is_a_clear_error_at_start(lab):
    lab.mkdir()
    as_root = os.geteuid() == 0
    if as_root and shutil.which("unshare") is None:
        pytest.skip("root needs unshare(1) to make a read-only directory")
    if not as_root:
        os.chmod(lab, 0o500)
    try:
        done = _open_in_child(lab, read_only_mount=as_root)
    finally:
        os.chmod(lab, 0o700)
    if as_root and "REFUSED" not in done.stdout and "OPENED" not in done.stdout:
        pytest.skip(f"no private read-only mount here: {done.stderr.strip()[-200:]}")
    assert "REFUSED" in done.stdout and "cannot use the data directory" in done.stdout, done.stdout + done.stderr
    assert not any(lab.iterdir())
