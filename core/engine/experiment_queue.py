"""ExperimentQueue: the ordered record of queued, running and finished experiments.

State lives under one lock, held only for short in-memory steps: reading the queue
(:meth:`~ExperimentQueue.snapshot`, ``qsize``, ...) never waits for pickling or for
SQLite. Every change takes a second lock, the journal order, for its whole length:
it checks what it may do (nothing else changes the queue meanwhile), the store
writes while only that lock is held, and the change is applied under the first one
after, so the journal sees every change in the order the queue makes them. Without
a store, the journal order is the lock itself. Futures complete and signals fire after both are
released, so a slow or raising subscriber can neither deadlock the queue nor see it
half-changed. Signals may fire on any thread.

Indices are CustomXepr's: positions in :attr:`ExperimentQueue.queue` (history,
running, queued; the experiments running on other lanes than the worker's follow
the worker's own). A cancelled experiment leaves that list; the queue keeps it among
the :attr:`~ExperimentQueue.ended` ones, which the window shows.
"""

from __future__ import annotations

import logging
import queue as std_queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, NamedTuple, Protocol

from psygnal import Signal

from .chains import apply_failure_policies, held_by
from .experiment import INSTRUMENT_LANE, PENDING, REQUEUEABLE, Experiment, ExpStatus, refuse_generator_function
from .locks import YieldingRLock
from .signal_queue import absolute_index
from .signals import emit_safely

__all__ = ["ExperimentQueue", "QueueClosed", "QueueSnapshot", "QueueStore"]

logger = logging.getLogger("labqueue")


def _nothing() -> None:
    pass


#: A put_many at least this big goes through the waiter (see ExperimentQueue.set_waiter):
#: smaller ones are written in well under a frame.
WAITED_PUT = 2000

_EXIT_STATUSES = frozenset({ExpStatus.FINISHED, ExpStatus.FAILED, ExpStatus.ABORTED, ExpStatus.INTERRUPTED})


class QueueClosed(RuntimeError):
    """Raised by every change of a closed queue (its manager was shut down: nothing
    would run what it holds). The message names what was refused and why."""


class QueueStore(Protocol):
    """Where a queue writes its changes so they survive the process (the journal).

    The ``prepare_*`` methods encode (pickle) outside every lock of the queue and
    never raise. The ``record_*`` methods are called in the order of the changes,
    under the queue's journal-order lock but never under the lock its readers take,
    and must have made the change durable when they return. A method that raises
    leaves the queue unchanged (a failed write of RUNNING or of an outcome is logged
    and the run goes on in memory).
    """

    def prepare_added(self, experiments: list[Experiment]) -> Any:
        """Encode new experiments for :meth:`record_added` (the calls are pickled here)."""

    def record_added(self, experiments: list[Experiment], encoded: Any) -> None:
        """New experiments (``encoded`` by :meth:`prepare_added`), appended after the queued ones."""

    def record_started(self, experiment: Experiment) -> None:
        """The experiment is RUNNING; called before its call starts."""

    def prepare_outcome(self, experiment: Experiment, result: Any, exception: BaseException | None) -> Any:
        """Encode the outcome of a call that has returned, for :meth:`record_finished`."""

    def record_finished(self, experiment: Experiment, status: ExpStatus, outcome: Any) -> None:
        """The outcome (from :meth:`prepare_outcome`); called before the future completes."""

    def record_cancelled(self, experiments: list[Experiment], finished_at: float) -> None:
        """Queued experiments removed at ``finished_at``: CANCELLED, appended to the history in this order."""

    def record_moved(self, experiment: Experiment, queued: list[Experiment]) -> None:
        """A queued experiment moved; ``queued`` is the queued order after the move."""


class QueueSnapshot(NamedTuple):
    """Every experiment of the queue at one instant, as the window shows them.

    ``experiments`` are the ended ones (cancelled included, in the order they ended),
    the running ones and the queued ones; :attr:`ExperimentQueue.queue` is the same
    without the cancelled ones. ``running`` is the worker's experiment;
    ``lane_running`` the ones running on other lanes at the same time (they follow it
    in ``experiments``).
    """

    experiments: list[Experiment]
    ended_size: int
    running: Experiment | None
    lane_running: tuple[Experiment, ...] = ()

    @property
    def first_queued(self) -> int:
        """Index in ``experiments`` of the next queued experiment (or the length, if none)."""
        return self.ended_size + (self.running is not None) + len(self.lane_running)


