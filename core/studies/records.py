"""Study and run records in the journal's file, after Merlin's ``RunManager`` and its
study counterpart, without what its SQLite backend gets wrong: each table has a
primary key and indexes on what is filtered, the managers share one connection (the
journal's), and values come back with their types (JSON, so "007" stays a string).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..journal import Journal, open_memory_database

__all__ = [
    "STUDY_CANCELLED",
    "RunManager",
    "RunNotFoundError",
    "RunRecord",
    "StudyNotFoundError",
    "StudyRecord",
    "StudyRecordManager",
    "Tables",
]


#: The reason of the runs a study's cancel marks; an experiment's end stored later keeps it.
STUDY_CANCELLED = "study cancelled"


class RunNotFoundError(LookupError):
    """No run has the id or workspace asked for."""


class StudyNotFoundError(LookupError):
    """No study has the id, name or workspace asked for."""


class Tables:
    """The study tables: in the journal's file (through its connection), or in memory
    for a manager without a data directory. Thread-safe; every method raises
    JournalError when the database fails."""

    def __init__(self, journal: Journal | None = None) -> None:
        self._journal = journal
        self._memory = open_memory_database() if journal is None else None
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self, action: str) -> Iterator[Any]:
        if self._journal is not None:
            with self._journal.transaction(action) as conn:
                yield conn
            return
        with self._lock:
            conn = self._memory
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def query(self, action: str, sql: str, params: tuple | list = ()) -> list[tuple]:
        if self._journal is not None:
            return self._journal.query(action, sql, params)
        with self._lock:
            return self._memory.execute(sql, params).fetchall()


def _new_id() -> str:
    return os.urandom(16).hex()


@dataclass
class StudyRecord:
    """A stored study: its name, workspace folder, the digest of its spec and its runs' ids."""

    id: str
    name: str
    workspace: str | None = None
    spec_path: str | None = None
    spec_digest: str | None = None
    status: str = "queued"
    created_at: float = 0.0
    additional_data: dict[str, Any] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)


@dataclass
class RunRecord:
    """A stored run of a study step: its run directory (``workspace``), status and outcome."""

    id: str
    study_id: str
    workspace: str
    queues: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    step: str | None = None
    status: str = "queued"
    experiment_id: str | None = None
    reason: str | None = None
    duration: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    additional_data: dict[str, Any] = field(default_factory=dict)


_RUN_FIELDS = {f.name for f in fields(RunRecord)} - {"id", "study_id", "workspace", "queues", "additional_data"}
_STUDY_FIELDS = {f.name for f in fields(StudyRecord)} - {"id", "name", "runs", "additional_data", "created_at"}
_RUN_COLUMNS = (
    "id, study_id, workspace, queues, workers, step, status, experiment_id, reason, duration, parameters, "
    "additional_data"
)
_STUDY_COLUMNS = "id, name, workspace, spec_path, spec_digest, status, created_at, additional_data"


def _run_from_row(row: tuple) -> RunRecord:
    run_id, study_id, workspace, queues, workers, step, status, exp_id, reason, duration, params, extra = row
    return RunRecord(
        run_id,
        study_id,
        workspace,
        json.loads(queues),
        json.loads(workers),
        step,
        status,
        exp_id,
        reason,
        duration,
        json.loads(params),
        json.loads(extra),
    )


