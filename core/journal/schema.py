"""The journal's SQLite file: opening it safely, its schema, and migrations between versions.

The schema version lives in ``PRAGMA user_version``. :data:`MIGRATIONS` holds one step
per version: step ``n`` turns a version-``n`` file into version ``n + 1``, in one
transaction together with the new version number, so a failed step leaves the file
as it was. A new file is created by running every step from version 0, so the
migration path is exercised on every fresh journal, not only on old ones.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["MIGRATIONS", "JournalError", "open_database", "open_memory_database", "schema_version"]

logger = logging.getLogger("labqueue")

#: The database and its WAL hold pickles, which run code when loaded: owner only.
FILE_MODE = 0o600
#: Page size of a new journal file (see :func:`_configure_and_check`).
PAGE_SIZE = 1024


class JournalError(Exception):
    """The journal cannot be opened or written. The message names the file and the reason."""


def _create_schema(conn: sqlite3.Connection) -> None:
    # Calls are stored in two parts so that a put_many of one function pickles and
    # stores it once: functions by value (cloudpickle), keyed on a digest of the pickle,
    # and each experiment's (args, kwargs).
    conn.execute("CREATE TABLE functions (digest BLOB PRIMARY KEY, pickle BLOB NOT NULL) WITHOUT ROWID")
    conn.execute(
        """
        CREATE TABLE experiments (
            seq INTEGER PRIMARY KEY,       -- row key: every write goes through it
            id TEXT NOT NULL,              -- Experiment.id, kept across restarts
            status TEXT NOT NULL,          -- ExpStatus value
            queue_position REAL NOT NULL,  -- order among the queued (sparse: a move rewrites one row)
            history_order INTEGER,         -- order in the history, once ended
            title TEXT,                    -- NULL until computed (it costs a signature lookup per job)
            func_name TEXT NOT NULL,
            func_digest BLOB REFERENCES functions (digest),  -- NULL when the call was not stored
            arguments BLOB,                -- pickled (args, kwargs); NULL when not stored
            store_error TEXT,              -- why the call (or the result) was not stored
            requeued_from TEXT,
            queued_at REAL,
            started_at REAL,
            finished_at REAL,
            progress_fraction REAL,
            progress_message TEXT,
            result BLOB,                   -- pickled result when result_pickled = 1
            result_repr TEXT,              -- repr of a result that could not be pickled
            result_pickled INTEGER,
            exception BLOB,                -- pickled exception of a failed or aborted call
            traceback TEXT,
            log_lines TEXT                 -- JSON list of [created, levelno, logger name, message]
        )
        """
    )
    # No index: a put then writes one table page instead of three (ids are random, so
    # an index on them is written all over). Reads by id or by order scan the table,
    # which they do rarely: at start, and for history searches.


def _add_chains(conn: sqlite3.Connection) -> None:
    # Separate tables rather than columns: most experiments have no upstream and no
    # retry policy, and a put of them writes nothing more than before.
    conn.execute(
        """
        CREATE TABLE experiment_links (
            downstream_id TEXT NOT NULL,
            place INTEGER NOT NULL,        -- order of the links of one downstream
            upstream_id TEXT NOT NULL,     -- as linked; requeued copies are found through requeued_from
            feed_position INTEGER,         -- the upstream's result as this positional argument
            feed_name TEXT,                -- ... or as this keyword argument
            on_failure TEXT NOT NULL,      -- skip, continue or stop_study
            PRIMARY KEY (downstream_id, place)
        ) WITHOUT ROWID
        """
    )
    conn.execute("CREATE INDEX experiment_links_upstream ON experiment_links (upstream_id)")
    conn.execute(
        """
        CREATE TABLE experiment_chain (
            experiment_id TEXT PRIMARY KEY,
            attempt INTEGER NOT NULL DEFAULT 1,
            retries INTEGER,
            retry_delay REAL,
            retry_on BLOB,                 -- pickled tuple of exception classes
            not_before REAL,
            study_id TEXT,
            cancel_reason TEXT
        ) WITHOUT ROWID
        """
    )
    conn.execute("CREATE INDEX experiment_chain_study ON experiment_chain (study_id)")


def _add_studies(conn: sqlite3.Connection) -> None:
    # JSON text for lists and free-form data: it keeps each value's type (the string
    # "007" stays a string, 7 an int), which Merlin's SQLite backend loses.
    conn.execute(
        """
        CREATE TABLE studies (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            workspace TEXT,                -- absolute path of the study's folder
            spec_path TEXT,
            spec_digest TEXT,              -- of the spec the study was run with, checked on restart
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            additional_data TEXT NOT NULL  -- JSON object
        ) WITHOUT ROWID
        """
    )
    conn.execute("CREATE UNIQUE INDEX studies_workspace ON studies (workspace) WHERE workspace IS NOT NULL")
    conn.execute(
        """
        CREATE TABLE study_runs (
            id TEXT PRIMARY KEY,
            study_id TEXT NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
            step TEXT,
            workspace TEXT NOT NULL,       -- the run directory
            queues TEXT NOT NULL,          -- JSON list
            workers TEXT NOT NULL,         -- JSON list
            status TEXT NOT NULL,          -- ExpStatus value
            experiment_id TEXT,            -- the experiment of its latest attempt
            reason TEXT,                   -- why it failed or was cancelled
            duration REAL,
            parameters TEXT NOT NULL,      -- JSON object
            additional_data TEXT NOT NULL  -- JSON object
        ) WITHOUT ROWID
        """
    )
    conn.execute("CREATE INDEX study_runs_study ON study_runs (study_id, step)")
    conn.execute("CREATE INDEX study_runs_status ON study_runs (status)")
    conn.execute("CREATE INDEX study_runs_workspace ON study_runs (workspace)")
    conn.execute("CREATE INDEX study_runs_experiment ON study_runs (experiment_id)")


def _add_lanes_and_groups(conn: sqlite3.Connection) -> None:
    # Where each experiment runs, and the sweep it belongs to; a sweep's own record
    # (title, when, its settings as JSON) is a row of groups. NULL lane: the worker.
    conn.execute("ALTER TABLE experiments ADD COLUMN lane TEXT")
    conn.execute("ALTER TABLE experiments ADD COLUMN group_id TEXT")
    conn.execute(
        "CREATE TABLE groups (id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at REAL NOT NULL, details TEXT) "
        "WITHOUT ROWID"
    )


def _add_cleanup_column(conn: sqlite3.Connection) -> None:
    # The cleanup an experiment runs after an abort or a failure, stored like its
    # function, so that it can run at the next start if the program died mid-call.
    conn.execute("ALTER TABLE experiments ADD COLUMN cleanup_digest BLOB REFERENCES functions (digest)")


#: ``MIGRATIONS[n]`` upgrades a version-``n`` file to version ``n + 1``.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_schema,
    _add_chains,
    _add_studies,
    _add_lanes_and_groups,
    _add_cleanup_column,
]


def open_memory_database() -> sqlite3.Connection:
    """A private in-memory database with the journal's schema (for a queue without a data directory)."""
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    for step in MIGRATIONS:
        step(conn)
    return conn


