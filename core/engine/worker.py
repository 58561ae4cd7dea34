"""Worker: the background thread that runs queued experiments one after another."""

from __future__ import annotations

import logging
import queue as std_queue
import threading
from collections.abc import Callable, Sequence

from .bounded_text import format_failure
from .experiment import Aborted, Experiment, ExpStatus, _set_current
from .experiment_queue import ExperimentQueue

__all__ = ["Worker"]

logger = logging.getLogger("labqueue")


class Worker(threading.Thread):
    """Runs every call from ``job_q``, puts non-None results on ``result_q`` (before
    the experiment completes, as CustomXepr's worker did).

    The worker sleeps on the queue's condition while there is nothing to do, so a
    job put on an idle worker starts at once. It pauses between jobs while
    ``running`` is clear, and survives every exception a job raises, including
    ``SystemExit`` and ``KeyboardInterrupt``.

    Args:
        job_q: the queue to take experiments from.
        result_q: receives each non-None result.
        abort_events: events that mean "abort the running job" when set; a job that
            ends while any is set is ABORTED. All are cleared when each job ends.
        running: set while the worker may start jobs (cleared = paused).
        pause_on_failure: called after a FAILED job; pauses the worker if it returns True.
        manager: made current on the worker thread during each job (for
            ``checkpoint()``, ``publish()`` and friends).
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
    ) -> None:
        super().__init__(name="labqueue-worker", daemon=True)
        self.job_q = job_q
        self.result_q = result_q
        self._abort_events = abort_events
        self.running = running if running is not None else threading.Event()
        if running is None:
            self.running.set()
        self._pause_on_failure = pause_on_failure
        self._manager = manager
        self._stop_requested = False
        # Re-entrant: setting an abort event runs state slots, which may call abort_job().
        self._state_lock = threading.RLock()
        self.current: Experiment | None = None

    @property
    def abort_events(self) -> list[threading.Event]:
        events = self._abort_events
        return list(events() if callable(events) else events)

    def stop(self) -> None:
        """Ask the worker to exit after the current job (if any); does not wait."""
        self._stop_requested = True
        self.running.set()
        self.job_q.wake()

    def abort_current(self) -> bool:
        """Set the abort events if a job is running; False if there was none to abort."""
        with self._state_lock:
            if self.current is None:
                return False
            for event in self.abort_events:
                event.set()
            return True

    @staticmethod
    def _clear_abort(events: list[threading.Event]) -> None:
        for event in events:
            if event.is_set():  # clearing an unset event would still wake its watchers
                event.clear()

    def run(self) -> None:
        while not self._stop_requested:
            self.running.wait()
            exp = self.job_q.wait_next_job(self.running.is_set, lambda: self._stop_requested)
            if exp is not None:
                self._execute(exp)

    def _execute(self, exp: Experiment) -> None:
        abort_events = self.abort_events
        with self._state_lock:
            self._clear_abort(abort_events)  # an abort aimed at an earlier job must not hit this one
            self.current = exp
        _set_current(exp, self._manager)
        result = exception = None
        try:
            result = exp.func(*exp.args, **exp.kwargs)
        except BaseException as exc:  # the worker outlives SystemExit and KeyboardInterrupt too
            exception = exc
            exp.traceback = format_failure(exc)  # bounded: the exception may carry a huge payload
        finally:
            _set_current(None, None)
        with self._state_lock:
            aborted = isinstance(exception, Aborted) or any(e.is_set() for e in abort_events)
            self._clear_abort(abort_events)
            self.current = None
        if aborted:
            status = ExpStatus.ABORTED
        elif exception is not None:
            status = ExpStatus.FAILED
        else:
            status = ExpStatus.FINISHED
        if status is ExpStatus.FAILED and self._pause_on_failure():
            # Paused before the outcome is announced, so no queued job slips in first.
            self.running.clear()
            logger.warning("Queue paused after %s failed; resume to continue.", exp.title)
        if result is not None and status is not ExpStatus.FAILED:
            self.result_q.put(result)  # as in CustomXepr: there before the experiment is announced done
        try:
            self.job_q.job_done(status, result, exception=exception)
        except Exception:
            logger.exception("Could not record the outcome of %s", exp.title)
        if status is ExpStatus.FAILED:
            logger.error("%s failed:\n%s", exp.title, exp.traceback)
