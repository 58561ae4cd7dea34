"""Journal: the queue and its history in SQLite, so they survive crashes and restarts.

:class:`Journal` is the :class:`~core.experiment_queue.QueueStore` a
:class:`~core.manager.Manager` with a data directory gives its queue. Every change is
its own transaction, committed before the queue call that caused it returns:

* ``put`` (and ``put_many``, as one transaction) stores the call by value;
* RUNNING is stored before the call starts;
* the outcome (status, result, exception, traceback, log lines, progress, the
  series it published) is stored before the experiment's future completes, so
  before the next job starts;
* moves, removals and clears are stored before they return.

Durability: the file is in WAL mode with ``synchronous=NORMAL``. A committed
transaction has been handed to the operating system, so it survives the program
being killed (SIGKILL, a crash, a frozen instrument driver). A power cut or kernel
panic may lose the last transactions, though never the file's consistency: syncing
each commit to the disk would cost milliseconds per job, which ``synchronous=FULL``
buys and this journal does not. Exclusive locking keeps other processes out of the
file while it is open.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import sqlite3
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..engine import (
    INSTRUMENT_LANE,
    Experiment,
    ExpStatus,
    Link,
    PublishedData,
    RetryPolicy,
    Series,
    StoredOutcome,
    attach_links,
    watch_retries,
)
from .codec import (
    CallEncoder,
    FunctionPickles,
    PickleTooLarge,
    ResultNotStored,
    StoredFailure,
    bounded_traceback,
    decode_log,
    describe_error,
    encode_exception,
    encode_log,
    encode_result,
    load_exception,
    load_pickle,
    load_result,
    pickle_value,
    unavailable_call,
)
from .history import HistoryFilter, title_contains
from .schema import JournalError, open_database

__all__ = ["JOURNAL_FILE", "Journal", "JournalError", "Restored"]

logger = logging.getLogger("labqueue")

JOURNAL_FILE = "labqueue.db"

#: Ended experiments loaded into the queue at start; older ones stay in the journal,
#: reached through :meth:`Journal.find` and :meth:`Journal.load`.
RESTORED_HISTORY = 1000

#: Least time between two progress writes of a running job.
PROGRESS_INTERVAL_S = 1.0

_INSERT_EXPERIMENT = (
    "INSERT INTO experiments (seq, id, status, queue_position, title, func_name, func_digest, arguments, "
    "store_error, requeued_from, queued_at, lane, group_id, cleanup_digest) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_INSERT_SERIES = (
    "INSERT OR REPLACE INTO series (experiment_id, position, name, x_label, y_label, x_units, y_units, x, y) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_OUTCOME_SET = (
    "status = ?, history_order = ?, title = ?, finished_at = ?, progress_fraction = ?, progress_message = ?, "
    "result = ?, result_repr = ?, result_pickled = ?, exception = ?, traceback = ?, log_lines = ?, paused_seconds = ?"
)
_STORE_OUTCOME = f"UPDATE experiments SET {_OUTCOME_SET} WHERE seq = ?"
_STORE_OUTCOME_AND_ERROR = f"UPDATE experiments SET {_OUTCOME_SET}, store_error = ? WHERE seq = ?"

_INSERT_LINK = (
    "INSERT INTO experiment_links (downstream_id, place, upstream_id, feed_position, feed_name, on_failure) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_CHAIN = (
    "INSERT INTO experiment_chain (experiment_id, attempt, retries, retry_delay, retry_on, not_before, study_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _chain_rows(experiments: list[Experiment]) -> tuple[list[tuple], list[tuple]]:
    """Rows of experiment_links and experiment_chain for the experiments that need them."""
    link_rows, chain_rows = [], []
    for exp in experiments:
        for place, link in enumerate(exp.links):
            position = link.feed if isinstance(link.feed, int) else None
            name = link.feed if isinstance(link.feed, str) else None
            link_rows.append((exp.id, place, link.upstream.id, position, name, link.on_failure))
        retry = exp.retry
        if retry is not None or exp.links or exp.study_id is not None:
            chain_rows.append(
                (
                    exp.id,
                    exp.attempt,
                    retry.retries if retry else None,
                    retry.delay if retry else None,
                    pickle_value(retry.on) if retry else None,
                    exp.not_before,
                    exp.study_id,
                )
            )
    return link_rows, chain_rows


#: What a listing reads of each experiment: all but its outcome, which comes after the
#: (possibly huge) result in the row and is read by :meth:`Journal._read_outcome` on
#: first use.
_COLUMNS = (
    "seq, id, status, queue_position, title, func_name, func_digest, arguments, store_error, "
    "requeued_from, queued_at, started_at, finished_at, progress_fraction, progress_message, "
    "lane, group_id, cleanup_digest, paused_seconds"
)
_OUTCOME_COLUMNS = "result, result_repr, result_pickled, exception, traceback, log_lines"
#: Row keys per ``seq IN (...)`` query (SQLite allows at least 999 parameters).
_KEYS_PER_QUERY = 500


class EncodedCalls(NamedTuple):
    """Calls pickled for the journal: per experiment (function digest, pickled
    arguments, why not stored), the function pickles by digest, the cleanups and the
    rows of chains."""

    calls: list[tuple[bytes | None, bytes | None, str | None]]
    functions: dict[bytes, bytes]
    #: Per experiment (cleanup digest, why its cleanup is not stored).
    cleanups: list[tuple[bytes | None, str | None]]
    #: Rows of experiment_links (or the exception that kept them from being made) and experiment_chain.
    link_rows: list[tuple] | Exception
    chain_rows: list[tuple]


class EncodedOutcome(NamedTuple):
    """A call's outcome as stored: the pickled result, or its repr and why not."""

    result: bytes | None
    result_repr: str | None
    result_error: str | None
    exception: bytes | None
    traceback: str | None
    log_lines: str | None
    series: list[tuple]  # rows for the series table (see _series_rows)


