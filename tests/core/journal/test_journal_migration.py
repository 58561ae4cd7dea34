"""Schema versions: PRAGMA user_version and the migration path from older journals."""

from __future__ import annotations

import sqlite3

import pytest

from labqueue import Experiment, ExpStatus
from labqueue.core.journal import JournalError
from labqueue.core.journal import schema as journal_db

from .journal_helpers import square


def _version(path) -> int:
    with sqlite3.connect(path) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    return version


def _columns(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        names = [row[1] for row in conn.execute("PRAGMA table_info(experiments)")]
    conn.close()
    return names


def _a_version_1_journal(open_manager, lab) -> list[Experiment]:
    """A journal as labqueue wrote it before chains, studies, lanes and sweeps (schema 1):
    written by this version, then every later step undone by hand."""
    manager = open_manager(start=False)
    exps = [Experiment(square, (i,)) for i in range(3)]
    manager.job_queue.put_many(exps)
    manager.shutdown()
    with sqlite3.connect(lab / "labqueue.db") as conn:
        conn.execute("ALTER TABLE experiments DROP COLUMN lane")
        conn.execute("ALTER TABLE experiments DROP COLUMN group_id")
        conn.execute("ALTER TABLE experiments DROP COLUMN cleanup_digest")
        for table in ("groups", "experiment_links", "experiment_chain", "study_runs", "studies"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    return exps


def _a_journal_one_step_behind(open_manager, lab) -> list[Experiment]:
    """A journal written by this labqueue, with three queued experiments. The tests add
    a step to MIGRATIONS after it was written, so it is one version behind that."""
    manager = open_manager(start=False)
    exps = [Experiment(square, (i,)) for i in range(3)]
    manager.job_queue.put_many(exps)
    manager.shutdown()
    assert _version(lab / "labqueue.db") == journal_db.schema_version()
    return exps


def _add_operator_column(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE experiments ADD COLUMN operator TEXT")
    conn.execute("UPDATE experiments SET operator = 'unknown'")


def test_a_new_journal_runs_every_step_and_records_the_version(open_manager, lab):
    open_manager(start=False).shutdown()
    assert _version(lab / "labqueue.db") == journal_db.schema_version() == len(journal_db.MIGRATIONS)


def test_an_older_journal_is_upgraded_in_place_and_keeps_its_queue(open_manager, lab, monkeypatch):
    exps = _a_version_1_journal(open_manager, lab)
    monkeypatch.setattr(journal_db, "MIGRATIONS", [*journal_db.MIGRATIONS, _add_operator_column])

    manager = open_manager()
    assert [e.id for e in manager.job_queue.queued] == [e.id for e in exps]
    manager.resume_worker()
    assert [e.result(timeout=10) for e in manager.job_queue.queued] == [0, 1, 4]
    manager.shutdown()
    assert _version(lab / "labqueue.db") == len(journal_db.MIGRATIONS)
    assert {"operator", "lane", "group_id", "cleanup_digest"} <= set(_columns(lab / "labqueue.db"))


def test_a_failed_step_leaves_the_journal_as_it_was(open_manager, lab, monkeypatch):
    exps = _a_journal_one_step_behind(open_manager, lab)
    version = journal_db.schema_version()
    steps = journal_db.MIGRATIONS

    def half_done(conn: sqlite3.Connection) -> None:
        _add_operator_column(conn)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(journal_db, "MIGRATIONS", [*steps, half_done])
    with pytest.raises(JournalError, match=f"from schema {version} to {version + 1}: disk I/O error"):
        open_manager()
    assert _version(lab / "labqueue.db") == version
    assert "operator" not in _columns(lab / "labqueue.db")

    monkeypatch.setattr(journal_db, "MIGRATIONS", steps)
    manager = open_manager()
    assert [(e.id, e.status) for e in manager.job_queue.queued] == [(e.id, ExpStatus.QUEUED) for e in exps]


def _page_size(path) -> int:
    with sqlite3.connect(path) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    return size


def test_a_new_journal_uses_small_pages_and_an_older_one_keeps_its_own(open_manager, lab, monkeypatch):
    open_manager(start=False).shutdown()
    assert _page_size(lab / "labqueue.db") == journal_db.PAGE_SIZE == 1024

    older = lab / "older"
    monkeypatch.setattr(journal_db, "PAGE_SIZE", 4096)
    manager = open_manager(data_dir=older, start=False)
    queued = Experiment(square, (7,))
    manager.job_queue.put(queued)
    manager.shutdown()
    monkeypatch.undo()

    manager = open_manager(data_dir=older)
    manager.shutdown()
    assert _page_size(older / "labqueue.db") == 4096
    manager = open_manager(data_dir=older)
    [restored] = manager.job_queue.queued
    assert restored.id == queued.id
    manager.resume_worker()
    assert restored.result(10) == 49
