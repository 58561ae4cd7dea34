"""Worker: the background thread that runs queued experiments one after another.

Aborting a job, in three steps. :meth:`Worker.abort_current` sets the abort events
(``checkpoint()`` raises :class:`Aborted`) and cancels the task of an ``async def``
job. A job that has not returned after the grace period gets :class:`ForcedAbort`
raised inside it (``PyThreadState_SetAsyncExc``), which stops a pure-Python loop;
:meth:`Worker.force_abort` does that at once. A job that still has not returned a
grace period later is stuck in a call Python cannot interrupt, and a warning says so.
"""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import logging
import queue as std_queue
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from typing import Any

from .bounded_text import format_failure
from .experiment import Aborted, Experiment, ExpStatus, _set_current
from .experiment_queue import ExperimentQueue

__all__ = ["ForcedAbort", "WatchedEvent", "Worker"]

logger = logging.getLogger("labqueue")

#: The default of ``abort_grace_seconds``: how long an aborted job may take to return
#: before Aborted is raised inside it, and again before it is reported stuck.
DEFAULT_ABORT_GRACE_SECONDS = 10.0
#: Least time between raising Aborted in a job and reporting it stuck: the exception
#: takes a moment to arrive even in a job that can be stopped, so a grace period of 0
#: (force at once) must not report every job stuck.
MIN_STUCK_SECONDS = 1.0


class ForcedAbort(Aborted):
    """Raised inside a job's call that did not return after an abort (see
    :meth:`Worker.force_abort`). An :class:`Aborted`, so ``except Aborted`` catches it."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("the job did not stop after the abort, so Aborted was raised inside it",)))


class WatchedEvent(threading.Event):
    """An Event that calls ``on_change()`` after it is set or cleared, even by user code."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        super().__init__()
        self._on_change = on_change

    def set(self) -> None:
        super().set()
        self._on_change()

    def clear(self) -> None:
        super().clear()
        self._on_change()


def _raise_in_thread(thread_id: int, exception_type: type[BaseException]) -> None:
    """Make ``thread_id`` raise ``exception_type`` at its next Python instruction.
    Blocked in a C call, the thread raises it once the call returns."""
    # Arguments passed untyped: setting argtypes on ctypes.pythonapi would change them
    # for every other user of that shared function object.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception_type))


class _Dropped(BaseException):
    """Takes the place of an exception raised into a thread that has not fired yet."""


def _drop_pending_exception() -> None:
    """Drop an exception raised into this thread that has not fired yet.

    Not with ``PyThreadState_SetAsyncExc(id, NULL)``: that leaves CPython's
    interpreter-wide "asynchronous exception pending" flag set for good, so every
    thread then takes the slow path at each check, and a traced frame (debugpy's, as
    the console imports it) executes one line for ever. The pending one is replaced
    by a marker instead, which fires here at the loop's first check and clears the flag.
    """
    _raise_in_thread(threading.get_ident(), _Dropped)
    try:
        while True:
            pass
    except _Dropped:
        pass


