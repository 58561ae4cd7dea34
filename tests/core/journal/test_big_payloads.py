"""Big and odd payloads: too large for the journal, slow to pickle, many big results.

SQLite refuses a value beyond its length limit (1 GB by default). The tests lower that
limit on the journal's connection and labqueue's own caps with it, so that a few
megabytes stand for the gigabytes of a camera stack.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from concurrent.futures import CancelledError

import pytest

from labqueue import Experiment, ExpStatus
from labqueue.core.engine import current_manager
from labqueue.core.journal import JOURNAL_FILE, Journal, StoredFailure, codec

from . import journal_helpers
from .journal_helpers import counted, restart

TIMEOUT = 20
MB = 1024 * 1024
#: SQLite's length limit in these tests; labqueue's caps are set below it.
SQLITE_LIMIT = 2 * MB


@pytest.fixture
def small_journal(open_manager, monkeypatch):
    """``small_journal(**kwargs)``: a manager whose journal refuses values over 2 MB
    (as SQLite refuses them over 1 GB) and whose caps are 1 MB."""
    monkeypatch.setattr(codec, "MAX_STORED_ARGUMENT_BYTES", MB, raising=False)
    monkeypatch.setattr(codec, "MAX_STORED_RESULT_BYTES", MB)

    def open_(**kwargs):
        manager = open_manager(**kwargs)
        manager._journal._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_LIMIT)
        return manager

    return open_


def test_an_argument_too_large_for_the_journal_is_marked_not_stored_and_runs(small_journal, caplog):
    manager = small_journal()
    payload = b"x" * (3 * MB)
    with caplog.at_level(logging.WARNING, logger="labqueue"):
        exp = manager.queued_exec(len)(payload)
    assert exp.stored is False
    assert "too large" in exp.store_error and "MB" in exp.store_error
    assert "not stored" in caplog.text
    assert exp.result(timeout=TIMEOUT) == 3 * MB


def test_a_huge_failure_comes_back_failed_after_a_restart(small_journal, open_manager):
    manager = small_journal(pause_on_failure=False)
    exp = manager.queued_exec(journal_helpers.fail)("x" * (3 * MB))  # message, traceback and pickle: 3 MB each
    exp.exception(timeout=TIMEOUT)
    assert manager.wait_until_idle(TIMEOUT)
    assert exp.status is ExpStatus.FAILED

    again = restart(manager, open_manager)
    (restored,) = again.job_queue.history
    assert restored.status is ExpStatus.FAILED
    with pytest.raises(StoredFailure, match="no signal at point xxx"):
        restored.result(timeout=0)
    assert len(restored.traceback) < 200_000


SWEEP_STARTED = threading.Event()


def partial_sweep():
    """Measures until aborted, and returns what it has: several MB pickled."""
    SWEEP_STARTED.set()
    assert current_manager().abort.wait(TIMEOUT)
    return list(range(1_000_000))


def log_a_huge_failure():
    try:
        raise ValueError("x" * (3 * MB))
    except ValueError:
        logging.getLogger("labqueue.test.camera").exception("readout failed")
    return "carried on"


def test_a_job_that_logs_a_huge_failure_keeps_a_short_log_line(small_journal, open_manager):
    manager = small_journal()
    exp = manager.queued_exec(log_a_huge_failure)()
    assert exp.result(timeout=TIMEOUT) == "carried on"
    assert manager.wait_until_idle(TIMEOUT)
    again = restart(manager, open_manager)
    (restored,) = again.job_queue.history
    assert restored.status is ExpStatus.FINISHED
    (line,) = restored.log_lines()
    assert "readout failed" in line and "ValueError: xxx" in line
    assert len(line) < 20_000


def test_a_huge_aborted_result_is_kept_as_its_repr(small_journal, open_manager):
    manager = small_journal()
    SWEEP_STARTED.clear()
    exp = manager.queued_exec(partial_sweep)()
    assert SWEEP_STARTED.wait(TIMEOUT)
    manager.abort_job()
    with pytest.raises(CancelledError):
        exp.result(timeout=TIMEOUT)
    assert manager.wait_until_idle(TIMEOUT)
    again = restart(manager, open_manager)
    (restored,) = again.job_queue.history
    assert restored.status is ExpStatus.ABORTED
    with pytest.raises(CancelledError):
        restored.result(timeout=0)
    assert repr(restored.partial_result).startswith("[0, 1, 2")
    assert "the result was not stored" in restored.store_error


class SlowToPickle:
    """An argument whose pickling waits until the test lets it go on."""

    def __init__(self) -> None:
        self.pickling = threading.Event()
        self.release = threading.Event()

    def __reduce__(self):
        self.pickling.set()
        assert self.release.wait(TIMEOUT), "never released"
        return (str, ("pickled at last",))


def _snapshot_returns_from_another_thread(queue) -> bool:
    done = threading.Event()

    def take() -> None:
        queue.snapshot()
        queue.qsize()
        done.set()

    threading.Thread(target=take, daemon=True).start()
    return done.wait(TIMEOUT)


def _put_in_background(queue, exp) -> threading.Thread:
    errors: list[BaseException] = []

    def put() -> None:
        try:
            queue.put(exp)
        except BaseException as exc:  # reported by the test through the thread's result
            errors.append(exc)

    thread = threading.Thread(target=put, daemon=True)
    thread.errors = errors
    thread.start()
    return thread


def test_the_queue_answers_while_an_argument_is_being_pickled(open_manager):
    manager = open_manager()
    manager.pause_worker()
    slow = SlowToPickle()
    exp = Experiment(journal_helpers.square, (1,), {"offset": slow})
    putting = _put_in_background(manager.job_queue, exp)
    assert slow.pickling.wait(TIMEOUT)
    try:
        assert _snapshot_returns_from_another_thread(manager.job_queue), "snapshot() waited for the pickling"
    finally:
        slow.release.set()
    putting.join(TIMEOUT)
    assert putting.errors == [] and exp.stored is True
    assert manager.job_queue.queued == [exp]


class ContendedLock:
    """The journal's lock, telling the test when another thread has to wait for it."""

    def __init__(self) -> None:
        self.inner = threading.RLock()
        self.contended = threading.Event()

    def __enter__(self):
        if not self.inner.acquire(blocking=False):
            self.contended.set()
            self.inner.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.inner.release()