class StudyRecordManager:
    """Create, read and delete study records. Every method raises JournalError when the
    database fails."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    def create(self, name: str, workspace: str | Path | None = None, **kwargs: Any) -> StudyRecord:
        """The study called ``name``, created if there is none (then with ``workspace``
        and ``kwargs``: known fields set, the others kept as ``additional_data``)."""
        try:
            return self.get(name)
        except StudyNotFoundError:
            pass
        known = {key: value for key, value in kwargs.items() if key in _STUDY_FIELDS}
        extra = {key: value for key, value in kwargs.items() if key not in _STUDY_FIELDS}
        study = StudyRecord(
            _new_id(),
            name,
            str(Path(workspace).resolve()) if workspace is not None else None,
            created_at=time.time(),
            additional_data=extra,
            **known,
        )
        with self._tables.transaction(f"store the study {name}") as conn:
            conn.execute(
                f"INSERT INTO studies ({_STUDY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    study.id,
                    study.name,
                    study.workspace,
                    study.spec_path,
                    study.spec_digest,
                    study.status,
                    study.created_at,
                    json.dumps(extra),
                ),
            )
        return study

    def get(self, study_id_name_or_workspace: str | Path) -> StudyRecord:
        """The study with this id, name or workspace folder. Raises StudyNotFoundError."""
        key = str(study_id_name_or_workspace)
        path_key = str(Path(key).resolve()) if isinstance(study_id_name_or_workspace, Path) or os.sep in key else key
        rows = self._tables.query(
            "read a study",
            f"SELECT {_STUDY_COLUMNS} FROM studies WHERE id = ? OR name = ? OR workspace = ?",
            (key, key, path_key),
        )
        if not rows:
            raise StudyNotFoundError(f"no study with id, name or workspace {key!r}")
        return self._study(rows[0])

    def _study(self, row: tuple) -> StudyRecord:
        study_id, name, workspace, spec_path, digest, status, created_at, extra = row
        runs = [
            r[0]
            for r in self._tables.query(
                "read a study's runs", "SELECT id FROM study_runs WHERE study_id = ?", (study_id,)
            )
        ]
        return StudyRecord(study_id, name, workspace, spec_path, digest, status, created_at, json.loads(extra), runs)

    def get_all(self, filters: dict[str, Any] | None = None) -> list[StudyRecord]:
        """Every study, oldest first, or those matching ``filters`` ("name", "status").
        Raises ValueError for another filter key."""
        where, params = _where(filters or {}, {"name": "name", "status": "status"}, {})
        rows = self._tables.query(
            "read the studies", f"SELECT {_STUDY_COLUMNS} FROM studies{where} ORDER BY created_at", params
        )
        return [self._study(row) for row in rows]

    def update(self, study: StudyRecord) -> None:
        """Store the changed fields of ``study``."""
        with self._tables.transaction(f"update the study {study.name}") as conn:
            conn.execute(
                "UPDATE studies SET workspace = ?, spec_path = ?, spec_digest = ?, status = ?, additional_data = ? "
                "WHERE id = ?",
                (
                    study.workspace,
                    study.spec_path,
                    study.spec_digest,
                    study.status,
                    json.dumps(study.additional_data),
                    study.id,
                ),
            )

    def delete(self, study_id_name_or_workspace: str | Path) -> None:
        """Delete the study and its runs. Raises StudyNotFoundError."""
        study = self.get(study_id_name_or_workspace)
        with self._tables.transaction(f"delete the study {study.name}") as conn:
            conn.execute("DELETE FROM study_runs WHERE study_id = ?", (study.id,))
            conn.execute("DELETE FROM studies WHERE id = ?", (study.id,))

    def delete_all(self) -> None:
        """Delete every study and run."""
        with self._tables.transaction("delete all studies") as conn:
            conn.execute("DELETE FROM study_runs")
            conn.execute("DELETE FROM studies")


class RunManager:
    """Create, read, update and delete runs, as Merlin's RunManager. Every method raises
    JournalError when the database fails."""

    #: Filters of :meth:`get_all`: column filters, and JSON-list filters matching any item.
    COLUMN_FILTERS = {"study_id": "study_id", "status": "status", "step": "step"}
    LIST_FILTERS = {"queues": "queues", "workers": "workers"}

    #: Outcomes recorded by :meth:`record_outcome` are stored together once this many
    #: wait, or once the oldest waited OUTCOME_DELAY_S seconds (or by the next read or write).
    OUTCOME_BATCH = 500
    OUTCOME_DELAY_S = 1.0

    def __init__(self, tables: Tables, studies: StudyRecordManager) -> None:
        self._tables = tables
        self.studies = studies
        self._outcomes: list[tuple[str, str | None, float | None, str]] = []  # (status, reason, duration, run id)
        self._first_outcome_at = 0.0
        self._outcomes_lock = threading.Lock()  # held while they are stored, so a read waits for them

    def create(self, study_name: str, workspace: str | Path, queues: list[str], **kwargs: Any) -> RunRecord:
        """A new run of the study ``study_name`` (created if there is none) in ``workspace``.

        Keywords that are RunRecord fields (step, status, workers, parameters, ...) set
        them; any other is kept in ``additional_data``."""
        return self.create_many(study_name, [(workspace, queues, kwargs)])[0]

    def record_outcome(self, run_id: str, status: str, reason: str | None, duration: float | None) -> None:
        """Store how the experiment of a run ended, later and with others in one
        transaction (see OUTCOME_BATCH), so that a run's end costs its step no write of
        its own. Every read and write here stores the recorded outcomes first, so they
        are never seen missing; one not stored yet when the process dies is no loss,
        as the journal has the experiment's end (StudyManager reconciles the runs left
        queued or running at its next start). A run marked cancelled with its study
        keeps that mark. Raises JournalError when storing them (then) fails."""
        with self._outcomes_lock:
            if not self._outcomes:
                self._first_outcome_at = time.monotonic()
            self._outcomes.append((status, reason, duration, run_id))
            due = (
                len(self._outcomes) >= self.OUTCOME_BATCH
                or time.monotonic() - self._first_outcome_at >= self.OUTCOME_DELAY_S
            )
            if due:
                self._store_outcomes()

    def flush(self) -> None:
        """Store the outcomes recorded and not stored yet. Raises JournalError."""
        with self._outcomes_lock:
            self._store_outcomes()

    def _store_outcomes(self) -> None:
        """Under the outcomes' lock. Kept for the next try when the write fails."""
        if not self._outcomes:
            return
        with self._tables.transaction(f"store the outcome of {len(self._outcomes)} run(s)") as conn:
            conn.executemany(
                "UPDATE study_runs SET status = ?, reason = ?, duration = ? "
                "WHERE id = ? AND NOT (status = 'cancelled' AND reason IS ?)",
                [outcome + (STUDY_CANCELLED,) for outcome in self._outcomes],
            )
        self._outcomes = []

    def create_many(self, study_name: str, runs: list[tuple[str | Path, list[str], dict[str, Any]]]) -> list[RunRecord]:
        """Several runs as :meth:`create` makes them, in one transaction."""
        study = self.studies.create(study_name)
        records = []
        for workspace, queues, kwargs in runs:
            known = {key: value for key, value in kwargs.items() if key in _RUN_FIELDS}
            extra = {key: value for key, value in kwargs.items() if key not in _RUN_FIELDS}
            records.append(RunRecord(_new_id(), study.id, str(workspace), list(queues), additional_data=extra, **known))
        with self._tables.transaction(f"store {len(records)} run(s) of {study_name}") as conn:
            conn.executemany(
                f"INSERT INTO study_runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_run_row(run) for run in records],
            )
        return records

    def get(self, run_id_or_workspace: str | Path) -> RunRecord:
        """The run with this id or run directory. Raises RunNotFoundError."""
        self.flush()
        key = str(run_id_or_workspace)
        rows = self._tables.query(
            "read a run", f"SELECT {_RUN_COLUMNS} FROM study_runs WHERE id = ? OR workspace = ?", (key, key)
        )
        if not rows:
            raise RunNotFoundError(f"no run with id or workspace {key!r}")
        return _run_from_row(rows[0])

    def get_all(self, filters: dict[str, Any] | None = None) -> list[RunRecord]:
        """Every run, or those matching all ``filters``: "study_id", "status" (any case),
        "step", "queues" and "workers" (a run matches when it has any of the given ones).
        Raises ValueError for another filter key."""
        filters = dict(filters or {})
        if isinstance(filters.get("status"), str):
            filters["status"] = filters["status"].lower()
        where, params = _where(filters, self.COLUMN_FILTERS, self.LIST_FILTERS)
        self.flush()
        rows = self._tables.query("read the runs", f"SELECT {_RUN_COLUMNS} FROM study_runs{where}", params)
        return [_run_from_row(row) for row in rows]

    def update(self, run: RunRecord) -> None:
        """Store the changed fields of ``run``."""
        self.update_many([run])

    def update_many(self, runs: list[RunRecord]) -> None:
        """Store several changed runs in one transaction."""
        self.flush()
        with self._tables.transaction(f"update {len(runs)} run(s)") as conn:
            conn.executemany(
                "UPDATE study_runs SET workers = ?, step = ?, status = ?, experiment_id = ?, reason = ?, "
                "duration = ?, parameters = ?, additional_data = ? WHERE id = ?",
                [(*_run_row(run)[4:], run.id) for run in runs],  # workers ... additional_data, then the id
            )

    def delete(self, run_id_or_workspace: str | Path) -> None:
        """Delete the run; its study no longer lists it. Raises RunNotFoundError."""
        run = self.get(run_id_or_workspace)  # stores the recorded outcomes too
        with self._tables.transaction("delete a run") as conn:
            conn.execute("DELETE FROM study_runs WHERE id = ?", (run.id,))

    def delete_all(self) -> None:
        """Delete every run (the studies stay, with no runs)."""
        self.flush()
        with self._tables.transaction("delete all runs") as conn:
            conn.execute("DELETE FROM study_runs")


def _run_row(run: RunRecord) -> tuple:
    return (
        run.id,
        run.study_id,
        run.workspace,
        json.dumps(run.queues),
        json.dumps(run.workers),
        run.step,
        run.status,
        run.experiment_id,
        run.reason,
        run.duration,
        json.dumps(run.parameters),
        json.dumps(run.additional_data),
    )


def _where(filters: dict[str, Any], columns: dict[str, str], lists: dict[str, str]) -> tuple[str, list]:
    """SQL ``WHERE`` for ``filters``; a list value matches any of its items."""
    unknown = set(filters) - set(columns) - set(lists)
    if unknown:
        known = ", ".join(sorted({*columns, *lists}))
        raise ValueError(f"unknown filter {', '.join(sorted(unknown))}; the filters are {known}")
    clauses, params = [], []
    for key, value in filters.items():
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        if key in columns:
            clauses.append(f"{columns[key]} IN ({', '.join('?' * len(values))})")
            params += values
        else:
            clauses.append(
                f"EXISTS (SELECT 1 FROM json_each({lists[key]}) WHERE value IN ({', '.join('?' * len(values))}))"
            )
            params += values
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