class Worker(threading.Thread):
    """Runs every call from ``job_q``, puts non-None results on ``result_q`` (before
    the experiment completes, as CustomXepr's worker did).

    The worker sleeps on the queue's condition while there is nothing to do or it is
    paused, so a job put on an idle worker starts at once. It pauses between jobs
    while ``running`` is clear, and survives every exception a job raises, including
    ``SystemExit`` and ``KeyboardInterrupt``; its own calls into user code (cleanups,
    slots, done-callbacks) cannot end it either. Should it ever end other than by
    :meth:`stop`, :attr:`died` is True, a CRITICAL record says why, and ``on_exit()``
    is called.

    A call that returns a coroutine (an ``async def`` function) is run to completion
    in an event loop the worker keeps for all such jobs; aborting it cancels its task.

    Args:
        job_q: the queue to take experiments from.
        result_q: receives each non-None result.
        abort_events: events that mean "abort the running job" when set; a job that
            ends while any is set is ABORTED. All are cleared when each job ends.
        running: set while the worker may start jobs (cleared = paused). Setting it
            must also call ``job_q.wake()``, as a :class:`WatchedEvent` can; the default
            one does.
        pause_on_failure: called after a FAILED job; pauses the worker if it returns True.
        manager: made current on the worker thread during each job (for
            ``checkpoint()``, ``publish()`` and friends).
        abort_grace: returns the grace period in seconds (see the module docstring).
        interrupted: experiments restored INTERRUPTED from a journal; their cleanups
            run when the worker starts, before any job.
        on_exit: called on the worker thread if it ends other than by :meth:`stop`.

    Attributes:
        on_abort: callables ``callback(experiment)`` run after each job's own cleanup
            (see :attr:`Experiment.cleanup`), for every experiment that needs one.
        died: True once the thread has ended other than by :meth:`stop`.
    """

    def __init__(
        self,
        job_q: ExperimentQueue,
        result_q: std_queue.Queue,
        abort_events: Sequence[threading.Event] | Callable[[], Sequence[threading.Event]],
        *,
        running: threading.Event | None = None,
        pause_on_failure: Callable[[], bool] = lambda: True,
        manager=None,
        abort_grace: Callable[[], float] = lambda: DEFAULT_ABORT_GRACE_SECONDS,
        interrupted: Iterable[Experiment] = (),
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="labqueue-worker", daemon=True)
        self.job_q = job_q
        self.result_q = result_q
        self._abort_events = abort_events
        if running is None:
            running = WatchedEvent(job_q.wake)
            running.set()
        self.running = running
        self._pause_on_failure = pause_on_failure
        self._manager = manager
        self._abort_grace = abort_grace
        self._interrupted = list(interrupted)
        self._on_exit = on_exit
        self.on_abort: list[Callable[[Experiment], Any]] = []
        self.died = False
        self._stop_requested = False
        # Serialises abort requests with the moment a job's outcome is decided. Never
        # held while user code runs: setting an event runs state slots.
        self._state_lock = threading.Lock()
        self._abort_target: Experiment | None = None  # the job an abort was asked for
        self._closing: Experiment | None = None  # the job whose outcome is decided
        # Serialises raising ForcedAbort into the worker with the end of each call.
        self._call_lock = threading.Lock()
        self._calling: Experiment | None = None  # the job whose call is on the stack
        self._forced: Experiment | None = None  # the job ForcedAbort was last aimed at
        self._warned_stuck: Experiment | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    @property
    def abort_events(self) -> list[threading.Event]:
        events = self._abort_events
        return list(events() if callable(events) else events)

    @property
    def current(self) -> Experiment | None:
        """The running experiment: the queue's one record of it."""
        return self.job_q.running_experiment

    def stop(self) -> None:
        """Ask the worker to end after the current job (if any); does not wait.

        It neither resumes a paused worker nor a job paused in ``checkpoint()``. Once
        this returns no further job starts: one being taken at this moment is
        RUNNING already (the wake-up waits for the queue's lock).
        """
        self._stop_requested = True
        self.job_q.wake()

    # -- aborting --------------------------------------------------------------------

    def abort_current(self) -> bool:
        """Abort the running experiment: set the abort events, cancel its task if it is
        an ``async def`` call, and raise Aborted inside it if it has not returned
        after the grace period.

        Returns True if an experiment is running and will end ABORTED; False if none
        is, or if the running one has already returned and its outcome is decided.
        """
        with self._state_lock:
            target = self.job_q.running_experiment
            if target is None or target is self._closing:
                return False
            first_request = self._abort_target is not target
            self._abort_target = target
        for event in self.abort_events:
            event.set()
        self._cancel_task(target)
        if first_request:
            self._start_watch(self._escalate, target)
        return True

    def force_abort(self) -> bool:
        """Raise :class:`ForcedAbort` inside the running call now (aborting it first if
        that was not asked yet). It stops a pure-Python loop; a call stuck in C code
        raises it only when that code returns, and a warning says so after the grace
        period. Each call raises it once more, for a job that caught the last one.

        Returns True if it was raised in a running call; False if no call is running
        on this worker (none, one already returned, or one taken by another caller).
        """
        target = self.job_q.running_experiment
        if target is None or not self.abort_current():
            return False
        if not self._force(target, "was aborted by force"):
            return False
        self._start_watch(self._warn_if_stuck, target)
        return True

    def _start_watch(self, watch: Callable[[Experiment, float], None], target: Experiment) -> None:
        grace = max(0.0, float(self._abort_grace()))
        threading.Thread(target=watch, args=(target, grace), name="labqueue-abort-watch", daemon=True).start()

    def _escalate(self, target: Experiment, grace: float) -> None:
        if futures.wait([target], timeout=grace).done:
            return
        if self._force(target, f"did not stop within {grace:g} s of the abort"):
            self._warn_if_stuck(target, grace)

    def _force(self, target: Experiment, why: str) -> bool:
        with self._call_lock:
            # Marked before the look at _calling: the worker, which clears _calling
            # without this lock, then checks the mark and drops a pending exception.
            self._forced = target
            if self._calling is not target:
                return False
            _raise_in_thread(self.ident, ForcedAbort)
        logger.warning("%s %s: Aborted was raised inside it by force.", target.title, why)
        return True

    def _warn_if_stuck(self, target: Experiment, grace: float) -> None:
        grace = max(grace, MIN_STUCK_SECONDS)
        futures.wait([target], timeout=grace)
        if self._calling is target and self._warned_stuck is not target:
            self._warned_stuck = target
            logger.warning(
                "%s has not returned %g s after Aborted was raised inside it: it is stuck in a call that "
                "Python cannot interrupt (C code, a driver, a blocking read), or it caught the Aborted. "
                "labqueue cannot stop it; the worker stays busy until the call returns. Run such calls in "
                "the isolated process lane (isolate=True, coming with labqueue issue 13), which can kill them.",
                target.title,
                grace,
            )

    def _cancel_task(self, target: Experiment) -> None:
        with self._call_lock:
            if self._task is not None and self._calling is target:
                self._loop.call_soon_threadsafe(self._task.cancel)

    @staticmethod
    def _clear_abort(events: list[threading.Event]) -> None:
        for event in events:
            if event.is_set():  # clearing an unset event would still wake its watchers
                event.clear()

    def _forget_stale_abort(self, exp: Experiment) -> None:
        """Clear abort events set before ``exp`` started (by hand, while idle), but
        never an abort_job() aimed at ``exp``, which may come while it starts."""
        if self._abort_target is exp:
            return
        events = self.abort_events
        self._clear_abort(events)
        if self._abort_target is exp:  # asked for while the stale ones were cleared
            for event in events:
                event.set()

    # -- running ---------------------------------------------------------------------

    def run(self) -> None:
        error = None
        try:
            for exp in self._interrupted:
                self._run_cleanups(exp)
            self._interrupted = []
            while not self._stop_requested:
                exp = self.job_q.wait_next_job(self.running.is_set, self._stop_is_requested)
                if exp is not None:
                    self._execute(exp)
        except BaseException as exc:  # whatever escapes the bookkeeping ends the worker, loudly
            error = exc
        self._close_event_loop()
        if error is not None or not self._stop_requested:
            self._die(error)

    def _stop_is_requested(self) -> bool:
        return self._stop_requested

    def _die(self, error: BaseException | None) -> None:
        self.died = True
        logger.critical(
            "The labqueue worker thread stopped unexpectedly; nothing more will run in this session. "
            "Queued experiments stay queued (in the journal, if there is one) for the next start: "
            "restart labqueue.",
            exc_info=error,
        )
        if self._on_exit is not None:
            try:
                self._on_exit()
            except BaseException:
                logger.exception("Reporting the worker's end failed")

    def _execute(self, exp: Experiment) -> None:
        self._forget_stale_abort(exp)
        _set_current(exp, self._manager)
        result = exception = None
        try:
            self._calling = exp
            try:
                result = self._call(exp)
            finally:
                # First thing after the call, so no ForcedAbort is raised into the worker
                # from here on; one raised before is delivered by now or dropped here.
                self._calling = None
                if self._forced is exp:
                    with self._call_lock:
                        _drop_pending_exception()
        except BaseException as exc:  # the worker outlives SystemExit and KeyboardInterrupt too
            exception = exc
            exp.traceback = format_failure(exc)  # bounded: the exception may carry a huge payload
        status = self._outcome(exp, exception)
        if status is not ExpStatus.FINISHED:
            self._run_cleanups(exp)
        _set_current(None, None)
        # Named like the job's own records, though logged after it ran; the failure
        # first, then the pause it causes.
        about = {"experiment_id": exp.id[:8], "experiment_title": exp.title}
        if status is ExpStatus.ABORTED and exception is not None and not _is_abort(exception):
            logger.error(
                "%s was aborted and raised an error while it stopped:\n%s", exp.title, exp.traceback, extra=about
            )
        if status is ExpStatus.FAILED:
            logger.error("%s failed:\n%s", exp.title, exp.traceback, extra=about)
            # A failure that will be retried needs no human: the retry is queued at once.
            if not exp.retry_pending(exception) and self._pause_on_failure():
                # Paused before the outcome is announced, so no queued job slips in first.
                self.running.clear()
                logger.warning("Queue paused after %s failed; resume to continue.", exp.title, extra=about)
        if result is not None and status is not ExpStatus.FAILED:
            self.result_q.put(result)  # as in CustomXepr: there before the experiment is announced done
        try:
            self.job_q.job_done(status, result, exception=exception)
        except BaseException:
            if self.job_q.running_experiment is exp:
                raise  # the queue still holds it as running, so no job could start again
            logger.exception("Announcing the outcome of %s raised; the worker carries on", exp.title, extra=about)

    def _call(self, exp: Experiment) -> Any:
        result = exp.func(*exp.args, **exp.kwargs)
        if inspect.iscoroutine(result):
            return self._run_coroutine(exp, result)
        return result

    def _outcome(self, exp: Experiment, exception: BaseException | None) -> ExpStatus:
        """The status ``exp`` ends with; from here on an abort request for it is refused.
        Clears the abort events (also those registered during the job)."""
        events = self.abort_events
        event_set = any(event.is_set() for event in events)
        with self._state_lock:
            self._closing = exp
            aborted = event_set or self._abort_target is exp or isinstance(exception, Aborted)
        self._clear_abort(events)
        if aborted:
            return ExpStatus.ABORTED
        return ExpStatus.FAILED if exception is not None else ExpStatus.FINISHED

    def _run_cleanups(self, exp: Experiment) -> None:
        """Run the experiment's own cleanup, then each ``on_abort`` callback. One that
        raises is logged (and so emailed) and the next one runs."""
        for cleanup in (exp.cleanup, *self.on_abort):
            if cleanup is None:
                continue
            try:
                cleanup(exp)
            except BaseException:
                name = getattr(cleanup, "__qualname__", None) or repr(cleanup)
                logger.exception("The cleanup %s after %s raised; the worker carries on", name, exp.title)

    # -- async def jobs --------------------------------------------------------------

    def _run_coroutine(self, exp: Experiment, coroutine) -> Any:
        if self._loop is None:
            # One loop for every async job, so a driver's connection can outlive a job.
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
        loop = self._loop
        task = loop.create_task(coroutine)
        with self._call_lock:
            self._task = task
        if self._abort_target is exp:  # aborted as it started, before the task existed
            task.cancel()
        try:
            return loop.run_until_complete(task)
        finally:
            with self._call_lock:
                self._task = None
            if not task.done():  # a ForcedAbort landed in the loop itself: start afresh next time
                task.cancel()
                self._loop = None
                loop.close()

    def _close_event_loop(self) -> None:
        """Close the loop of the async jobs, if there is one; logs what goes wrong."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        except Exception:
            logger.exception("Closing the event loop of the async jobs failed")


def _is_abort(exception: BaseException) -> bool:
    """True for the exceptions an abort itself raises in a job."""
    return isinstance(exception, Aborted | asyncio.CancelledError)