def test_the_queue_answers_while_the_journal_is_writing(open_manager):
    manager = open_manager()
    manager.pause_worker()
    lock = ContendedLock()
    manager._journal._lock = lock
    exp = Experiment(journal_helpers.square, (2,))
    with lock:  # the journal is busy (a 400 MB write, say) until this block ends
        putting = _put_in_background(manager.job_queue, exp)
        assert lock.contended.wait(TIMEOUT)
        assert _snapshot_returns_from_another_thread(manager.job_queue), "snapshot() waited for the write"
    putting.join(TIMEOUT)
    assert putting.errors == [] and manager.job_queue.queued == [exp]


def test_results_are_unpickled_only_when_asked_for(open_manager):
    manager = open_manager()
    exps = [manager.queued_exec(counted)(1000 + i) for i in range(100)]
    assert [e.result(timeout=TIMEOUT).payload for e in exps[-1:]] == [b"r" * 1099]
    assert manager.wait_until_idle(TIMEOUT)
    journal_helpers.loads["count"] = 0

    again = restart(manager, open_manager)
    assert journal_helpers.loads["count"] == 0
    recent = again.history(limit=5)
    assert [e.id for e in recent] == [e.id for e in exps[-5:]]
    assert journal_helpers.loads["count"] == 0
    assert recent[-1].result(timeout=0) == journal_helpers.CountedResult(b"r" * 1099)
    assert again.job_queue.history[0].result(timeout=0).payload == b"r" * 1000
    assert journal_helpers.loads["count"] == 2
    assert recent[-1].result(timeout=0) is recent[-1].result(timeout=0)  # loaded once


def _statements(conn, action) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    return seen


def _sorted_columns(statements: list[str]) -> list[str]:
    """The column lists of the statements that sort rows."""
    return [sql.split("FROM")[0] for sql in statements if "ORDER BY" in sql.upper()]


def test_history_queries_and_restore_sort_no_blobs(open_manager):
    manager = open_manager()
    for i in range(10):
        manager.queued_exec(counted)(100 + i).result(timeout=TIMEOUT)
    assert manager.wait_until_idle(TIMEOUT)
    conn = manager._journal._conn
    sorting = _sorted_columns(_statements(conn, lambda: manager.history(limit=5)))
    sorting += _sorted_columns(_statements(conn, lambda: manager.history(status="finished", title_contains="count")))
    manager.shutdown()
    journal = Journal(manager.data_dir / JOURNAL_FILE)
    try:
        sorting += _sorted_columns(_statements(journal._conn, journal.restore))
    finally:
        journal.close()
    assert len(sorting) >= 3
    for columns in sorting:
        for blob in ("result", "arguments", "exception", "log_lines", "traceback"):
            assert blob not in columns, columns


def test_an_outcome_asked_for_after_shutdown_says_why_it_cannot_be_read(open_manager):
    manager = open_manager()
    manager.queued_exec(counted)(10).result(timeout=TIMEOUT)
    assert manager.wait_until_idle(TIMEOUT)
    again = restart(manager, open_manager)
    (restored,) = again.job_queue.history
    again.shutdown()
    text = repr(restored.result(timeout=0))
    assert "cannot be read" in text and "closed" in text
    assert "closed" in restored.store_error
