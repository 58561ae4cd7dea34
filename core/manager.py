"""Manager: the high-level interface to queue, pause, resume and abort experiments."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import logging
import pickle
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

from psygnal import Signal

from .config import email_level_number
from .engine import (
    Aborted,
    Experiment,
    ExperimentQueue,
    ExpStatus,
    QueueClosed,
    SignalQueue,
    Worker,
    current_experiment,
    current_manager,
    emit_safely,
    install_log_capture,
)
from .journal import (
    JOURNAL_FILE,
    HistoryFilter,
    InstanceLock,
    Journal,
    JournalError,
    Moment,
    Restored,
    as_timestamp,
)

__all__ = [
    "CancelledError",
    "ExpStatus",
    "Experiment",
    "ExperimentQueue",
    "Manager",
    "QueueClosed",
    "SignalQueue",
    "TimeoutError",
    "Worker",
    "WorkerState",
    "checkpoint",
    "publish",
    "set_progress",
]

# CustomXepr's scripts import these from its manager module: ``from customxepr.manager
# import CancelledError, TimeoutError`` becomes ``from labqueue.core.manager import ...``.
# They are the exceptions Experiment.result() raises (TimeoutError is the builtin one).
TimeoutError = TimeoutError

logger = logging.getLogger("labqueue")

#: Managers of this process in the order they were made (for calls loaded from a journal).
_open_managers: list[weakref.ref] = []
_loading = threading.local()


@contextlib.contextmanager
def _loading_calls_for(manager: Manager):
    """While restoring, stored calls that refer to a manager get ``manager``."""
    previous = getattr(_loading, "manager", None)
    _loading.manager = manager
    try:
        yield
    finally:
        _loading.manager = previous


def _manager_for_loaded_calls() -> Manager:
    """The manager a stored reference to "the manager" means when it is loaded: the one
    restoring it, else the one running the current job, else the newest open one."""
    manager = getattr(_loading, "manager", None) or current_manager()
    if manager is not None:
        return manager
    for ref in reversed(_open_managers):
        candidate = ref()
        if candidate is not None and not candidate._shut_down:
            return candidate
    raise pickle.UnpicklingError("a stored call refers to a labqueue Manager, but none is open in this process")


class WorkerState(enum.Enum):
    """What the worker is doing, as shown in the status bar."""

    IDLE = "Idle"
    RUNNING = "Running"
    PAUSED = "Paused"
    ABORTING = "Aborting"
    STOPPED = "Stopped"


class _WatchedEvent(threading.Event):
    """An Event that tells its owner when it is set or cleared, even by user code."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        super().__init__()
        self._on_change = on_change

    def set(self) -> None:
        super().set()
        self._on_change()

    def clear(self) -> None:
        super().clear()
        self._on_change()