@dataclass
class Restored:
    """What a journal held at start: ended experiments (the most recent
    :data:`RESTORED_HISTORY`, oldest first), the ones found RUNNING (now INTERRUPTED),
    and the queued ones in order; and the stored groups (sweeps) as
    ``(id, title, created_at, details)``."""

    history: list[Experiment] = field(default_factory=list)
    interrupted: list[Experiment] = field(default_factory=list)
    queued: list[Experiment] = field(default_factory=list)
    groups: list[tuple[str, str, float, dict]] = field(default_factory=list)


class Journal:
    """A queue's durable record in the SQLite file ``path`` (see the module docstring).

    Thread-safe: the queue writes under its own lock, and queries may come from any
    thread. Every method raises :class:`JournalError` (naming the file and the
    reason, e.g. "database or disk is full") when its transaction fails; the
    transaction is then rolled back, so nothing is half-written.

    Raises:
        JournalError: from the constructor when the file cannot be opened (see
            :func:`core.journal_db.open_database`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = open_database(self.path)
        # Python's case folding, so that a query matches here as it does in memory.
        self._conn.create_function("contains_text", 2, title_contains, deterministic=True)
        self._lock = threading.RLock()  # re-entrant: record_added holds it around its writes
        # Row keys of the experiments still to be written to (queued or running), and
        # the sparse positions of the queued ones.
        self._seqs: dict[str, int] = {}
        self._positions: dict[str, float] = {}
        self._stored_functions: set[bytes] = set()  # digests known to be in the file
        self._function_pickles = FunctionPickles()
        seq, position, history = self._conn.execute(
            "SELECT max(seq), max(queue_position), max(history_order) FROM experiments"
        ).fetchone()
        self._next_seq = (seq or 0) + 1
        self._last_position = position or 0.0
        self._next_history = (history or 0) + 1
        self._progress_due = 0.0
        # False only in a journal kept at an older schema (tests of the migration path).
        self._has_chains = bool(
            self._conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'experiment_links'").fetchone()[0]
        )

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection(action)
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise JournalError(f"cannot {action} in the journal {self.path}: {exc}") from exc
                raise

    def transaction(self, action: str):
        """A transaction on the journal's one connection, for the tables other parts keep
        in this file (studies); ``action`` names it in the JournalError raised on failure."""
        return self._transaction(action)

    def query(self, action: str, sql: str, params: tuple | list = ()) -> list[tuple]:
        """Rows of one read; raises JournalError (naming ``action``) when it fails."""
        with self._lock:
            try:
                return self._connection(action).execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise JournalError(f"cannot {action} in the journal {self.path}: {exc}") from exc

    def _write(self, action: str, sql: str, params: tuple | list) -> None:
        """One statement, in a transaction of its own (autocommit)."""
        with self._lock:
            conn = self._conn or self._connection(action)  # _connection() only raises (closed): three writes a job
            try:
                conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise JournalError(f"cannot {action} in the journal {self.path}: {exc}") from exc

    def _connection(self, action: str) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"cannot {action}: the journal {self.path} is closed")
        return self._conn

    def close(self) -> None:
        """Close the file; later writes raise JournalError. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- the QueueStore side -----------------------------------------------------------

    def prepare_added(self, experiments: list[Experiment]) -> EncodedCalls:
        """Pickle the calls of experiments about to be queued (outside the queue's
        locks: a big argument must not hold up the window or the worker).

        A call that cannot be pickled, or whose function or arguments pickle to more
        than :data:`~core.journal.codec.MAX_STORED_ARGUMENT_BYTES`, is given a reason
        instead (:meth:`record_added` records it as not stored); so is a cleanup that
        cannot be pickled (it runs in this session, not after a crash). The rows of
        chains (links, retry policies) are made here too. This never raises.
        """
        encoder = CallEncoder(self._function_pickles)
        calls: list[tuple[bytes | None, bytes | None, str | None]] = []
        cleanups: list[tuple[bytes | None, str | None]] = []
        for exp in experiments:
            try:
                digest, arguments = encoder.encode(exp)
            except PickleTooLarge as exc:
                calls.append((None, None, f"the call is too large for the journal ({exc})"))
            except Exception as exc:
                calls.append((None, None, f"the call cannot be pickled ({describe_error(exc)})"))
            else:
                calls.append((digest, arguments, None))
            cleanup = exp.cleanup
            if cleanup is None:
                cleanups.append((None, None))
                continue
            try:
                cleanups.append((encoder.function_digest(cleanup), None))
            except Exception as exc:
                cleanups.append((None, describe_error(exc)))
        try:
            link_rows, chain_rows = _chain_rows(experiments) if self._has_chains else ([], [])
        except Exception as exc:  # a retry_on that cannot be pickled: record_added raises it
            link_rows, chain_rows = exc, []
        return EncodedCalls(calls, encoder.functions, cleanups, link_rows, chain_rows)

    def record_added(self, experiments: list[Experiment], encoded: EncodedCalls) -> None:
        """Store experiments appended to the queue (their calls ``encoded`` by
        :meth:`prepare_added`), in one transaction.

        A call that could not be encoded is still recorded (title and all, without the
        call): the experiment gets ``stored=False`` and ``store_error``, and one
        warning is logged for it. A cleanup that could not be pickled is left out,
        with a warning: it runs in this session, not after a crash.
        """
        link_rows, chain_rows = encoded.link_rows, encoded.chain_rows
        if isinstance(link_rows, Exception):
            raise link_rows
        rows = []
        unstored: list[tuple[Experiment, str]] = []
        unstored_cleanups: list[tuple[Experiment, str]] = []
        seq, position = self._next_seq, self._last_position
        for exp, (digest, arguments, error), (cleanup_digest, cleanup_error) in zip(
            experiments, encoded.calls, encoded.cleanups, strict=True
        ):
            title = exp._title
            if error is not None:
                title = exp.title
                unstored.append((exp, error))
            if cleanup_error is not None:
                unstored_cleanups.append((exp, cleanup_error))
            position += 1.0
            rows.append(
                (
                    seq,
                    exp.id,
                    ExpStatus.QUEUED.value,
                    position,
                    title,
                    exp.func_name,
                    digest,
                    arguments,
                    error,
                    exp.requeued_from,
                    exp.queued_at,
                    None if exp.lane == INSTRUMENT_LANE else exp.lane,
                    exp.group_id,
                    cleanup_digest,
                )
            )
            seq += 1
        with self._lock:  # a purge() on another thread must not delete a function between check and insert
            functions = [item for item in encoded.functions.items() if item[0] not in self._stored_functions]
            if len(rows) == 1 and not functions and not chain_rows:  # the common single put: no BEGIN/COMMIT
                self._write("queue an experiment", _INSERT_EXPERIMENT, rows[0])
            else:
                with self._transaction(f"queue {len(rows)} experiment(s)") as conn:
                    conn.executemany("INSERT OR IGNORE INTO functions (digest, pickle) VALUES (?, ?)", functions)
                    conn.executemany(_INSERT_EXPERIMENT, rows)
                    if chain_rows:
                        conn.executemany(_INSERT_LINK, link_rows)
                        conn.executemany(_INSERT_CHAIN, chain_rows)
            self._stored_functions.update(digest for digest, _ in functions)
        self._next_seq, self._last_position = seq, position
        for exp, row in zip(experiments, rows, strict=True):
            self._seqs[exp.id] = row[0]
            self._positions[exp.id] = row[3]
            exp.stored, exp.store_error = row[6] is not None, row[8]
        for exp, error in unstored:
            logger.warning(
                "%s will run, but its call is not stored in the journal, so it cannot run again after a restart: %s",
                exp.title,
                error,
            )
        for exp, error in unstored_cleanups:
            logger.warning(
                "The cleanup of %s cannot be stored in the journal (%s): it runs in this session, "
                "but it will not run after a crash.",
                exp.title,
                error,
            )

    def record_started(self, experiment: Experiment) -> None:
        """Store RUNNING (before the call starts)."""
        self._write(
            "mark an experiment running",
            "UPDATE experiments SET status = ?, started_at = ? WHERE seq = ?",
            (ExpStatus.RUNNING.value, experiment.started_at, self._seqs[experiment.id]),
        )
        self._positions.pop(experiment.id, None)

    def prepare_outcome(self, experiment: Experiment, result: Any, exception: BaseException | None) -> EncodedOutcome:
        """Pickle the result (or keep its repr), the exception and the log lines, and
        bound the traceback text, before the queue's locks are taken: a big result must
        not hold up the window or other threads. The call has returned, so the
        experiment's log is complete. Never raises."""
        return EncodedOutcome(
            *encode_result(result),
            encode_exception(exception),
            bounded_traceback(experiment.traceback),
            encode_log(experiment.log_records),
            _series_rows(experiment),
        )

    def record_finished(self, experiment: Experiment, status: ExpStatus, outcome: EncodedOutcome) -> None:
        """Store the outcome: status, result (its repr when it cannot be stored, and why
        in ``store_error``), exception, traceback, progress, captured log lines, time
        paused and the published series."""
        result_data, result_repr, result_error, exception_data, traceback_text, log_lines, series = outcome
        fraction, message = experiment.progress
        values = [
            status.value,
            self._next_history,
            experiment._title,
            experiment.finished_at,
            fraction,
            message,
            result_data,
            result_repr,
            int(result_error is None),
            exception_data,
            traceback_text,
            log_lines,
            experiment.paused_seconds,
        ]
        sql = _STORE_OUTCOME
        store_error = experiment.store_error
        if result_error is not None:  # rare: only then is store_error written again
            store_error = store_error or f"the result was not stored ({result_error})"
            sql = _STORE_OUTCOME_AND_ERROR
            values.append(store_error)
        values.append(self._seqs[experiment.id])
        if not series:  # the common case: one statement, no BEGIN/COMMIT
            self._write("store an outcome", sql, values)
        else:
            with self._transaction("store an outcome and its data") as conn:
                conn.execute(sql, values)
                conn.executemany(_INSERT_SERIES, series)
        del self._seqs[experiment.id]  # only once written: a failed write can be told apart
        self._next_history += 1
        if result_error is not None:
            experiment.store_error = store_error
            logger.warning(
                "The result of %s cannot be stored in the journal (%s); its repr is kept instead.",
                experiment.title,
                result_error,
            )

    def record_cancelled(self, experiments: list[Experiment], finished_at: float) -> None:
        """Store queued experiments as CANCELLED at ``finished_at``, at the end of the
        history, in one transaction."""
        self._append_to_history(
            ExpStatus.CANCELLED,
            [(exp._title, finished_at, self._seqs[exp.id]) for exp in experiments],
            f"cancel {len(experiments)} experiment(s)",
        )
        reasons = [(exp.id, exp.cancel_reason) for exp in experiments if exp.cancel_reason]
        if reasons and self._has_chains:
            with self._transaction("store why experiments were cancelled") as conn:
                conn.executemany(
                    "INSERT INTO experiment_chain (experiment_id, cancel_reason) VALUES (?, ?) "
                    "ON CONFLICT (experiment_id) DO UPDATE SET cancel_reason = excluded.cancel_reason",
                    reasons,
                )
        for exp in experiments:
            del self._seqs[exp.id]
            del self._positions[exp.id]

    def record_moved(self, experiment: Experiment, queued: list[Experiment]) -> None:
        """Store the new place of ``experiment`` in ``queued`` (the order after the move).

        Positions are sparse, so this rewrites one row; only when two neighbours'
        positions get too close to split does it renumber the whole queue.
        """
        index = queued.index(experiment)
        before = self._positions[queued[index - 1].id] if index > 0 else None
        after = self._positions[queued[index + 1].id] if index + 1 < len(queued) else None
        if before is None and after is None:
            return
        if before is None:
            position = after - 1.0
        elif after is None:
            position = before + 1.0
        else:
            position = (before + after) / 2
            if not before < position < after:
                self._renumber(queued)
                return
        self._write(
            "move an experiment",
            "UPDATE experiments SET queue_position = ? WHERE seq = ?",
            (position, self._seqs[experiment.id]),
        )
        self._positions[experiment.id] = position
        self._last_position = max(self._last_position, position)

    def _renumber(self, queued: list[Experiment]) -> None:
        start = self._last_position
        rows = [(start + i + 1.0, self._seqs[exp.id]) for i, exp in enumerate(queued)]
        with self._transaction("reorder the queue") as conn:
            conn.executemany("UPDATE experiments SET queue_position = ? WHERE seq = ?", rows)
        for exp, (position, _) in zip(queued, rows, strict=True):
            self._positions[exp.id] = position
        self._last_position = rows[-1][0]

    def record_progress(self, experiment: Experiment) -> None:
        """Store the progress of a running job, at most once per :data:`PROGRESS_INTERVAL_S`
        (the last one is stored with the outcome anyway)."""
        now = time.monotonic()
        seq = self._seqs.get(experiment.id)
        if seq is None or now < self._progress_due:
            return
        self._progress_due = now + PROGRESS_INTERVAL_S
        fraction, message = experiment.progress
        self._write(
            "store progress",
            "UPDATE experiments SET progress_fraction = ?, progress_message = ? WHERE seq = ?",
            (fraction, message, seq),
        )

    # -- reading back ------------------------------------------------------------------

    def restore(self) -> Restored:
        """Read the journal back at start.

        Queued experiments come back QUEUED in their order; one found RUNNING becomes
        INTERRUPTED (written back at once, at the end of the history). Experiments
        keep their ids; ended ones read their outcome from the journal on first use.
        A call that cannot be loaded any more (a module that is gone) comes back with
        ``stored=False``, a ``store_error`` saying why, and a call that raises
        :class:`~core.journal.CallNotStored`; a warning is logged.
        """
        with _collector_paused():
            return self._restore()

    def _restore(self) -> Restored:
        with self._lock:
            conn = self._connection("read the queue")
            history_keys = self._keys(
                conn,
                "SELECT seq FROM experiments WHERE history_order IS NOT NULL ORDER BY history_order DESC LIMIT ?",
                (RESTORED_HISTORY,),
            )
            history_keys.reverse()
            running_keys = self._keys(
                conn, "SELECT seq FROM experiments WHERE status = ? ORDER BY seq", (ExpStatus.RUNNING.value,)
            )
            queued_keys = self._keys(
                conn,
                "SELECT seq FROM experiments WHERE status = ? ORDER BY queue_position, seq",
                (ExpStatus.QUEUED.value,),
            )
            history_rows, running_rows, queued_rows = (
                self._rows(conn, keys) for keys in (history_keys, running_keys, queued_keys)
            )
        builder = _ExperimentBuilder(self)
        restored = Restored(
            history=[builder.build(row) for row in history_rows],
            interrupted=[builder.build(row) for row in running_rows],
            queued=[builder.build(row) for row in queued_rows],
            groups=self.groups(),
        )
        self._store_interrupted(list(zip(restored.interrupted, running_keys, strict=True)))
        if self._has_chains:
            self._restore_chains(restored)
        for exp, row in zip(restored.queued, queued_rows, strict=True):
            self._seqs[exp.id] = row[0]
            self._positions[exp.id] = row[3]
        builder.warn_unloadable()
        return restored

    @staticmethod
    def _keys(conn: sqlite3.Connection, sql: str, params: tuple | list) -> list[int]:
        """The row keys a query selects, in its order. Queries that sort select the keys
        alone, so SQLite never sorts the rows' blobs with them."""
        return [seq for (seq,) in conn.execute(sql, params)]

    @staticmethod
    def _rows(conn: sqlite3.Connection, keys: list[int]) -> list[tuple]:
        """The rows (:data:`_COLUMNS`) with these keys, in the order of ``keys``."""
        found: dict[int, tuple] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            for row in conn.execute(f"SELECT {_COLUMNS} FROM experiments WHERE seq IN ({marks})", chunk):
                found[row[0]] = row
        return [found[seq] for seq in keys]

    def _restore_chains(self, restored: Restored) -> None:
        """Give restored experiments their retry state, cancel reasons and links, and
        make the queued ones wait again as before the restart.

        A link names the upstream as it was linked; when that one was requeued (a
        retry, or by hand after it was interrupted), the newest copy is the upstream.
        """
        everyone = [*restored.history, *restored.interrupted, *restored.queued]
        by_id = {exp.id: exp for exp in everyone}
        with self._lock:
            conn = self._connection("read the chains")
            chain_rows = conn.execute(
                "SELECT experiment_id, attempt, retries, retry_delay, retry_on, not_before, study_id, cancel_reason "
                "FROM experiment_chain"
            ).fetchall()
            link_rows = conn.execute(
                "SELECT downstream_id, upstream_id, feed_position, feed_name, on_failure FROM experiment_links "
                "ORDER BY downstream_id, place"
            ).fetchall()
        for exp_id, attempt, retries, delay, retry_on, not_before, study_id, reason in chain_rows:
            exp = by_id.get(exp_id)
            if exp is None:
                continue
            exp.attempt, exp.not_before, exp.study_id, exp.cancel_reason = attempt, not_before, study_id, reason
            if retries:
                exp.retry = RetryPolicy(retries, delay or 0.0, load_pickle(retry_on))
        for earlier in everyone:
            repeated = by_id.get(earlier.requeued_from) if earlier.requeued_from else None
            if repeated is not None:
                repeated.repeated_by = earlier
        links: dict[str, list[Link]] = {}
        for downstream_id, upstream_id, position, name, on_failure in link_rows:
            if downstream_id not in by_id:
                continue
            upstream = by_id.get(upstream_id) or self.load(upstream_id)
            if upstream is None:
                logger.warning("An upstream of a queued experiment is gone from the journal (%s).", upstream_id)
                continue
            feed = position if position is not None else name
            links.setdefault(downstream_id, []).append(Link(upstream, feed, on_failure))
        for exp in restored.queued:
            if exp.retry is not None:
                watch_retries(exp)
            if exp.id in links:
                attach_links(exp, links.pop(exp.id))
        for exp_id, ended_links in links.items():  # kept so that a requeued copy is fed as the original was
            by_id[exp_id].links = tuple(ended_links)

    def _store_interrupted(self, experiments: list[tuple[Experiment, int]]) -> None:
        if not experiments:
            return
        self._append_to_history(
            ExpStatus.INTERRUPTED,
            [(exp.title, exp.finished_at, seq) for exp, seq in experiments],
            "mark the interrupted experiment",
        )

    def _append_to_history(self, status: ExpStatus, rows: list[tuple], action: str) -> None:
        """Give rows ``(title, finished_at, seq)`` ``status`` and the next places in the
        history, in one transaction."""
        order = self._next_history
        numbered = [(status.value, order + i, title, finished, seq) for i, (title, finished, seq) in enumerate(rows)]
        with self._transaction(action) as conn:
            conn.executemany(
                "UPDATE experiments SET status = ?, history_order = ?, title = ?, finished_at = ? WHERE seq = ?",
                numbered,
            )
        self._next_history += len(numbered)

    def find(self, criteria: HistoryFilter, known: Callable[[str], Experiment | None]) -> list[Experiment]:
        """The ended experiments that match ``criteria``, in history order.

        ``known(id)`` gives the experiment if the caller already holds it (the
        running queue), so that one comes back instead of a copy read from the file.
        """
        where, params = ["history_order IS NOT NULL"], []
        if criteria.statuses is not None:
            where.append(f"status IN ({', '.join('?' * len(criteria.statuses))})")
            params += [s.value for s in criteria.statuses]
        if criteria.since is not None:
            where.append("finished_at >= ?")
            params.append(criteria.since)
        if criteria.until is not None:
            where.append("finished_at < ?")
            params.append(criteria.until)
        if criteria.title_contains is not None:
            # A title not yet stored is made from the call below.
            where.append("(title IS NULL OR contains_text(title, ?))")
            params.append(criteria.title_contains)
        sql = f"SELECT seq FROM experiments WHERE {' AND '.join(where)} ORDER BY history_order DESC"
        if criteria.limit is not None and criteria.title_contains is None:
            sql += " LIMIT ?"
            params.append(criteria.limit)
        with self._lock:
            conn = self._connection("search the history")
            rows = self._rows(conn, self._keys(conn, sql, params))
        rows.reverse()
        builder = _ExperimentBuilder(self)
        found = [known(row[1]) or builder.build(row) for row in rows]
        if criteria.title_contains is not None:  # SQL has matched the stored titles already
            found = [
                exp for exp, row in zip(found, rows, strict=True) if row[4] is not None or criteria.matches_title(exp)
            ]
        return criteria.most_recent(found)

    def load(self, experiment_id: str) -> Experiment | None:
        """The experiment with this id as stored (a new object, its outcome read on
        first use), or None."""
        with self._lock:
            row = (
                self._connection("read an experiment")
                .execute(f"SELECT {_COLUMNS} FROM experiments WHERE id = ?", (experiment_id,))
                .fetchone()
            )
        return None if row is None else _ExperimentBuilder(self).build(row)

    def purge(self, older_than: float) -> int:
        """Delete ended experiments that finished before ``older_than`` (POSIX seconds),
        and the stored functions no experiment uses any more; returns how many
        experiments were deleted."""
        with self._transaction("purge old history") as conn:
            deleted = conn.execute(
                "DELETE FROM experiments WHERE history_order IS NOT NULL AND finished_at < ?", (older_than,)
            ).rowcount
            conn.execute(
                "DELETE FROM functions WHERE digest NOT IN "
                "(SELECT func_digest FROM experiments WHERE func_digest IS NOT NULL "
                "UNION SELECT cleanup_digest FROM experiments WHERE cleanup_digest IS NOT NULL)"
            )
            conn.execute(
                "DELETE FROM groups WHERE id NOT IN (SELECT group_id FROM experiments WHERE group_id IS NOT NULL)"
            )
            conn.execute("DELETE FROM series WHERE experiment_id NOT IN (SELECT id FROM experiments)")
            self._stored_functions.clear()
        return deleted

    def load_series(self, experiment_id: str) -> PublishedData | None:
        """The series the experiment published, as stored with its outcome, or None."""
        with self._lock:
            rows = (
                self._connection("read published data")
                .execute(
                    "SELECT name, x_label, y_label, x_units, y_units, x, y FROM series "
                    "WHERE experiment_id = ? ORDER BY position",
                    (experiment_id,),
                )
                .fetchall()
            )
        if not rows:
            return None
        data = PublishedData()
        for name, x_label, y_label, x_units, y_units, x, y in rows:
            series = Series(name, _floats(x), _floats(y), x_label, y_label, x_units, y_units)
            data.series[name] = series
            data.points += len(series.y)
        return data

    def _read_outcome(self, seq: int, experiment: Experiment) -> StoredOutcome:
        """The stored outcome of the ended experiment in row ``seq`` (what its
        ``result()`` needs on first use). Never raises: an outcome that cannot be read
        (the journal closed, the row purged, a pickle that does not load) comes back
        as placeholders saying why, and in the experiment's ``store_error``."""
        try:
            with self._lock:
                row = (
                    self._connection("read an outcome")
                    .execute(f"SELECT {_OUTCOME_COLUMNS} FROM experiments WHERE seq = ?", (seq,))
                    .fetchone()
                )
        except (JournalError, sqlite3.Error) as exc:
            reason = str(exc)
        else:
            reason = "it is no longer in the journal" if row is None else None
        if reason is not None:
            experiment.store_error = experiment.store_error or f"the stored outcome cannot be read ({reason})"
            return StoredOutcome(
                ResultNotStored(f"<result that cannot be read: {reason}>"),
                StoredFailure(f"{experiment.title} ended in an earlier session; its outcome cannot be read: {reason}"),
                None,
                [],
            )
        result, result_repr, result_pickled, exception, traceback_text, log_lines = row
        try:
            value = load_result(result, None if result_pickled else result_repr)
        except Exception as exc:
            why = describe_error(exc)
            value = ResultNotStored(f"<result that cannot be loaded: {why}>")
            experiment.store_error = experiment.store_error or f"the stored result cannot be loaded ({why})"
        failure = load_exception(exception, traceback_text, experiment.title)
        return StoredOutcome(value, failure, traceback_text, decode_log(log_lines))

    # -- groups (sweeps) ---------------------------------------------------------------

    def record_group(self, group_id: str, title: str, created_at: float, details: dict) -> None:
        """Store a group of experiments (a sweep): its title, when it was made, its
        settings (JSON-serialisable). Storing an id again replaces its record."""
        self._write(
            "store a sweep",
            "INSERT OR REPLACE INTO groups (id, title, created_at, details) VALUES (?, ?, ?, ?)",
            (group_id, title, created_at, json.dumps(details)),
        )

    def groups(self) -> list[tuple[str, str, float, dict]]:
        """Every stored group as ``(id, title, created_at, details)``, oldest first."""
        with self._lock:
            rows = (
                self._connection("read the sweeps")
                .execute("SELECT id, title, created_at, details FROM groups ORDER BY created_at")
                .fetchall()
            )
        return [(group_id, title, created, json.loads(details or "{}")) for group_id, title, created, details in rows]

    def _function_pickle(self, digest: bytes) -> bytes | None:
        with self._lock:
            row = (
                self._connection("read a stored function")
                .execute("SELECT pickle FROM functions WHERE digest = ?", (digest,))
                .fetchone()
            )
        return None if row is None else row[0]