class ExperimentQueue:
    """Queue of all experiments: finished (history), running and queued, in that order.

    Signals (psygnal; slots may take fewer arguments than are sent):

    * ``added_signal(index, experiment)``: an experiment was put at ``index``.
    * ``removed_signal(i_start, n_items, experiments)``: the queued experiments from
      ``i_start`` on were removed (or cleared): they are CANCELLED and out of
      :attr:`queue`. Once per call of :meth:`remove_items` and :meth:`clear`; once
      per run of neighbours for :meth:`remove`, the highest first.
    * ``status_changed_signal(index, status, experiment)``: ``experiment`` at
      ``index`` changed to ``status``.
    * ``moved_signal(old_index, new_index, experiment)``: a queued experiment moved.
    * ``held_signal(group_id, held)``: the queued experiments of sweep ``group_id``
      were held (True) or released (False).

    Indices are positions in :attr:`queue` at the moment of the change and go stale
    as soon as another thread changes the queue; key on the experiment (or its
    ``id``) instead.

    Lanes: the worker takes only experiments of the instrument lane
    (:meth:`wait_next_job`), one at a time; another lane takes its own, several at
    once, with :meth:`wait_next_lane_job` and completes each with :meth:`lane_job_done`.
    Each lane takes its experiments in queue order.
    """

    added_signal = Signal(int, object)
    removed_signal = Signal(int, int, object)
    status_changed_signal = Signal(int, object, object)
    moved_signal = Signal(int, int, object)
    held_signal = Signal(str, bool)

    def __init__(self, store: QueueStore | None = None, on_change: Callable[[], None] | None = None) -> None:
        """``store`` makes changes durable; ``on_change()`` is called (outside the lock)
        after every change, before the signals: the Manager uses it to track its state
        without paying for a signal slot per job."""
        self._lock = YieldingRLock()
        self._job_available = threading.Condition(self._lock.raw)
        # With nothing to write, changes are quick: the journal order is the lock itself.
        self._journal_order = YieldingRLock() if store is not None else self._lock
        self._history: list[Experiment] = []
        self._ended: list[Experiment] = []  # the history and the cancelled ones, in the order they ended
        self._running: Experiment | None = None
        self._lane_running: list[Experiment] = []  # running on lanes other than the worker's
        # Lanes other than the worker's wait here, each on its own condition, so that a
        # put for one lane, or the end of one of its runs, wakes only that lane's threads.
        self._lane_work: dict[str, threading.Condition] = {}
        # Counts the wake-ups of each lane: a lane that found nothing to start (under the
        # journal order) waits only if none came since it looked.
        self._lane_changes: dict[str, int] = {}
        self._queued: deque[Experiment] = deque()
        self._held_groups: frozenset[str] = frozenset()  # sweeps whose queued experiments wait
        # Queued experiments per lane other than the worker's, so that a lane with none
        # never scans a long queue of instrument jobs (a scan that finds none of its
        # lane sets it right), and per sweep on such a lane, so that a scan stops once
        # the sweeps it may not start from are all that is left.
        self._queued_in_lane: dict[str, int] = {}
        self._queued_in_group: Counter[tuple[str, str]] = Counter()
        self._by_id: dict[str, Experiment] = {}
        self._store = store
        self._on_change = on_change or _nothing
        self._closed_because: str | None = None
        self._idle_workers = 0
        self._waiter: tuple[threading.Thread, Callable[[Callable[[], None]], None]] | None = None

    # -- inspection --------------------------------------------------------------------

    @property
    def queue(self) -> list[Experiment]:
        """Snapshot of the experiments by index: history, running, queued, in that order
        (cancelled ones are not in it; see :attr:`ended`)."""
        with self._lock:
            return [*self._history, *self._running_list(), *self._queued]

    def snapshot(self) -> QueueSnapshot:
        """Every experiment, cancelled ones among the ended, taken under one lock."""
        with self._lock:
            return self._snapshot_locked()

    def snapshot_if_free(self) -> QueueSnapshot | None:
        """:meth:`snapshot`, or None at once if another thread holds the queue's lock:
        a window asks again next frame instead of waiting for it."""
        if not self._lock.try_acquire():
            return None
        try:
            return self._snapshot_locked()
        finally:
            self._lock.release()

    def _snapshot_locked(self) -> QueueSnapshot:
        return QueueSnapshot(
            [*self._ended, *self._running_list(), *self._queued],
            len(self._ended),
            self._running,
            tuple(self._lane_running),
        )

    def _running_list(self) -> list[Experiment]:
        """Under the lock: the worker's experiment (if any), then the other lanes'."""
        running = [self._running] if self._running is not None else []
        return running + self._lane_running if self._lane_running else running

    @property
    def queued(self) -> list[Experiment]:
        """Snapshot of the queued experiments, next first."""
        with self._lock:
            return list(self._queued)

    @property
    def running_experiment(self) -> Experiment | None:
        """The experiment running on the worker (the instrument lane), or None."""
        return self._running

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: changes are refused (QueueClosed), and
        nothing queued will run in this process (it stays queued in the journal for next time)."""
        return self._closed_because is not None

    @property
    def running_experiments(self) -> list[Experiment]:
        """Every running experiment: the worker's first, then the other lanes' in the order they started."""
        with self._lock:
            return self._running_list()

    @property
    def history(self) -> list[Experiment]:
        """Snapshot of the finished, failed, aborted and interrupted ones (the first
        part of :attr:`queue`)."""
        with self._lock:
            return list(self._history)

    @property
    def ended(self) -> list[Experiment]:
        """Snapshot of the history and the cancelled experiments, in the order they ended."""
        with self._lock:
            return list(self._ended)

    def has_queued(self) -> bool:
        """True if any experiment is queued (lock-free: one atomic read)."""
        return bool(self._queued)

    def has_running(self) -> bool:
        """True if an experiment runs on any lane (lock-free: two atomic reads)."""
        return self._running is not None or bool(self._lane_running)

    @property
    def has_lane_running(self) -> bool:
        """True if an experiment runs on a lane other than the worker's (lock-free)."""
        return bool(self._lane_running)

    def has_history(self) -> bool:
        """True if any experiment ended here (cancelled ones aside)."""
        return bool(self._history)

    @property
    def has_work(self) -> bool:
        """True if a queued experiment can start, now or later, without anyone acting:
        one held back by an interrupted upstream (see :func:`~core.engine.chains.held_by`)
        or by its paused sweep waits for a human, so it is not work the queue will get to."""
        if not self._queued:
            return False
        with self._lock:
            held_groups = self._held_groups
            return any(held_by(exp) is None and exp.group_id not in held_groups for exp in self._queued)

    def waiting_for_someone(self) -> list[tuple[Experiment, str]] | None:
        """Each queued experiment with why it waits for a human (an interrupted or never
        queued upstream, or its sweep is held), or None as soon as one of them can start,
        now or later, without anyone acting."""
        with self._lock:
            queued = list(self._queued)
            held_groups = self._held_groups
        waiting = []
        for exp in queued:
            if exp.group_id is not None and exp.group_id in held_groups:
                waiting.append((exp, "its sweep is paused"))
                continue
            upstream = held_by(exp)
            if upstream is None:
                return None
            if upstream.status is ExpStatus.INTERRUPTED:
                waiting.append((exp, f"its upstream {upstream.title} was interrupted: requeue it"))
            else:
                waiting.append((exp, f"its upstream {upstream.title} was never queued"))
        return waiting

    def first_queued_index(self) -> int:
        """Index in :attr:`queue` of the next queued experiment (the length, if none)."""
        with self._lock:
            return self._first_queued_index

    def qsize(self, status: str | None = None) -> int:
        """Exact number of experiments that are 'queued', 'running' (on any lane), in
        'history', or all of :attr:`queue` (None). ValueError for another status."""
        with self._lock:
            if status is None:
                return self._first_queued_index + len(self._queued)
            if status == "queued":
                return len(self._queued)
            if status == "running":
                return int(self._running is not None) + len(self._lane_running)
            if status == "history":
                return len(self._history)
        raise ValueError(f"status must be 'queued', 'running', 'history' or None, not {status!r}")

    def __len__(self) -> int:
        return self.qsize()

    def get(self, experiment_id: str) -> Experiment:
        """The experiment with this id (cancelled ones too); KeyError if the queue never held it."""
        with self._lock:
            return self._by_id[experiment_id]

    def __contains__(self, experiment: object) -> bool:
        return isinstance(experiment, Experiment) and self._by_id.get(experiment.id) is experiment

    def index(self, experiment: Experiment) -> int:
        """Current index of ``experiment`` in :attr:`queue`; ValueError if it is not
        there (never queued here, or cancelled)."""
        with self._lock:
            return self._index_of(experiment)

    def _index_of(self, experiment: Experiment) -> int:
        if self._by_id.get(experiment.id) is not experiment:
            raise ValueError(f"{experiment!r} is not in this queue")
        if experiment is self._running:
            return len(self._history)
        if self._lane_running and experiment in self._lane_running:
            return len(self._history) + (self._running is not None) + self._lane_running.index(experiment)
        if experiment.status is ExpStatus.QUEUED:
            return self._first_queued_index + self._queued.index(experiment)
        if experiment.status is ExpStatus.CANCELLED:
            raise ValueError(f"{experiment!r} was cancelled; it is no longer in the queue")
        return self._history.index(experiment)

    @property
    def _first_queued_index(self) -> int:
        return len(self._history) + (self._running is not None) + len(self._lane_running)

    def _check_open(self, action: str) -> None:
        if self._closed_because is not None:
            self._refuse(action)

    def _refuse(self, action: str) -> None:
        raise QueueClosed(f"cannot {action}: {self._closed_because}")

    # -- adding ------------------------------------------------------------------------

    def put(self, exp: Experiment) -> None:
        """Add ``exp`` to the end of the queue. ValueError unless it is a new QUEUED
        experiment, QueueClosed once the queue is closed."""
        self.put_many([exp])

    def set_waiter(self, thread: threading.Thread | None, waiter: Callable[[Callable[[], None]], None] | None) -> None:
        """Make a big :meth:`put_many` from ``thread`` (the GUI thread) go through ``waiter``.

        ``waiter(put)`` must call ``put()`` to its end and return (or raise) what it
        did, but may run it on another thread while keeping ``thread`` responsive (a
        window's event loop): the put still returns only once it is done and on disk.
        None for both removes the waiter.
        """
        self._waiter = (thread, waiter) if thread is not None and waiter is not None else None

    def put_many(self, exps: Iterable[Experiment]) -> None:
        """Add several experiments in one step (one journal transaction).

        Raises TypeError for anything that is not an Experiment or whose function is a
        generator function, ValueError for an experiment that is not QUEUED or is
        already in a queue, QueueClosed once the queue is closed, and what the store
        raises (JournalError); then nothing is added.
        A batch of :data:`WAITED_PUT` or more from the thread given to :meth:`set_waiter`
        is put through its waiter (the signals then fire on the waiter's thread).
        """
        batch = list(exps)
        waiter = self._waiter
        if waiter is not None and len(batch) >= WAITED_PUT and waiter[0] is threading.current_thread():
            waiter[1](lambda: self._put_many(batch))
            return
        self._put_many(batch)

    def _put_many(self, batch: list[Experiment]) -> None:
        for exp in batch:
            if not isinstance(exp, Experiment):
                raise TypeError(f"only Experiment objects can be queued, got {type(exp).__name__}")
            refuse_generator_function(exp.func)
        if not batch:
            return
        store = self._store
        encoded = store.prepare_added(batch) if store is not None else None
        now = time.time()
        with self._journal_order:
            if self._closed_because is not None:
                self._refuse("queue")
            self._check_new(batch)
            for exp in batch:
                exp.queued_at = exp.queued_at or now
            if store is None:
                first = self._append(batch)
            else:
                store.record_added(batch, encoded)
                with self._lock:
                    first = self._append(batch)
        self._on_change()
        for offset, exp in enumerate(batch):
            emit_safely(self.added_signal, first + offset, exp)
        for exp in batch:
            if exp.links:
                # An upstream that ended before this put has no done-callback left to fire.
                apply_failure_policies(exp)

    def _append(self, batch: list[Experiment]) -> int:
        """Under the lock: queue ``batch`` after the queued ones; returns the index of the first."""
        first = self._first_queued_index + len(self._queued)
        for exp in batch:
            exp._queue = self
            self._by_id[exp.id] = exp
        self._queued.extend(batch)
        if self._idle_workers:
            self._job_available.notify()
        lanes = {exp.lane for exp in batch}
        lanes.discard(INSTRUMENT_LANE)
        if lanes:
            for exp in batch:
                if exp.lane != INSTRUMENT_LANE:
                    self._count_in_lane(exp, 1)
            self._notify_lanes(lanes)
        return first

    @staticmethod
    def _check_new(batch: list[Experiment]) -> None:
        seen: set[str] = set()
        for exp in batch:
            if exp._state != PENDING:
                raise ValueError(f"{exp!r} is {exp.status.name}; only QUEUED experiments can be put")
            if exp._queue is not None or exp.id in seen:
                raise ValueError(f"{exp!r} is already queued")
            seen.add(exp.id)

    def close(self, reason: str) -> None:
        """Refuse every later change with :class:`QueueClosed` naming ``reason``
        (nothing would run the experiments); no new job starts."""
        with self._lock:
            self._closed_because = reason

    def restore(self, ended: Iterable[Experiment], queued: Iterable[Experiment]) -> None:
        """Load experiments read back from a journal (the ended ones in the order they
        ended, cancelled included); nothing is written, no signal fires.

        Only valid on an empty queue, before any worker uses it.
        """
        with self._journal_order, self._lock:
            if self._by_id:
                raise RuntimeError("restore() needs an empty queue")
            for exp in ended:
                self._ended.append(exp)
                if exp.status is not ExpStatus.CANCELLED:
                    self._history.append(exp)
                self._by_id[exp.id] = exp
            for exp in queued:
                exp._queue = self
                self._queued.append(exp)
                self._by_id[exp.id] = exp
                if exp.lane != INSTRUMENT_LANE:
                    self._count_in_lane(exp, 1)

    # -- the worker's side -------------------------------------------------------------

    def get_next_job(self) -> Experiment:
        """Take the next queued experiment and mark it RUNNING; ``queue.Empty`` if none,
        QueueClosed once the queue is closed.

        RuntimeError if one is running already (call :meth:`job_done` first).
        """
        exp = self._take_next(block=False)
        if exp is None:
            raise std_queue.Empty
        return exp

    def wait_next_job(self, may_start: Any, should_stop: Any) -> Experiment | None:
        """Block until a job can start, then take it as :meth:`get_next_job` does.

        It waits while ``may_start()`` is false (paused), while nothing is queued that
        may start, while an experiment taken by another caller is running (until its
        :meth:`job_done`), and once the queue is closed. Returns None as soon as
        ``should_stop()`` is true. Both are checked under the lock whenever the queue
        is woken: put and job_done wake it, and whoever makes ``may_start()`` or
        ``should_stop()`` true must call :meth:`wake`.
        """
        return self._take_next(block=True, may_start=may_start, should_stop=should_stop)

    def _take_next(self, block: bool, may_start=None, should_stop=None) -> Experiment | None:
        while True:
            with self._journal_order:
                if should_stop is not None and should_stop():
                    return None
                if not block and self._running is not None:
                    raise RuntimeError(f"{self._running!r} is still running; call job_done() first")
                if not block and self._closed_because is not None:
                    self._refuse("take the next job")
                exp = self._startable_job(may_start)
                if exp is not None:
                    exp.started_at = time.time()
                    if self._store is None:
                        index = self._start(exp)
                    else:
                        self._record(self._store.record_started, exp)
                        with self._lock:
                            index = self._start(exp)
                    break
            if not block:
                return None
            self._wait_for_job(may_start, should_stop)
        # No on_change() here: a job can only start while the owner's state is already
        # "running" (something queued, not paused), so starting it changes nothing there.
        emit_safely(self.status_changed_signal, index, ExpStatus.RUNNING, exp)
        return exp

    def _startable_job(self, may_start) -> Experiment | None:
        """The worker's next job if one may start now, else None (under either lock)."""
        if self._running is not None or self._closed_because is not None:
            return None
        if may_start is not None and not may_start():
            return None
        return self._next_in_lane(INSTRUMENT_LANE)

    def _start(self, exp: Experiment) -> int:
        """Under the lock: ``exp``, a queued one of the worker's lane, is RUNNING; returns its index.

        The one record of what is running, set before anything says RUNNING: an abort
        from a slot on the emission that follows finds it."""
        self._running = exp
        self._take_queued(exp)
        return len(self._history)

    def _take_queued(self, exp: Experiment) -> None:
        """Under the lock: take ``exp`` out of the queued ones and mark it RUNNING (the
        caller has put it among the running)."""
        if exp.lane != INSTRUMENT_LANE:
            self._count_in_lane(exp, -1)
        if self._queued[0] is exp:
            self._queued.popleft()
        else:
            self._queued.remove(exp)
        exp.set_running_or_notify_cancel()

    def _wait_for_job(self, may_start, should_stop) -> None:
        """Wait until a job may start, or the worker must look at its conditions again.
        Waits with the journal order released (puts go on meanwhile); the conditions
        are checked under the lock first, so a change made since cannot be missed."""
        with self._lock:
            if should_stop is not None and should_stop():
                return
            if self._startable_job(may_start) is not None:
                return
            # Paused, only wake() ends the wait; otherwise put() and job_done() do too.
            startable = may_start is None or may_start()
            if startable:
                self._idle_workers += 1
            try:
                self._job_available.wait()
            finally:
                if startable:
                    self._idle_workers -= 1

    def _next_in_lane(self, lane: str, accept: Callable[[Experiment], bool] | None = None) -> Experiment | None:
        """The first queued experiment of ``lane`` that may start (its upstreams let it, its
        sweep is not held) and that ``accept`` takes, or None (under either lock).

        When ``accept`` refuses an experiment of a sweep, the sweep's others are not
        offered in the same look: what accept counts is a sweep's share of the slots,
        and asking again for each of a thousand queued runs cost every lane wake-up
        a thousand calls."""
        queued, held = self._queued, self._held_groups

        def startable(e: Experiment) -> bool:
            # may_start(): one waiting for its upstreams does not hold up the rest.
            return e.may_start() and e.group_id not in held and (accept is None or accept(e))

        if queued and queued[0].lane == lane and startable(queued[0]):  # the common case
            return queued[0]
        if lane == INSTRUMENT_LANE:
            if not self._queued_on_instrument_lane():  # a long sweep alone: no walk through it
                return None
            return next((e for e in queued if e.lane == lane and startable(e)), None)
        in_lane = self._queued_in_lane.get(lane)
        if not in_lane:
            return None
        by_group = self._queued_in_group
        # The lane's queued ones not looked at yet and not in a held or refused sweep:
        # the scan ends when none is left, not at the end of a long sweep it may not start from.
        left = in_lane - sum(by_group[lane, group] for group in held)
        refused: set[str] = set()
        looked_at: Counter[str] = Counter()
        seen = False
        for e in queued:
            if left <= 0:
                return None
            if e.lane != lane:
                continue
            seen = True
            group = e.group_id
            if group is not None and (group in refused or group in held):
                continue
            left -= 1
            if group is not None:
                looked_at[group] += 1
            if not e.may_start():
                continue
            if accept is None or accept(e):
                return e
            if group is not None:
                refused.add(group)
                left -= by_group[lane, group] - looked_at[group]
        if not seen:
            self._queued_in_lane[lane] = 0
        return None

    def _count_in_lane(self, exp: Experiment, change: int) -> None:
        """Under the lock: ``exp``, of a lane other than the worker's, joins (1) or leaves (-1) the queued ones."""
        self._queued_in_lane[exp.lane] = self._queued_in_lane.get(exp.lane, 0) + change
        if exp.group_id is not None:
            key = (exp.lane, exp.group_id)
            self._queued_in_group[key] += change
            if not self._queued_in_group[key]:
                del self._queued_in_group[key]

    def _queued_on_instrument_lane(self) -> int:
        """Under either lock: how many queued experiments are the worker's (the other
        lanes' are counted as they are put, taken and cancelled)."""
        return len(self._queued) - sum(self._queued_in_lane.values())

    # -- holding a sweep ---------------------------------------------------------------

    def hold_group(self, group_id: str) -> None:
        """Start none of the queued experiments of sweep ``group_id`` until :meth:`release_group`
        (running ones go on). The queue keeps it in memory; the Manager stores it with the sweep."""
        with self._lock:
            self._held_groups = self._held_groups | {group_id}
        emit_safely(self.held_signal, group_id, True)

    def release_group(self, group_id: str) -> None:
        """Let the queued experiments of sweep ``group_id`` start again."""
        with self._lock:
            self._held_groups = self._held_groups - {group_id}
            self._job_available.notify_all()
            self._notify_lanes()
        self._on_change()
        emit_safely(self.held_signal, group_id, False)

    def is_held(self, group_id: str) -> bool:
        return group_id in self._held_groups

    def _notify_lanes(self, lanes: Iterable[str] | None = None, *, one_of: str | None = None) -> None:
        """Under the lock: wake the threads of ``lanes`` (default: every lane) waiting in
        :meth:`wait_next_lane_job`, and one thread of lane ``one_of``."""
        for lane in tuple(self._lane_work) if lanes is None else lanes:  # a copy: lanes register unlocked
            self._lane_changes[lane] = self._lane_changes.get(lane, 0) + 1
            condition = self._lane_work.get(lane)
            if condition is not None:
                condition.notify_all()
        if one_of is not None:
            self._lane_changes[one_of] = self._lane_changes.get(one_of, 0) + 1
            condition = self._lane_work.get(one_of)
            if condition is not None:
                # Waking a thread costs a switch on a small machine, and one freed slot is
                # one start: the threads of a lane wait for the same thing.
                condition.notify()

    def _lanes_with_queued(self) -> list[str]:
        """Under the lock: the lanes with queued experiments (one may wait for a run that ended)."""
        return [lane for lane, count in self._queued_in_lane.items() if count]

    def _record(self, write: Callable[..., None], exp: Experiment, *details: Any) -> None:
        # A journal that cannot write a status change must not stop the lab: the run
        # goes on in memory and the error is logged where the scientist will see it.
        try:
            write(exp, *details)
        except Exception as exc:
            logger.error("Could not write the status of %s to the journal: %s", exp.title, exc)

    def wake(self) -> None:
        """Wake a worker blocked in :meth:`wait_next_job`, and lanes blocked in
        :meth:`wait_next_lane_job`, so they re-check their conditions."""
        with self._lock:
            self._job_available.notify_all()
            self._notify_lanes()

    def job_done(self, exit_status: ExpStatus, result: Any = None, *, exception: BaseException | None = None) -> None:
        """Complete the running experiment with ``exit_status``.

        ``result`` is the call's return value; for FAILED it may also be the exception
        (as in CustomXepr). ``exception`` is the exception the call raised, if any.
        The outcome is written to the store before this returns. ValueError for a
        status that is not an outcome, RuntimeError when nothing is running.
        """
        if exit_status not in _EXIT_STATUSES:
            raise ValueError(f"{exit_status!r} is not an exit status")
        if exit_status is ExpStatus.FAILED and exception is None and isinstance(result, BaseException):
            exception, result = result, None
        exp = self._running
        if exp is None:
            raise RuntimeError("job_done() called with no running experiment")
        self._finish(exp, exit_status, result, exception)

    def _finish(
        self,
        exp: Experiment,
        exit_status: ExpStatus,
        result: Any,
        exception: BaseException | None,
        looks_again: bool = False,
    ) -> None:
        """Move the running ``exp`` (of any lane) to the history with its outcome."""
        store = self._store
        outcome = store.prepare_outcome(exp, result, exception) if store is not None else None
        with self._journal_order:
            # The store sees the outcome before the future completes and the next job starts.
            exp.finished_at = time.time()
            if store is None:
                index = self._end(exp, looks_again)
            else:
                self._record(store.record_finished, exp, exit_status, outcome)
                with self._lock:
                    index = self._end(exp, looks_again)
        exp._complete(exit_status, result, exception)
        self._on_change()
        emit_safely(self.status_changed_signal, index, exit_status, exp)

    def _end(self, exp: Experiment, looks_again: bool = False) -> int:
        """Under the lock: the running ``exp`` (of any lane) joins the history; returns
        its index while it ran (for the worker's, the same as its index in the history).
        ``looks_again``: as :meth:`lane_job_done` takes it."""
        workers_job = exp is self._running
        if workers_job:
            index = len(self._history)
            self._running = None
            self._notify_lanes(self._lanes_with_queued())  # a lane's experiment may have waited for this one
        else:
            index = self._index_of(exp)
            self._lane_running.remove(exp)
            # A slot, or a sweep's share of the slots, is free again on its lane: one more
            # start there, unless downstreams of this one may start now too; on the other
            # lanes a queued experiment may have waited for this one.
            waiting = self._lanes_with_queued()
            if exp._downstreams:
                self._notify_lanes({exp.lane, *waiting})
            else:
                # The thread that ran it takes the freed slot itself, unless the future's
                # callbacks, which it runs first, may wait for the next run of the lane.
                handed_on = not looks_again or exp._has_outside_callbacks
                self._notify_lanes(
                    [lane for lane in waiting if lane != exp.lane], one_of=exp.lane if handed_on else None
                )
        self._history.append(exp)
        self._ended.append(exp)
        # A worker waits for the end of a job taken by hand, or for a lane's job that
        # one of its queued experiments waits on (none queued: a sweep's runs ending).
        if self._idle_workers and (workers_job or self._queued_on_instrument_lane()):
            self._job_available.notify()
        return index

    # -- the other lanes' side ---------------------------------------------------------

    def wait_next_lane_job(
        self,
        lane: str,
        may_start: Callable[[], bool],
        should_stop: Callable[[], bool],
        accept: Callable[[Experiment], bool] | None = None,
        *,
        block: bool = True,
    ) -> Experiment | None:
        """Block until a queued experiment of ``lane`` can start, then mark it RUNNING.

        For lanes other than the worker's: several of their experiments run at once.
        The first queued experiment of ``lane`` that ``accept(exp)`` takes (all, without
        it) starts, once ``may_start()`` is true; accept refusing one of a sweep
        (``group_id``) refuses the sweep's others until the next look. The three are called under the queue's
        locks whenever it is woken: by a put, a lane job done, :meth:`wake`. Returns None
        as soon as ``should_stop()`` is true; a closed queue starts nothing more.
        With ``block=False`` it returns None at once when none can start (a lane that
        hands many to a cluster in one batch takes the rest so). Complete it with
        :meth:`lane_job_done`.
        """
        # Registered before the first look, so that a wake-up of every lane counts for it.
        condition = self._lane_work.get(lane) or self._lane_work.setdefault(lane, threading.Condition(self._lock.raw))
        while True:
            changes = self._lane_changes.get(lane, 0)  # read first: a wake-up after it is not missed
            with self._journal_order:
                if should_stop():
                    return None
                # accept() is called only here: taking an experiment may count it (a
                # sweep's share of the slots), so it must start when accepted.
                exp = self._startable_lane_job(lane, may_start, accept)
                if exp is not None:
                    exp.started_at = time.time()
                    if self._store is None:
                        index = self._start_in_lane(exp)
                    else:
                        self._record(self._store.record_started, exp)
                        with self._lock:
                            index = self._start_in_lane(exp)
                    break
            if not block:
                return None
            with self._lock:  # wait with the journal order released, as the worker does
                if self._lane_changes.get(lane, 0) == changes and not should_stop():
                    condition.wait()
        emit_safely(self.status_changed_signal, index, ExpStatus.RUNNING, exp)
        return exp

    def _startable_lane_job(self, lane: str, may_start, accept) -> Experiment | None:
        if self._closed_because is not None or not may_start():
            return None
        return self._next_in_lane(lane, accept)

    def _start_in_lane(self, exp: Experiment) -> int:
        """Under the lock: ``exp``, a queued one of another lane, is RUNNING; returns its index."""
        self._lane_running.append(exp)
        self._take_queued(exp)
        return self._index_of(exp)

    def lane_job_done(
        self,
        exp: Experiment,
        exit_status: ExpStatus,
        result: Any = None,
        *,
        exception: BaseException | None = None,
        looks_again: bool = False,
    ) -> None:
        """Complete ``exp``, taken by :meth:`wait_next_lane_job`, as :meth:`job_done` does.

        A thread of the lane is woken for the slot it frees, unless ``looks_again``: the
        calling thread calls :meth:`wait_next_lane_job` next (and saves a thread switch
        a run), and ``exp`` has no done-callbacks but labqueue's own (those it runs
        first, and one may wait for the next run of the lane).

        Raises ValueError for an exit status that is not one, or when ``exp`` is not
        running on a lane of this queue.
        """
        if exit_status not in _EXIT_STATUSES:
            raise ValueError(f"{exit_status!r} is not an exit status")
        with self._lock:
            if exp not in self._lane_running:
                raise ValueError(f"{exp!r} is not running on a lane of this queue")
        self._finish(exp, exit_status, result, exception, looks_again)

    # -- removing, reordering, requeueing ----------------------------------------------

    def remove_item(self, i: int) -> None:
        """Remove the queued experiment at index ``i`` of :attr:`queue` (negative counts
        from the end); it becomes CANCELLED and the items after it move up one place.

        ValueError if ``i`` belongs to a running or finished experiment, IndexError if
        there is no such index, QueueClosed once the queue is closed.
        """
        self.remove_items(i, i)

    def remove_items(self, i_start: int, i_end: int | None = None) -> None:
        """Remove the queued experiments from ``i_start`` to ``i_end`` inclusive
        (indices of :attr:`queue`, negative ones from the end; ``i_end`` defaults to
        ``i_start``). They become CANCELLED, their futures complete, and only the
        items after them move up.

        Nothing is removed when it raises: ValueError if the range includes a running
        or finished experiment or ``i_end`` comes before ``i_start``, IndexError if an
        index is outside the queue, QueueClosed once the queue is closed.
        """
        with self._journal_order:
            self._check_open("remove")
            first = self._first_queued_index
            size = first + len(self._queued)
            start = absolute_index(i_start, size)
            end = absolute_index(i_start if i_end is None else i_end, size)
            if end < start:
                raise ValueError("'i_end' must be larger than or equal to 'i_start'")
            if start < first:
                raise ValueError("only queued experiments can be removed, not running or finished ones")
            removed = self._cancel(list(islice(self._queued, start - first, end - first + 1)))
        self._announce_cancelled(removed)

    def remove(self, experiments: Iterable[Experiment]) -> list[Experiment]:
        """Cancel these experiments if they are still queued; returns those cancelled.

        Unlike :meth:`remove_items` this takes experiments, not indices, so it is
        safe against concurrent changes; ones that already started are left alone.
        QueueClosed once the queue is closed.
        """
        with self._journal_order:
            self._check_open("remove")
            queued = set(self._queued)
            removed = self._cancel([e for e in experiments if e in queued])
        self._announce_cancelled(removed)
        return [exp for _, run in reversed(removed) for exp in run]

    def cancel_experiment(self, exp: Experiment) -> bool:
        """Cancel one experiment (what ``Experiment.cancel()`` calls): True if it is
        cancelled now or was already, False if it runs, ended or is not queued here."""
        with self._journal_order:
            if exp.status is ExpStatus.CANCELLED:
                return True
            if exp.status is not ExpStatus.QUEUED or self._by_id.get(exp.id) is not exp:
                return False
            removed = self._cancel([exp])
        self._announce_cancelled(removed)
        return True

    def clear(self) -> list[Experiment]:
        """Cancel every queued experiment at once; returns them. QueueClosed once the
        queue is closed."""
        with self._journal_order:
            self._check_open("clear the queue")
            removed = self._cancel(list(self._queued))
        self._announce_cancelled(removed)
        return [exp for _, run in reversed(removed) for exp in run]

    def _cancel(self, victims: list[Experiment]) -> list[tuple[int, list[Experiment]]]:
        """Under the journal order: take the queued ``victims`` out of the queue and
        into the ended ones. Returns their runs of neighbours as (index of the first,
        experiments), highest first, so that each index is still right when announced."""
        if not victims:
            return []
        doomed = set(victims)
        first = self._first_queued_index
        runs: list[tuple[int, list[Experiment]]] = []
        for position, exp in enumerate(self._queued):
            if exp in doomed:
                index = first + position
                if runs and runs[-1][0] + len(runs[-1][1]) == index:
                    runs[-1][1].append(exp)
                else:
                    runs.append((index, [exp]))
        in_order = [exp for _, run in runs for exp in run]
        now = time.time()
        if self._store is None:
            self._take_out(doomed, in_order, now)
        else:
            self._store.record_cancelled(in_order, now)  # in the order they join the ended ones
            with self._lock:
                self._take_out(doomed, in_order, now)
        runs.reverse()
        return runs

    def _take_out(self, doomed: set[Experiment], in_order: list[Experiment], now: float) -> None:
        """Under the lock: the queued ``in_order`` (the ``doomed``) end, cancelled at ``now``."""
        self._queued = deque(e for e in self._queued if e not in doomed)
        for exp in in_order:
            if exp.lane != INSTRUMENT_LANE:
                self._count_in_lane(exp, -1)
        for exp in in_order:
            exp.finished_at = now
        self._ended.extend(in_order)

    def _announce_cancelled(self, removed: list[tuple[int, list[Experiment]]]) -> None:
        if not removed:
            return
        for _, run in removed:
            for exp in run:
                exp._complete_cancelled()
        self._on_change()
        for index, run in removed:
            emit_safely(self.removed_signal, index, len(run), run)

    def move(self, exp: Experiment, new_position: int) -> None:
        """Move a queued experiment to ``new_position`` among the queued ones (0 = next).

        Positions beyond either end are clamped. ValueError if ``exp`` is not queued
        here, QueueClosed once the queue is closed.
        """
        with self._journal_order:
            self._check_open("move")
            if exp.status is not ExpStatus.QUEUED or self._by_id.get(exp.id) is not exp:
                raise ValueError(f"{exp!r} is not queued here; only queued experiments can be moved")
            old = self._queued.index(exp)
            new = max(0, min(new_position, len(self._queued) - 1))
            if new == old:
                return
            order = list(self._queued)
            order.insert(new, order.pop(old))
            if self._store is None:
                self._queued = deque(order)
            else:
                self._store.record_moved(exp, order)
                with self._lock:
                    self._queued = deque(order)
            first = self._first_queued_index
        self._on_change()
        emit_safely(self.moved_signal, first + old, first + new, exp)

    def requeue(self, exp: Experiment) -> Experiment:
        """Queue a new experiment with the same call as ``exp`` (which must have ended).

        ValueError for queued or running experiments, QueueClosed once the queue is
        closed. Returns the new experiment.
        """
        if exp.status not in REQUEUEABLE:
            raise ValueError(f"{exp!r} is {exp.status.name}; only ended experiments can be requeued")
        again = exp.repeat()
        self.put(again)
        return again