class Manager:
    """Schedules experiments on a background worker thread.

    Queue calls with the :meth:`queued_exec` decorator or by putting
    :class:`Experiment` objects on :attr:`job_queue`; results also go to
    :attr:`result_queue`. Each Manager has its own queue, worker, events and signals.

    With a ``data_dir`` the queue is durable: the manager locks the directory (one
    program per directory), keeps its journal in ``data_dir/labqueue.db`` (see
    :mod:`core.journal`) and restores it at start: queued experiments come back in
    order, the one that was running comes back INTERRUPTED, and the queue starts
    paused when either was found. Without one everything stays in memory.

    Raises (from the constructor) :class:`~core.instance_lock.DataDirectoryInUse`
    when another program holds ``data_dir``, and :class:`~core.journal.JournalError`
    when the directory or its journal cannot be used (read-only, disk full, a journal
    from a newer labqueue).

    Attributes:
        job_queue: the :class:`ExperimentQueue` of queued, running and finished jobs.
        result_queue: a :class:`SignalQueue` (a :class:`queue.Queue` with signals)
            receiving every non-None result, before its experiment completes.
        running: Event, set while the worker may start jobs; cleared = paused.
        abort: Event set by :meth:`abort_job` while the running job should stop.
        abort_events: more events set and cleared with ``abort`` (append to it, or assign).
        worker, thread: the worker thread (one object: ``thread`` is CustomXepr's name).
        pause_on_failure: pause the queue after a job fails (default True).

    Signals (may fire on any thread):
        state_changed_signal(WorkerState), progress_signal(experiment, fraction, message),
        data_signal(experiment, series, x, y).
    """

    state_changed_signal = Signal(object)
    progress_signal = Signal(object, object, str)
    data_signal = Signal(object, str, object, object)

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        pause_on_failure: bool = True,
        start: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.pause_on_failure = pause_on_failure
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._waiters = 0
        self._state: WorkerState | None = None
        self._shut_down = False
        self._instance_lock: InstanceLock | None = None
        self._journal: Journal | None = None
        restored = self._open_journal() if self.data_dir is not None else Restored()
        self.job_queue = ExperimentQueue(store=self._journal, on_change=self._flags_changed)
        self.job_queue.restore(restored.history + restored.interrupted, restored.queued)
        self.running = _WatchedEvent(self._flags_changed)
        self.abort = _WatchedEvent(self._flags_changed)
        self._abort_events: list[threading.Event] = []
        self.result_queue = SignalQueue()
        self._notify_address: list[str] = []
        self._email_handler_level = logging.WARNING
        self._log_file_dir: Path | None = None
        install_log_capture()
        self.worker = Worker(
            self.job_queue,
            self.result_queue,
            lambda: [self.abort, *self._abort_events],
            running=self.running,
            pause_on_failure=lambda: self.pause_on_failure,
            manager=self,
        )
        if restored.queued or restored.interrupted:
            self.running.clear()  # a human decides when restored work goes on
            logger.warning(
                "Restored %d queued and %d interrupted experiment(s) from %s. The queue is paused: "
                "Resume starts the queued ones.",
                len(restored.queued),
                len(restored.interrupted),
                self._journal.path,
            )
        else:
            self.running.set()
        _open_managers.append(weakref.ref(self))
        if start:
            self.worker.start()

    def __reduce__(self):
        # A manager is not data. A stored call that uses one (a console function that
        # calls manager.checkpoint(), or a decorated function) gets, when it is loaded
        # again, the manager that loads it: that is the one that will run it.
        return (_manager_for_loaded_calls, ())

    def _open_journal(self) -> Restored:
        """Lock the data directory, open its journal and read it back.

        Raises DataDirectoryInUse when another program holds the directory, and
        JournalError when the directory or the journal cannot be used.
        """
        lock = InstanceLock(self.data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except OSError as exc:
            raise JournalError(f"cannot use the data directory {self.data_dir}: {exc.strerror or exc}") from exc
        try:
            journal = Journal(self.data_dir / JOURNAL_FILE)
            try:
                with _loading_calls_for(self):
                    restored = journal.restore()
            except BaseException:
                journal.close()
                raise
        except BaseException:
            lock.release()
            raise
        self._instance_lock, self._journal = lock, journal
        return restored

    # -- state -------------------------------------------------------------------------

    @property
    def abort_events(self) -> list[threading.Event]:
        """Extra events set by :meth:`abort_job` and cleared when each job ends.

        The manager's own list: ``manager.abort_events.append(event)`` registers one,
        and assigning a list replaces them all."""
        return self._abort_events

    @abort_events.setter
    def abort_events(self, events: Iterable[threading.Event]) -> None:
        self._abort_events[:] = list(events)

    @property
    def thread(self) -> Worker:
        """The worker thread (CustomXepr's name for it; the same object as :attr:`worker`)."""
        return self.worker

    @property
    def paused(self) -> bool:
        return not self.running.is_set()

    @property
    def state(self) -> WorkerState:
        if self._shut_down:
            return WorkerState.STOPPED
        if self.job_queue.running_experiment is not None:
            return WorkerState.ABORTING if self.abort.is_set() else WorkerState.RUNNING
        if self.paused:
            return WorkerState.PAUSED
        # Between two jobs of a busy queue the worker is still "running", not idle.
        return WorkerState.RUNNING if self.job_queue.has_queued() else WorkerState.IDLE

    def _flags_changed(self) -> None:
        self._wake_waiters()
        self._announce_state()

    def _wake_waiters(self) -> None:
        # Waiters register under the lock before checking their condition, so a change
        # made before this unlocked read cannot be missed; it keeps the hot path cheap.
        if self._waiters:
            with self._changed:
                self._changed.notify_all()

    @contextlib.contextmanager
    def _registered_waiter(self):
        """Hold the condition's lock as a registered waiter. Registering comes before
        the first look at the condition, so a change made after that look always
        finds the waiter counted and notifies it."""
        with self._changed:
            self._waiters += 1
            try:
                yield
            finally:
                self._waiters -= 1

    def _announce_state(self) -> None:
        if self.state is self._state:
            return
        with self._lock:
            state = self.state
            if state is self._state:
                return
            self._state = state
        emit_safely(self.state_changed_signal, state)

    # -- queueing ----------------------------------------------------------------------

    def queued_exec(self, func: Callable) -> Callable[..., Experiment | Any]:
        """Decorator: calling ``func`` queues it and returns the :class:`Experiment`.

        Raises TypeError at once if ``func`` is not callable; the call raises
        QueueClosed once the manager is shut down. Called from a job on this
        manager's worker (one measurement calling another), the call runs inline, as
        part of that job, and returns the function's plain return value (or raises
        its exception), as CustomXepr's did.
        """
        if not callable(func):
            raise TypeError(f"queued_exec needs a callable, got {type(func).__name__}: {func!r}")

        @functools.wraps(func)
        def queue_call(*args: Any, **kwargs: Any) -> Experiment | Any:
            if threading.current_thread() is self.worker:
                return func(*args, **kwargs)
            exp = Experiment(func, args, kwargs)
            self.job_queue.put(exp)
            return exp

        queue_call.__wrapped__ = func
        return queue_call

    # -- control -----------------------------------------------------------------------

    def pause_worker(self) -> None:
        """Pause after the current job; ``checkpoint()`` inside a job also waits."""
        self.running.clear()
        self.job_queue.wake()

    def resume_worker(self) -> None:
        """Resume running jobs."""
        self.running.set()

    def abort_job(self) -> bool:
        """Abort the running job (sets :attr:`abort` and the abort events).

        The job's outcome becomes ABORTED when it returns or raises; all abort flags
        are cleared when it ends. Returns False if no job was running.
        """
        aborted = self.worker.abort_current()
        if aborted:
            self.job_queue.wake()
        return aborted

    def clear_all_jobs(self) -> list[Experiment]:
        """Cancel all queued jobs; returns them."""
        return self.job_queue.clear()

    def checkpoint(self) -> None:
        """Call inside a job: raise :class:`Aborted` if an abort was requested, and
        wait here while the manager is paused (an abort ends the wait too)."""
        with self._registered_waiter():
            while True:
                if any(e.is_set() for e in self.worker.abort_events):
                    raise Aborted("aborted by request")
                if self.running.is_set() or self._shut_down:
                    return
                self._changed.wait()

    def set_progress(self, fraction: float | None, message: str = "") -> None:
        """Report progress of the running job (fraction 0..1 or None, and a message)."""
        exp = self._current_job()
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        if exp is not None:
            exp.progress = (fraction, message)
            if self._journal is not None:
                try:
                    self._journal.record_progress(exp)
                except JournalError as exc:
                    logger.error("%s", exc)
        emit_safely(self.progress_signal, exp, fraction, message)

    def publish(self, series: str, x: Any, y: Any) -> None:
        """Publish live data points (scalars or sequences) of ``series`` for plotting."""
        emit_safely(self.data_signal, self._current_job(), str(series), x, y)

    def _current_job(self) -> Experiment | None:
        exp = current_experiment()
        if exp is not None and current_manager() is self:
            return exp
        return self.worker.current

    # -- waiting and stopping ----------------------------------------------------------

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Block until no job runs and nothing more will start (queue empty or paused).

        Returns False if ``timeout`` passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._registered_waiter():
            while not self._is_idle():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _is_idle(self) -> bool:
        if self.job_queue.running_experiment is not None:
            return False
        return self.paused or self._shut_down or not self.job_queue.has_queued()

    def shutdown(self, wait: bool = True, abort_running: bool = True, timeout: float | None = None) -> None:
        """Stop the worker. Queued experiments stay QUEUED in the journal for next time
        and are cancelled in this process, so nobody waits on them forever.

        ``abort_running`` aborts the running job; ``wait`` waits (up to ``timeout``)
        for it to end.
        """
        if self._shut_down:
            return
        self.job_queue.close("the manager was shut down")
        self.worker.stop()
        if abort_running:
            self.abort_job()
        if wait and self.worker.is_alive():
            self.worker.join(timeout)
        self._shut_down = True
        _open_managers[:] = [ref for ref in _open_managers if ref() not in (None, self)]
        self._close_journal()
        self._release_queued()
        self._flags_changed()

    def _close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
        if self._instance_lock is not None:
            self._instance_lock.release()

    def _release_queued(self) -> None:
        # The journal (when there is one) has already closed, so these cancellations
        # happen only in memory: the jobs come back QUEUED at the next start.
        for exp in self.job_queue.queued:
            exp._complete_cancelled()

    # -- history -----------------------------------------------------------------------

    def history(
        self,
        status: ExpStatus | str | Iterable[ExpStatus | str] | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        title_contains: str | None = None,
        limit: int | None = None,
    ) -> list[Experiment]:
        """Ended experiments matching every given criterion, oldest first.

        ``status``: an :class:`ExpStatus` or name, or several; ``since``/``until``:
        finish time bounds (POSIX seconds or datetime; until exclusive);
        ``title_contains``: text in the title, ignoring case; ``limit``: only the most
        recent matches. With a journal this searches everything it holds, also what
        ended in earlier sessions; experiments still in :attr:`job_queue` are returned
        as those same objects.

        Raises ValueError for an unknown status or a negative limit, TypeError for a
        time of the wrong type, JournalError when the journal cannot be read.
        """
        criteria = HistoryFilter.from_arguments(status, since, until, title_contains, limit)
        if self._journal is None:
            return criteria.apply(self.job_queue.ended)
        return self._journal.find(criteria, self._in_queue)

    def _in_queue(self, experiment_id: str) -> Experiment | None:
        try:
            return self.job_queue.get(experiment_id)
        except KeyError:
            return None

    def get(self, experiment_id: str) -> Experiment:
        """The experiment with this id: from :attr:`job_queue`, else from the journal.

        Raises KeyError if neither holds it.
        """
        found = self._in_queue(experiment_id)
        if found is None and self._journal is not None:
            found = self._journal.load(experiment_id)
        if found is None:
            raise KeyError(f"no experiment with id {experiment_id!r}")
        return found

    def purge(self, older_than: Moment | dt.timedelta) -> int:
        """Delete from the journal the ended experiments that finished before
        ``older_than`` (a time, or an age as a ``timedelta``); returns how many.

        The ones still in this session's :attr:`job_queue` history stay there until
        the next start. Raises RuntimeError without a journal (``data_dir=None``),
        TypeError for a time of the wrong type, JournalError when the write fails.
        """
        if self._journal is None:
            raise RuntimeError("purge() deletes from the journal, and this manager has none (data_dir=None)")
        if isinstance(older_than, dt.timedelta):
            cutoff = time.time() - older_than.total_seconds()
        else:
            cutoff = as_timestamp(older_than, "older_than")
            if cutoff is None:
                raise TypeError("purge() needs older_than: a time or a timedelta")
        return self._journal.purge(cutoff)

    def __enter__(self) -> Manager:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.wait_until_idle()
        self.shutdown(wait=True, abort_running=True)

    # -- notification settings (used by the email handler) ----------------------------

    @property
    def notify_address(self) -> list[str]:
        """Addresses that receive email notifications."""
        return list(self._notify_address)

    @notify_address.setter
    def notify_address(self, addresses: str | Iterable[str]) -> None:
        if isinstance(addresses, str):
            addresses = [addresses]
        self._notify_address = [str(a) for a in addresses]

    @property
    def email_handler_level(self) -> int:
        """Lowest logging level that is emailed (default ``logging.WARNING``).

        Takes a number or a name ("INFO", "WARNING", "ERROR", "CRITICAL", "OFF");
        ValueError for any other name.
        """
        return self._email_handler_level

    @email_handler_level.setter
    def email_handler_level(self, level: int | str) -> None:
        if isinstance(level, str):
            level = email_level_number(level)  # "WARNING", "error", "OFF", ...
        self._email_handler_level = int(level)

    @property
    def log_file_dir(self) -> Path:
        """Directory of the log files."""
        if self._log_file_dir is not None:
            return self._log_file_dir
        from .config import log_dir

        return log_dir(self.data_dir)

    @log_file_dir.setter
    def log_file_dir(self, path: str | Path) -> None:
        self._log_file_dir = Path(path)


def checkpoint() -> None:
    """Inside a job: raise :class:`Aborted` on abort, wait while paused. No-op elsewhere."""
    manager = current_manager()
    if manager is not None:
        manager.checkpoint()


def set_progress(fraction: float | None, message: str = "") -> None:
    """Inside a job: report its progress to its manager. No-op elsewhere."""
    manager = current_manager()
    if manager is not None:
        manager.set_progress(fraction, message)


def publish(series: str, x: Any, y: Any) -> None:
    """Inside a job: publish live data to its manager's plot. No-op elsewhere."""
    manager = current_manager()
    if manager is not None:
        manager.publish(series, x, y)
