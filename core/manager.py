"""Manager: the high-level interface to queue, pause, resume and abort experiments."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import logging
import os
import pickle
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

from psygnal import Signal

from .config import email_level_number
from .engine import (
    DEFAULT_ABORT_GRACE_SECONDS,
    INSTRUMENT_LANE,
    PROCESS_LANE,
    Aborted,
    Experiment,
    ExperimentQueue,
    ExpStatus,
    PublishedData,
    QueueClosed,
    SignalQueue,
    WatchedEvent,
    Worker,
    check_chain_options,
    current_experiment,
    current_manager,
    declared_axes,
    emit_safely,
    install_log_capture,
    refuse_generator_function,
    settle_restored,
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
from .runs import DEFAULT_KILL_GRACE_S, DaskLane, ProcessLane, Sweep, SweepGroup, queue_sweep

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
    "newest_open_manager",
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
    manager = getattr(_loading, "manager", None) or current_manager() or newest_open_manager()
    if manager is not None:
        return manager
    raise pickle.UnpicklingError("a stored call refers to a labqueue Manager, but none is open in this process")


def newest_open_manager() -> Manager | None:
    """The Manager of this process made last and not shut down, or None."""
    for ref in reversed(_open_managers):
        candidate = ref()
        if candidate is not None and not candidate._shut_down:
            return candidate
    return None


class WorkerState(enum.Enum):
    """What the worker is doing, as shown in the status bar.

    PAUSED: paused between jobs, or the running job waits in ``checkpoint()`` while
    paused. ABORTING: an abort was asked for and the running job has not returned yet
    (:meth:`Manager.force_abort` applies). DEAD: the worker thread ended without
    :meth:`Manager.shutdown`; nothing more runs in this session.
    """

    IDLE = "Idle"
    RUNNING = "Running"
    PAUSED = "Paused"
    ABORTING = "Aborting"
    STOPPED = "Stopped"
    DEAD = "Dead"


class _WakesCheckpoints:
    """Stands in for ``set`` of a registered abort event that is not a WatchedEvent, so
    that a driver setting it also wakes a job paused in :meth:`Manager.checkpoint`
    (a paused checkpoint waits on its manager's condition, not on each event)."""

    def __init__(self, event_set: Callable[[], None]) -> None:
        self._event_set = event_set
        self.managers: weakref.WeakSet[Manager] = weakref.WeakSet()

    def __call__(self) -> None:
        self._event_set()
        for manager in list(self.managers):
            manager._wake_waiters()


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
        restored: what the journal gave back at start (:class:`~core.journal.Restored`:
            history, interrupted, queued); empty without a journal.
        abort_grace_seconds: how long an aborted job may take to return before
            Aborted is raised inside it, and again before it is reported stuck in a
            call Python cannot interrupt (default 10; ``[queue] abort_grace_seconds``).

    Lanes: instrument jobs (the default) run one at a time on the worker thread;
    command runs (:class:`~labqueue.core.runs.CommandExperiment`) and isolated calls
    (``isolate=True``) run at the same time on :attr:`process_lane`, up to
    ``process_slots`` at once (default: the number of CPUs, at least 4), each in a
    process of its own that abort kills (SIGTERM, then SIGKILL after ``kill_grace``
    seconds). Both lanes take their experiments from the one :attr:`job_queue` in
    its order and stop starting them while the manager is paused. Experiments of the
    ``"dask"`` lane (``lane="dask"``) run as tasks on a Dask cluster, on
    :attr:`dask_lane`: the scheduler at ``dask_scheduler``, or without one a local
    cluster started at the lane's first experiment (see :mod:`core.runs.dask_lane`).

    Signals (may fire on any thread):
        state_changed_signal(WorkerState), progress_signal(experiment, fraction, message),
        data_signal(experiment, series, x, y), group_added_signal(SweepGroup).
    """

    state_changed_signal = Signal(object)
    progress_signal = Signal(object, object, str)
    data_signal = Signal(object, str, object, object)
    group_added_signal = Signal(object)

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        pause_on_failure: bool = True,
        abort_grace_seconds: float = DEFAULT_ABORT_GRACE_SECONDS,
        start: bool = True,
        process_slots: int | None = None,
        kill_grace: float = DEFAULT_KILL_GRACE_S,
        dask_scheduler: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.pause_on_failure = pause_on_failure
        self.abort_grace_seconds = abort_grace_seconds
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
        self.job_queue = ExperimentQueue(store=self._journal, on_change=self._queue_changed)
        self.job_queue.restore(restored.history + restored.interrupted, restored.queued)
        self._groups: dict[str, SweepGroup] = {
            group.id: group for group in map(lambda row: SweepGroup.from_stored(*row), restored.groups)
        }
        for group in self._groups.values():  # before the worker and the lanes look for work
            if group.held:
                self.job_queue.hold_group(group.id)
        self.running = WatchedEvent(self._running_changed)
        self.abort = WatchedEvent(self._flags_changed)
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
            # Asked while the failed job is still the running one; a sweep's run goes on (see below).
            pause_on_failure=lambda: (
                self.pause_on_failure and getattr(self.job_queue.running_experiment, "group_id", None) is None
            ),
            manager=self,
            abort_grace=lambda: self.abort_grace_seconds,
            interrupted=restored.interrupted,
            on_exit=self._worker_died,
        )
        self.process_lane = ProcessLane(
            self.job_queue,
            self.running,
            result_queue=self.result_queue,
            relay=self,
            slots=process_slots or max(4, os.cpu_count() or 1),
            kill_grace=kill_grace,
            group_limit=lambda group_id: getattr(self._groups.get(group_id), "max_parallel", None),
            # A sweep goes on past a failed run: its group row counts the failures.
            pause_on_failure=lambda exp: self.pause_on_failure and exp.group_id is None,
            isolated_folder=self._isolated_folder,
            # Paused "after this experiment": the running isolated calls go on to their end too.
            checkpoints_wait=lambda: self.paused and not self._pause_after_current,
        )
        self.dask_lane = DaskLane(
            self.job_queue,
            self.running,
            result_queue=self.result_queue,
            relay=self,
            address=dask_scheduler,
            kill_grace=kill_grace,
            group_limit=lambda group_id: getattr(self._groups.get(group_id), "max_parallel", None),
            pause_on_failure=lambda exp: self.pause_on_failure and exp.group_id is None,
            checkpoints_wait=lambda: self.paused and not self._pause_after_current,
        )
        # The worker has not started (and the queue is paused): a failure that a crash
        # kept from reaching its downstreams is settled before anything can run.
        settle_restored(restored.queued, self.job_queue)
        if restored.queued or restored.interrupted:
            self.running.clear()  # a human decides when restored work goes on
            logger.warning(
                "Restored %d queued and %d interrupted experiment(s) from %s. The queue is paused: "
                "Resume starts the queued ones.",
                self.job_queue.qsize("queued"),
                len(restored.interrupted),
                self._journal.path,
            )
        else:
            self.running.set()
        _open_managers.append(weakref.ref(self))
        if start:
            self.worker.start()
            self.process_lane.start()
            self.dask_lane.start()

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

    @property
    def journal(self) -> Journal | None:
        """The journal (None without a data directory); studies keep their tables in it."""
        return self._journal

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
        if self.worker.died:
            return WorkerState.DEAD
        if self.job_queue.has_running():
            if self.abort.is_set():
                return WorkerState.ABORTING
            running = self.job_queue.running_experiment
            if running is not None and running.paused and not self.job_queue.has_lane_running:
                return WorkerState.PAUSED  # waits in checkpoint(), and nothing else runs
            return WorkerState.RUNNING
        if self.paused:
            return WorkerState.PAUSED
        # Between two jobs of a busy queue the worker is still "running", not idle; with
        # only experiments left that wait for a human (an interrupted upstream), it is idle.
        return WorkerState.RUNNING if self.job_queue.has_work else WorkerState.IDLE

    def _flags_changed(self) -> None:
        self._wake_waiters()
        self._announce_state()

    def _queue_changed(self) -> None:
        # Of the waiters, only wait_until_idle() waits for what the queue does, so a
        # change that leaves work to do (a job's end with more queued) wakes nobody:
        # waking it after every job would cost the worker a thread switch per job. The
        # waiter looks at _is_idle() after registering, so this unlocked look cannot
        # make it miss the change that makes the manager idle.
        if self._waiters and self._is_idle():
            with self._changed:
                self._changed.notify_all()
        self._announce_state()

    def _running_changed(self) -> None:
        self.job_queue.wake()  # a paused worker waits in the queue
        self._flags_changed()
        for name in ("process_lane", "dask_lane"):
            lane = getattr(self, name, None)  # None while __init__ sets the event
            if lane is not None:
                lane.follow_running()

    def _worker_died(self) -> None:
        # The worker has logged why (CRITICAL). The queued experiments stay queued in the
        # journal; a put now would wait forever, so it is refused.
        self.job_queue.close("the worker thread stopped unexpectedly (see the log); restart labqueue")
        self._flags_changed()

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

    def queued_exec(
        self,
        func: Callable | None = None,
        *,
        after: Iterable[Experiment] = (),
        inputs: Mapping[str, Experiment] | None = None,
        on_failure: str = "skip",
        retries: int = 0,
        retry_delay: float = 0.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        isolate: bool = False,
        lane: str | None = None,
        cleanup: Callable[[Experiment], Any] | None = None,
    ) -> Callable[..., Experiment | Any]:
        """Decorator: calling ``func`` queues it and returns the :class:`Experiment`;
        the call raises QueueClosed once the manager is shut down.

        Used bare (``@manager.queued_exec``) or with the chain options of
        :class:`Experiment` (``@manager.queued_exec(after=[calibration], retries=2)``),
        which every call's experiment gets: ``after``, ``inputs``, ``on_failure``,
        ``retries``, ``retry_delay``, ``retry_on``.
        ``@manager.queued_exec(isolate=True)`` runs each call in a process of its own
        on the process lane, so that abort can kill it even inside C code (the call,
        its arguments and its result must pickle); ``lane="dask"`` runs each call as a
        task on the Dask lane's cluster (the same pickling applies).
        ``cleanup(experiment)`` (``@manager.queued_exec(cleanup=ramp_down)``) runs on
        the worker if the call ends ABORTED or FAILED, and at the next start if it was
        running when the program died (see :attr:`Experiment.cleanup`).

        The function is listed in :attr:`queued_functions`.

        Raises TypeError at once if ``func`` or ``cleanup`` is not callable, if ``func``
        is a generator function (it would run nothing) or an upstream not an
        Experiment, ValueError for an unknown ``on_failure`` or negative retries or
        delay. Called from a job on this manager's worker (one measurement calling
        another), a call without options runs inline, as part of that job, and returns
        the function's plain return value (or raises its exception), as CustomXepr's
        did; one with chain options or ``isolate``
        is queued, since its upstreams, its retries or its process need the queue (do not
        wait on its result there). An ``async def`` function is run to completion on the worker.
        """
        options = {
            "after": tuple(after),
            "inputs": dict(inputs) if inputs else None,
            "on_failure": on_failure,
            "retries": retries,
            "retry_delay": retry_delay,
            "retry_on": tuple(retry_on),
        }
        check_chain_options(**options)
        if cleanup is not None and not callable(cleanup):
            raise TypeError(f"cleanup must be callable, got {type(cleanup).__name__}: {cleanup!r}")
        options.update(isolate=isolate, lane=lane, cleanup=cleanup)
        if func is None:
            return functools.partial(self._queued_call, options=options)
        return self._queued_call(func, options)

    def _queued_call(self, func: Callable, options: dict[str, Any]) -> Callable[..., Experiment | Any]:
        if not callable(func):
            raise TypeError(f"queued_exec needs a callable, got {type(func).__name__}: {func!r}")
        self._queued_functions[getattr(func, "__qualname__", None) or type(func).__name__] = func
        refuse_generator_function(func)
        chained = bool(options["after"] or options["inputs"] or options["retries"])
        isolate = options["isolate"] or options["lane"] not in (None, INSTRUMENT_LANE)

        @functools.wraps(func)
        def queue_call(*args: Any, **kwargs: Any) -> Experiment | Any:
            if threading.current_thread() is self.worker and not chained and not isolate:
                return func(*args, **kwargs)
            exp = Experiment(func, args, kwargs, **options)
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

    def on_abort(self, callback: Callable[[Experiment], Any]) -> Callable[[Experiment], Any]:
        """Run ``callback(experiment)`` whenever a job ends ABORTED (forced or not, at
        shutdown too) or FAILED, after that experiment's own cleanup, to bring the
        instruments to a safe state (ramp the magnet down, close the shutter).

        It runs on the worker, before the outcome is recorded (so the experiment is
        still RUNNING) and before the next job starts; a callback registered before
        the worker starts (``Manager(start=False)``) also runs for experiments restored
        INTERRUPTED. An error in it is logged with its traceback (and emailed), and the
        other callbacks still run. Returns ``callback``, so it works as a decorator.

        Raises TypeError if ``callback`` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"on_abort needs a callable, got {type(callback).__name__}: {callback!r}")
        self.worker.on_abort.append(callback)
        return callback

    # -- control -----------------------------------------------------------------------

    def pause_worker(self, after_current: bool = False) -> None:
        """Pause: no further job starts, and the running job waits at its next
        ``checkpoint()``. With ``after_current`` the running job runs to its end first
        (its checkpoints do not wait), then the queue is paused."""
        self._pause_after_current = after_current
        # Wakes the queue and a checkpoint() waiting (``running`` is watched), even when
        # already paused: the checkpoint re-reads after_current.
        self.running.clear()

    def resume_worker(self) -> None:
        """Resume running jobs."""
        self._pause_after_current = False
        self.dask_lane.resume()  # after a lost scheduler, Resume is the human's word to go on
        self.running.set()

    @property
    def pausing_after_current(self) -> bool:
        """True while paused with ``after_current``: the running job goes on to its end."""
        return self._pause_after_current and self.paused

    def abort_job(self) -> bool:
        """Abort the running job: sets :attr:`abort` and the abort events (ending a
        ``checkpoint()``) and cancels the task of an ``async def`` job.

        The job's outcome becomes ABORTED when it returns or raises, whatever it
        raises (an error while stopping is logged); all abort flags are cleared when
        it ends. If it has not returned after :attr:`abort_grace_seconds`, Aborted is
        raised inside it (see :meth:`force_abort`). Returns True if a job is running
        (from the moment the queue marks it RUNNING), False if none is or the running
        one has already returned.
        """
        return self.worker.abort_current()

    def force_abort(self) -> bool:
        """Raise Aborted inside the running job now, rather than after the grace period
        (what the window's "Force abort" does while the state is ABORTING). It stops
        a job looping in Python code that never calls ``checkpoint()``; a job stuck in
        a C call only raises it once that call returns (a warning then says so).

        Returns True if it was raised in the running job, False if none is running.
        """
        return self.worker.force_abort()

    def clear_all_jobs(self) -> list[Experiment]:
        """Cancel all queued jobs; returns them."""
        return self.job_queue.clear()

    def abort_experiment(self, experiment: Experiment) -> bool:
        """Stop ``experiment`` on whichever lane: cancel it if queued, abort it if running
        (the worker's job as :meth:`abort_job` does; a process is killed). True if it was
        queued or running, False if it had ended."""
        if experiment.cancel():
            return True
        if experiment is self.worker.current:
            return self.abort_job()
        return self.process_lane.kill(experiment) or self.dask_lane.kill(experiment)

    def abort_group(self, group_id: str) -> list[Experiment]:
        """Stop a whole sweep: cancel its queued experiments, abort its running ones.
        Returns those stopped."""
        members = [exp for exp in self.job_queue.queue if exp.group_id == group_id]
        cancelled = self.job_queue.remove(members)  # all at once: one journal transaction
        running = [exp for exp in members if exp.status is ExpStatus.RUNNING and self.abort_experiment(exp)]
        return cancelled + running

    def pause_group(self, group_id: str) -> None:
        """Start no more runs of sweep ``group_id`` (running ones go on) until :meth:`resume_group`.

        Its queued runs stay queued, waiting for a human as in a paused queue:
        :meth:`wait_until_idle` does not wait for them. The hold is stored with the
        sweep: after a restart its runs still wait. Raises JournalError when the
        journal cannot store it (the sweep is held anyway)."""
        self.job_queue.hold_group(group_id)
        try:
            self._store_hold(group_id, True)
        finally:
            self._queue_changed()  # its runs wait for a human now: a wait_until_idle() may be over

    def resume_group(self, group_id: str) -> None:
        """Let the runs of sweep ``group_id`` start again (stored, like the hold)."""
        self.job_queue.release_group(group_id)
        self._store_hold(group_id, False)

    def _store_hold(self, group_id: str, held: bool) -> None:
        group = self._groups.get(group_id)
        if group is None or group.held is held:
            return
        group.held = held
        if self._journal is not None:
            self._journal.record_group(group.id, group.title, group.created_at, group.details())

    # -- sweeps ------------------------------------------------------------------------

    @property
    def groups(self) -> dict[str, SweepGroup]:
        """The sweeps this manager knows (this session's and the journal's), by id."""
        return dict(self._groups)

    def add_group(self, group: SweepGroup) -> None:
        """Register a sweep before its experiments are put (stored in the journal, if any).

        Raises JournalError when the journal cannot store it.
        """
        if self._journal is not None:
            self._journal.record_group(group.id, group.title, group.created_at, group.details())
        self._groups[group.id] = group
        if group.max_parallel is not None and group.lane == PROCESS_LANE:
            self.process_lane.ensure_slots(group.max_parallel)
        emit_safely(self.group_added_signal, group)

    def sweep(
        self,
        func: Callable,
        grid: dict[str, Iterable] | Iterable[dict[str, Any]],
        *,
        isolate: bool = False,
        max_parallel: int | None = None,
        title: str | None = None,
        lane: str | None = None,
    ) -> Sweep:
        """Queue ``func(**params)`` for every parameter set of ``grid`` as one sweep.

        ``grid`` is a dict of lists (their cartesian product, in order) or a list of
        dicts (each one run; equal ones stay separate runs). With ``isolate=True``
        each call runs in a process of its own on the process lane, up to
        ``max_parallel`` at once; with ``lane="dask"`` each is a task on the Dask
        lane's cluster (up to ``max_parallel`` at once, if given); without either, one
        after another on the worker. Returns the :class:`~labqueue.core.runs.Sweep`.

        Raises TypeError for a grid that is neither, ValueError for an empty one.
        """
        return queue_sweep(self, func, grid, isolate=isolate, max_parallel=max_parallel, title=title, lane=lane)

    # -- the process lane's reports (see labqueue.core.runs.Relay) ---------------------

    def relay_progress(self, experiment: Experiment, fraction: float | None, message: str) -> None:
        self._report_progress(experiment, fraction, message)

    def relay_data(
        self,
        experiment: Experiment,
        series: str,
        x: Any,
        y: Any,
        x_label: str | None = None,
        y_label: str | None = None,
        units: str | tuple[str | None, str | None] | None = None,
    ) -> None:
        """Data published by an isolated call's process: kept with the experiment (as
        :meth:`publish` keeps it) and plotted live."""
        self._keep_published(experiment, series, x, y, x_label, y_label, units)
        emit_safely(self.data_signal, experiment, series, x, y)

    def relay_log(self, experiment: Experiment, record: logging.LogRecord) -> None:
        """A record from an isolated call's process: kept with the experiment and
        handled here as if it had been logged here."""
        experiment.add_log_record(record)
        target = logging.getLogger(record.name)
        if target.isEnabledFor(record.levelno):
            target.handle(record)

    def _isolated_folder(self, experiment: Experiment) -> Path:
        base = self.data_dir if self.data_dir is not None else Path(tempfile.gettempdir()) / f"labqueue-{os.getuid()}"
        return base / "isolated" / experiment.id

    def checkpoint(self) -> None:
        """Call inside a job: raise :class:`Aborted` if an abort was requested, and
        wait here while the manager is paused, until it is resumed or aborted (an
        abort event set by a driver ends the wait too; shutdown does not).

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
        ``wait``, waits for that (or an abort) instead of returning False. Shutdown
        does not let it go on: only a resume or an abort does."""
        with self._registered_waiter():
            while True:
                events = self.worker.abort_events
                if any(e.is_set() for e in events):
                    raise Aborted("aborted by request")
                if self.running.is_set() or self._pause_after_current:
                    return True
                if not wait:
                    return False
                self._watch_abort_events(events)
                self._changed.wait()

    def _job_on_this_thread(self) -> Experiment | None:
        exp = current_experiment()
        return exp if exp is not None and current_manager() is self else None

    def _watch_abort_events(self, events: list[threading.Event]) -> None:
        """Make sure setting any of ``events`` wakes this manager's waiters."""
        for event in events:
            if isinstance(event, WatchedEvent):
                continue
            watcher = getattr(event, "__dict__", {}).get("set")
            if not isinstance(watcher, _WakesCheckpoints):
                watcher = _WakesCheckpoints(event.set)
                try:
                    event.set = watcher
                except AttributeError:  # an event-like object without instance attributes
                    continue
            watcher.managers.add(self)

    def set_progress(self, fraction: float | None, message: str = "") -> None:
        """Report progress of the running job (fraction 0..1 or None, and a message)."""
        self._report_progress(self._current_job(), fraction, message)

    def _report_progress(self, exp: Experiment | None, fraction: float | None, message: str) -> None:
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
        self._keep_published(exp, name, x, y, x_label, y_label, units)
        emit_safely(self.data_signal, exp, name, x, y)

    @staticmethod
    def _keep_published(exp: Experiment | None, name: str, x: Any, y: Any, x_label, y_label, units) -> None:
        if exp is not None:
            if exp.published is None:
                exp.published = PublishedData(declared_axes(exp.func))
            exp.published.add(name, x, y, x_label, y_label, units)

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
        """Block until no job runs and nothing more will start without a human: the
        queue is empty or paused, or what is left waits for an interrupted upstream to
        be requeued (those stay queued; see :attr:`ExperimentQueue.has_work`).

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
        if self.worker.died:
            return True  # nothing will ever start or end here again
        if self.job_queue.has_running():
            return False
        return self.paused or self._shut_down or not self.job_queue.has_work

    def shutdown(self, wait: bool = True, abort_running: bool = True, timeout: float | None = None) -> None:
        """Stop the worker. Queued experiments stay QUEUED in the journal for next time
        and are cancelled in this process, so nobody waits on them forever.

        ``abort_running`` aborts the running job (its cleanups run on the worker when
        it returns, as after any abort); ``wait`` waits (up to ``timeout``) for it to
        end. Shutting down never resumes: without ``abort_running`` a job paused in
        ``checkpoint()`` stays paused until it is resumed or aborted.
        """
        if self._shut_down:
            return
        self.job_queue.close("the manager was shut down")
        self.worker.stop()  # from here on no job starts; one starting now is RUNNING already
        if abort_running:
            self.abort_job()
        self.process_lane.stop(abort_running=abort_running, timeout=timeout if wait else 0)
        self.dask_lane.stop(abort_running=abort_running, timeout=timeout if wait else 0)
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
