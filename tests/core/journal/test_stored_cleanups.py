"""Cleanups are stored with the call, so one runs at the next start for an experiment
that was running when the program died."""

from __future__ import annotations

import logging
import sqlite3
import threading

import cloudpickle

from labqueue import Experiment, ExperimentQueue, ExpStatus
from labqueue.core.journal import Journal
from labqueue.core.journal import schema as journal_db

from .journal_helpers import fail, ramp_down, ramp_down_called, ramped_down, restart, square

TIMEOUT = 10


def _crash_while_running(lab, **experiment_options) -> list[Experiment]:
    """A journal whose first experiment was RUNNING when its program died."""
    lab.mkdir()
    journal = Journal(lab / "labqueue.db")
    queue = ExperimentQueue(store=journal)
    exps = [Experiment(square, (i,), **experiment_options) for i in range(2)]
    queue.put_many(exps)
    assert queue.get_next_job() is exps[0]
    journal.close()  # as if the process died here
    return exps


def test_an_interrupted_experiment_runs_its_stored_cleanup_at_the_next_start(open_manager, lab):
    exps = _crash_while_running(lab, cleanup=ramp_down)
    ramped_down.clear()
    ramp_down_called.clear()
    manager = open_manager()
    assert ramp_down_called.wait(TIMEOUT)
    assert ramped_down == [(exps[0].id, ExpStatus.INTERRUPTED)]
    assert manager.paused  # the queue still waits for a human
    queued = manager.job_queue.queued
    assert [e.id for e in queued] == [exps[1].id] and queued[0].cleanup is ramp_down

    ramp_down_called.clear()
    again = restart(manager, open_manager)
    again.resume_worker()
    assert again.job_queue.queued[0].result(timeout=TIMEOUT) == 1
    assert len(ramped_down) == 1 and not ramp_down_called.is_set()  # once, at the start after the crash


def test_a_restored_queued_experiment_keeps_its_cleanup(open_manager):
    manager = open_manager(start=False, pause_on_failure=False)
    exp = manager.queued_exec(fail, cleanup=ramp_down)(7)
    again = restart(manager, open_manager, pause_on_failure=False)
    ramped_down.clear()
    restored = again.get(exp.id)
    assert restored.cleanup is ramp_down
    again.resume_worker()
    restored.exception(timeout=TIMEOUT)
    assert ramped_down == [(exp.id, ExpStatus.RUNNING)]


def test_a_cleanup_that_cannot_be_stored_still_runs_and_says_it_would_not_after_a_crash(open_manager, caplog):
    manager = open_manager(pause_on_failure=False)
    instrument_lock = threading.Lock()  # cannot be pickled, like an open instrument connection
    ran = []

    def close_shutter(exp):
        with instrument_lock:
            ran.append(exp)

    exp = manager.queued_exec(fail, cleanup=close_shutter)(1)
    exp.exception(timeout=TIMEOUT)
    assert ran == [exp]
    assert exp.stored is True  # the call itself is stored
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("cleanup" in w and "not run after a crash" in w and exp.title in w for w in warnings)


def test_a_cleanup_that_no_longer_loads_is_reported_and_the_start_goes_on(open_manager, lab, caplog):
    exps = _crash_while_running(lab, cleanup=ramp_down)
    with sqlite3.connect(lab / "labqueue.db") as conn:
        conn.execute("UPDATE experiments SET cleanup_digest = ?", (b"no such function",))
    conn.close()
    manager = open_manager()
    assert [e.id for e in manager.job_queue.queued] == [exps[1].id]
    assert manager.job_queue.queued[0].cleanup is None
    assert any("cleanup" in r.getMessage() and "cannot be loaded" in r.getMessage() for r in caplog.records)


def test_a_version_1_journal_gains_the_cleanup_column_and_keeps_its_queue(open_manager, lab):
    lab.mkdir()
    path = lab / "labqueue.db"
    conn = sqlite3.connect(path, isolation_level=None)
    journal_db.MIGRATIONS[0](conn)  # the first labqueue's schema, as it wrote it
    conn.execute("PRAGMA user_version = 1")
    function = cloudpickle.dumps(square)
    conn.execute("INSERT INTO functions VALUES (?, ?)", (b"digest", function))
    conn.execute(
        "INSERT INTO experiments (seq, id, status, queue_position, func_name, func_digest, arguments, queued_at) "
        "VALUES (1, 'old-one', 'queued', 1.0, 'square', ?, ?, 0.0)",
        (b"digest", cloudpickle.dumps(((3,), {}))),
    )
    conn.close()

    manager = open_manager()
    (restored,) = manager.job_queue.queued
    assert restored.id == "old-one" and restored.cleanup is None
    manager.resume_worker()
    assert restored.result(timeout=TIMEOUT) == 9
    manager.shutdown()  # the journal is opened exclusively
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == journal_db.schema_version() >= 2
        assert "cleanup_digest" in [row[1] for row in check.execute("PRAGMA table_info(experiments)")]
    check.close()