def schema_version() -> int:
    """The version this code writes: the number of migration steps."""
    return len(MIGRATIONS)


def open_database(path: Path) -> sqlite3.Connection:
    """Open the journal at ``path`` (creating it, mode 0600), migrated to :func:`schema_version`.

    The connection is in autocommit mode (callers open their own transactions), WAL
    journal, ``synchronous=NORMAL`` and exclusive locking (see :class:`core.journal.Journal`).

    A file that is not a labqueue SQLite journal (garbage, corrupt pages, another
    program's database) is renamed to ``labqueue.db.corrupt-<timestamp>`` (never
    overwritten) and a fresh journal is started; an error naming both files is logged.

    Raises:
        JournalError: the file cannot be created or opened (read-only or missing
            directory, disk full, locked by another process), was written by a newer
            labqueue, or a migration step failed (the file is then left as it was).
    """
    conn, problem = _connect_checked(path)
    if problem is not None:
        aside = _move_aside(path)
        logger.error(
            "The journal %s is not a readable labqueue database (%s). It was moved to %s "
            "and a new, empty journal was started.",
            path,
            problem,
            aside,
        )
        conn, problem = _connect_checked(path)
        if problem is not None:  # a fresh file that is unreadable: the disk is the problem
            raise JournalError(f"cannot start a new journal {path}: {problem}")
    try:
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_checked(path: Path) -> tuple[sqlite3.Connection | None, str | None]:
    """Connect and check the file; (connection, None) or (None, why it is not a journal)."""
    _create_private_file(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open the journal {path}: {exc}") from exc
    try:
        problem = _configure_and_check(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if exc.sqlite_errorcode in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            return None, str(exc)
        raise JournalError(f"cannot open the journal {path}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    if problem is not None:
        conn.close()
        return None, problem
    return conn, None


def _configure_and_check(conn: sqlite3.Connection, path: Path) -> str | None:
    # Exclusive locking: one program owns the data directory anyway (the instance
    # lock), and it spares the shared-memory file and a file lock per transaction.
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    # Read-only checks first: a file that is refused or moved aside stays as it was.
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > schema_version():
        raise JournalError(
            f"the journal {path} has schema version {version}, written by a newer labqueue; "
            f"this one knows up to version {schema_version()}. It was left untouched."
        )
    if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        return "it is another program's SQLite database"
    check = conn.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        return f"integrity check failed: {check}"
    # Small pages for a new file: a status change rewrites one short row, and every
    # commit writes whole pages to the WAL (measured: a job's two commits 39 -> 32 us).
    # An existing file keeps its page size; WAL mode fixes it.
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise JournalError(f"cannot put the journal {path} in WAL mode (SQLite answered {mode!r})")
    conn.execute("PRAGMA synchronous = NORMAL")
    return None


def _create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (SQLite then gives its WAL the same mode)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, FILE_MODE)
        return
    except OSError as exc:
        raise JournalError(f"cannot create the journal {path}: {exc.strerror}") from exc
    os.close(fd)


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        os.rename(path, aside)
        for suffix in ("-wal", "-shm"):
            companion = path.with_name(path.name + suffix)
            if companion.exists():  # kept beside the copy, where SQLite looks for them
                os.rename(companion, aside.with_name(aside.name + suffix))
    except OSError as exc:
        raise JournalError(f"the journal {path} is unreadable and cannot be moved aside: {exc.strerror}") from exc
    return aside


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for step in range(version, schema_version()):
        try:
            conn.execute("BEGIN IMMEDIATE")
            MIGRATIONS[step](conn)
            conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise JournalError(f"cannot upgrade the journal {path} from schema {step} to {step + 1}: {exc}") from exc
