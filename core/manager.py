"""Manager: the high-level interface to queue, pause, resume and abort experiments."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import logging
import pickle
import queue as std_queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from psygnal import Signal

from .config import email_level_number
from .engine import (
    Aborted,
    Experiment,
    ExperimentQueue,
    ExpStatus,
    PublishedData,
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

__all__ = ["Manager", "WorkerState", "checkpoint", "publish", "set_progress"]

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
    """What the worker is doing, as shown in the status bar. PAUSED: paused between
    jobs, or the running job waits in ``checkpoint()`` while paused."""

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
        result_queue: a :class:`queue.Queue` receiving every non-None result.
        running: Event, set while the worker may start jobs; cleared = paused.
        abort: Event set by :meth:`abort_job` while the running job should stop.
        pause_on_failure: pause the queue after a job fails (default True).
        restored: what the journal gave back at start (:class:`~core.journal.Restored`:
            history, interrupted, queued); empty without a journal.

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
        self._pause_after_current = False
        self._queued_functions: dict[str, Callable] = {}
        self._instance_lock: InstanceLock | None = None
        self._journal: Journal | None = None
        restored = self._open_journal() if self.data_dir is not None else Restored()
        self.restored = restored
        self.job_queue = ExperimentQueue(store=self._journal, on_change=self._flags_changed)
        self.job_queue.restore(restored.history + restored.interrupted, restored.queued)
        self.running = _WatchedEvent(self._flags_changed)
        self.abort = _WatchedEvent(self._flags_changed)
        self._abort_events: list[threading.Event] = []
        self.result_queue: std_queue.Queue = std_queue.Queue()
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
        """Extra events set by :meth:`abort_job` and cleared when each job ends."""
        return list(self._abort_events)

    @abort_events.setter
    def abort_events(self, events: Iterable[threading.Event]) -> None:
        self._abort_events = list(events)

    @property
    def paused(self) -> bool:
        return not self.running.is_set()

    @property
    def state(self) -> WorkerState:
        if self._shut_down:
            return WorkerState.STOPPED
        running = self.job_queue.running_experiment
        if running is not None:
            if self.abort.is_set():
                return WorkerState.ABORTING
            return WorkerState.PAUSED if running.paused else WorkerState.RUNNING
        if self.paused:
            return WorkerState.PAUSED
        # Between two jobs of a busy queue the worker is still "running", not idle.
        return WorkerState.RUNNING if self.job_queue.has_queued else WorkerState.IDLE

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

    def queued_exec(self, func: Callable) -> Callable[..., Experiment]:
        """Decorator: calling ``func`` queues it and returns the :class:`Experiment`.

        The function is listed in :attr:`queued_functions`. Raises TypeError at once
        if ``func`` is not callable. Called from a job on
        this manager's worker (one measurement calling another), the call runs inline
        and returns an already finished Experiment instead of waiting on itself.
        """
        if not callable(func):
            raise TypeError(f"queued_exec needs a callable, got {type(func).__name__}: {func!r}")
        self._queued_functions[getattr(func, "__qualname__", None) or type(func).__name__] = func

        @functools.wraps(func)
        def queue_call(*args: Any, **kwargs: Any) -> Experiment:
            exp = Experiment(func, args, kwargs)
            if threading.current_thread() is self.worker:
                exp.set_running_or_notify_cancel()
                exp.started_at = time.time()
                exp._complete(ExpStatus.FINISHED, func(*args, **kwargs))
                return exp
            self.job_queue.put(exp)
            return exp

        queue_call.__wrapped__ = func
        return queue_call

    @property
    def queued_functions(self) -> dict[str, Callable]:
        """The functions decorated with :meth:`queued_exec` on this manager, by qualified
        name (a function defined again under its name replaces the earlier one), in
        the order they were decorated: what the window offers in Add experiment."""
        return dict(self._queued_functions)

    # -- control -----------------------------------------------------------------------

    def pause_worker(self, after_current: bool = False) -> None:
        """Pause: no further job starts, and the running job waits at its next
        ``checkpoint()``. With ``after_current`` the running job runs to its end first
        (its checkpoints do not wait), then the queue is paused."""
        self._pause_after_current = after_current
        self.running.clear()  # also wakes a checkpoint() waiting, to re-read after_current
        self.job_queue.wake()

    def resume_worker(self) -> None:
        """Resume running jobs."""
        self._pause_after_current = False
        self.running.set()

    @property
    def pausing_after_current(self) -> bool:
        """True while paused with ``after_current``: the running job goes on to its end."""
        return self._pause_after_current and self.paused

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
        wait here while the manager is paused (an abort ends the wait too).

        While it waits, the job is paused: :attr:`state` is PAUSED, the experiment's
        ``paused`` is True and the time spent here is not in its ``duration``.
        """
        job = self._job_on_this_thread()
        waiting = False
        try:
            while not self._checkpoint_passes(wait=waiting):
                if not waiting and job is not None:
                    # Announced outside the lock, as every state change is.
                    job._pause_began(time.time())
                    self._announce_state()
                waiting = True
        finally:
            if waiting and job is not None:
                job._pause_ended(time.time())
                self._announce_state()

    def _checkpoint_passes(self, wait: bool) -> bool:
        """True when a job at its checkpoint may go on; raises Aborted on abort. With
        ``wait``, waits for that (or an abort) instead of returning False."""
        with self._registered_waiter():
            while True:
                if any(e.is_set() for e in self.worker.abort_events):
                    raise Aborted("aborted by request")
                if self.running.is_set() or self._shut_down or self._pause_after_current:
                    return True
                if not wait:
                    return False
                self._changed.wait()

    def _job_on_this_thread(self) -> Experiment | None:
        exp = current_experiment()
        return exp if exp is not None and current_manager() is self else None

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

    def publish(
        self,
        series: str,
        x: Any,
        y: Any,
        *,
        x_label: str | None = None,
        y_label: str | None = None,
        units: str | tuple[str | None, str | None] | None = None,
    ) -> None:
        """Publish data points (numbers or sequences; ``x`` None for a running index) of
        ``series``: plotted live, and kept with the running experiment (see
        :class:`~core.engine.PublishedData`; the journal stores them with its outcome).
        ``x_label``, ``y_label`` and ``units`` (of y, or ``(x_units, y_units)``) label
        the plot's axes; given once, they hold for the series."""
        exp = self._current_job()
        name = str(series)
        if exp is not None:
            if exp.published is None:
                exp.published = PublishedData()
            exp.published.add(name, x, y, x_label, y_label, units)
        emit_safely(self.data_signal, exp, name, x, y)

    def published_data(self, exp: Experiment) -> PublishedData | None:
        """The series ``exp`` published: kept with it, or read back from the journal for
        one that ran in an earlier session. None if it published nothing."""
        if exp.published is None and self._journal is not None and exp.status.is_terminal:
            try:
                exp.published = self._journal.load_series(exp.id)
            except JournalError as exc:
                logger.error("%s", exc)
        return exp.published

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
        return self.paused or self._shut_down or not self.job_queue.has_queued

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
            return criteria.apply(self.job_queue.history)
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


def publish(
    series: str,
    x: Any,
    y: Any,
    *,
    x_label: str | None = None,
    y_label: str | None = None,
    units: str | tuple[str | None, str | None] | None = None,
) -> None:
    """Inside a job: publish data to its manager's plot (see :meth:`Manager.publish`).
    No-op elsewhere."""
    manager = current_manager()
    if manager is not None:
        manager.publish(series, x, y, x_label=x_label, y_label=y_label, units=units)