def _series_rows(experiment: Experiment) -> list[tuple]:
    """Rows for the series table: each series' values as little-endian float64 bytes."""
    data = experiment.published
    if data is None:
        return []
    rows = []
    for position, series in enumerate(list(data.series.values())):
        x, y = series.points()
        rows.append(
            (
                experiment.id,
                position,
                series.name,
                series.x_label,
                series.y_label,
                series.x_units,
                series.y_units,
                _little_endian(x),
                _little_endian(y),
            )
        )
    return rows


def _little_endian(values: array) -> bytes:
    if sys.byteorder == "big":
        values = array("d", values)
        values.byteswap()
    return values.tobytes()


def _floats(data: bytes) -> array:
    values = array("d", data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


_STATUSES = {status.value: status for status in ExpStatus}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (when it is on): while a journal's worth
    of experiments is built, none is garbage, yet the allocations would trigger
    collections that walk every object made so far (40% of a 100,000 restore)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _ExperimentBuilder:
    """Makes Experiments from journal rows, loading each stored function once."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._functions: dict[bytes, Any] = {}
        self.unloadable: list[Experiment] = []
        self._no_arguments: bytes | None = None  # the stored form of a call without arguments

    def _function(self, digest: bytes) -> Any:
        if digest not in self._functions:
            data = self._journal._function_pickle(digest)
            if data is None:
                raise LookupError("its function is missing from the journal")
            self._functions[digest] = load_pickle(data)
        return self._functions[digest]

    def build(self, row: tuple) -> Experiment:
        (
            seq,
            exp_id,
            status_value,
            _,
            title,
            func_name,
            digest,
            arguments,
            store_error,
            requeued_from,
            queued_at,
            started_at,
            finished_at,
            fraction,
            message,
            lane,
            group_id,
            cleanup_digest,
            paused_seconds,
        ) = row
        func, args, kwargs = None, (), {}
        if digest is not None:
            try:
                func = self._function(digest)
                args, kwargs = self._arguments(arguments)
            except Exception as exc:
                store_error = f"the stored call cannot be loaded ({describe_error(exc)})"
                func = None
        unloadable = func is None
        if unloadable:
            func = unavailable_call(f"{title or func_name}: {store_error}")
            title = title or f"{func_name}(...)"
        exp = Experiment(func, args, kwargs, title=title, lane=lane or INSTRUMENT_LANE, group_id=group_id)
        exp.id = exp_id
        status = _STATUSES[status_value]
        if cleanup_digest is not None and status in (ExpStatus.QUEUED, ExpStatus.RUNNING):  # it may still run
            exp.cleanup = self._cleanup(cleanup_digest, exp)
        exp.stored = not unloadable
        # Only what differs from the class defaults: a restored queue is kept small too.
        if store_error is not None:
            exp.store_error = store_error
        if requeued_from is not None:
            exp.requeued_from = requeued_from
        if status is ExpStatus.CANCELLED:
            exp._complete_cancelled()
        elif status is ExpStatus.RUNNING:
            exp._complete(ExpStatus.INTERRUPTED)  # its finish time: when it was found interrupted
            finished_at = exp.finished_at
        elif status is ExpStatus.INTERRUPTED:
            exp._complete(status)  # it never produced an outcome to store
        elif status is not ExpStatus.QUEUED:
            exp._complete_later(status, functools.partial(self._journal._read_outcome, seq))
        elif unloadable:
            self.unloadable.append(exp)
        exp.queued_at, exp.started_at, exp.finished_at = queued_at, started_at, finished_at
        if paused_seconds:
            exp.paused_seconds = paused_seconds
        if fraction is not None or message:
            exp.progress = (fraction, message or "")
        return exp

    def _arguments(self, data: bytes) -> tuple[tuple, dict]:
        """The arguments of a stored call; a call without any (the common case in a long
        queue) is unpickled once, and each gets a dict of its own."""
        if data == self._no_arguments:
            return (), {}
        args, kwargs = load_pickle(data)
        if not args and not kwargs:
            self._no_arguments = data
        return args, kwargs

    def _cleanup(self, digest: bytes, exp: Experiment) -> Any:
        try:
            cleanup = self._function(digest)
        except Exception as exc:
            logger.warning(
                "The cleanup of %s cannot be loaded from the journal (%s); it will not run.",
                exp.title,
                describe_error(exc),
            )
            return None
        return cleanup

    def warn_unloadable(self) -> None:
        for exp in self.unloadable:
            logger.warning("%s was queued, but cannot run after the restart: %s", exp.title, exp.store_error)
