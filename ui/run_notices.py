"""Which notice the banner above the queue shows: the one reason, true now, that the
queue is not doing what the scientist expects.

In order: the worker died; a failure paused the queue; the running experiment went
quiet (the stall watchdog said so); unfinished work came back from the journal and
waits. Each notice goes away as soon as it stops being true: Resume, a requeue, a
sign of life, the experiment ending.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape

from labqueue.core import Experiment, Manager, WorkerState

from .display_text import error_text
from .inbox import drain
from .notice_banner import Notice, NoticeButton, NoticeKind, bold
from .queue_stats import QueueStats

__all__ = ["NoticeActions", "RunNotices"]


@dataclass
class NoticeActions:
    """What the banner's buttons do (the window's own actions)."""

    resume: Callable[[], None]
    abort: Callable[[], None]
    show_traceback: Callable[[Experiment], None]
    show_log: Callable[[Experiment | None], None]


@dataclass(frozen=True)
class _Stall:
    experiment: Experiment
    silent_since: float  # POSIX time of its last sign of life
    log_count: int


class RunNotices:
    """Keeps what the notices depend on and gives the one to show (:meth:`current`)."""

    def __init__(self, manager: Manager, stats: QueueStats, actions: NoticeActions) -> None:
        self._manager = manager
        self._stats = stats
        self._actions = actions
        self._stall_reports: deque[_Stall] = deque()
        self._stall: _Stall | None = None
        # A failure is acknowledged once the queue is seen running after it.
        self._acknowledged_failure: Experiment | None = None
        self._requeued: set[str] = set()  # ids requeued from a notice
        restored = manager.restored
        self._restored_waiting = manager.paused and bool(restored.queued or restored.interrupted)

    def report_stall(self, experiment: Experiment, quiet_seconds: float) -> None:
        """The watchdog found ``experiment`` quiet for ``quiet_seconds`` (any thread)."""
        self._stall_reports.append(_Stall(experiment, time.time() - quiet_seconds, experiment.log_count))

    def current(self, progress_changed: bool) -> Notice | None:
        """The notice true now (GUI thread, once per frame); ``progress_changed``: a
        job reported progress since the last frame (a sign of life)."""
        manager, stats = self._manager, self._stats
        state = manager.state
        running = manager.job_queue.running_experiment
        if not manager.paused:
            self._acknowledged_failure = stats.last_failed
            self._restored_waiting = False
        reports = drain(self._stall_reports)
        if reports:
            self._stall = reports[-1]
        stall = self._stall
        if stall is not None and (
            progress_changed or stall.experiment is not running or stall.experiment.log_count != stall.log_count
        ):
            self._stall = stall = None

        if state is WorkerState.DEAD:
            return self._dead_worker()
        failed = stats.last_failed
        if (
            manager.paused
            and manager.pause_on_failure
            and failed is not None
            and failed is not self._acknowledged_failure
            and state is not WorkerState.STOPPED
        ):
            return self._failure(failed)
        if stall is not None:
            return self._stalled(stall)
        if self._restored_waiting:
            return self._restored()
        return None

    # -- the notices -------------------------------------------------------------------

    def _dead_worker(self) -> Notice:
        return Notice(
            NoticeKind.DEAD_WORKER,
            "<b>The worker has stopped unexpectedly</b>: no experiment will run. The queue is kept "
            "in the journal; the log says what happened. Restart labqueue to go on.",
            (NoticeButton("Show log", "Show the log pane", lambda: self._actions.show_log(None)),),
            ("dead",),
        )

    def _failure(self, failed: Experiment) -> Notice:
        requeued = failed.id in self._requeued
        text = f"<b>Queue paused</b>: {bold(failed.title)} failed: {escape(error_text(failed.exception(timeout=0)))}"
        if requeued:
            text += " A copy is queued to run next."
        buttons = [NoticeButton("Resume", "Run the queued experiments again", self._actions.resume)]
        if not requeued:
            buttons.append(
                NoticeButton(
                    "Requeue it",
                    "Queue a copy of it to run next (the queue stays paused until Resume)",
                    lambda: self._requeue_next(failed),
                )
            )
        buttons.append(
            NoticeButton(
                "Show traceback", "Select it and show its traceback", lambda: self._actions.show_traceback(failed)
            )
        )
        return Notice(NoticeKind.FAILURE, text, tuple(buttons), ("failure", failed.id, requeued))

    def _stalled(self, stall: _Stall) -> Notice:
        exp = stall.experiment
        since = datetime.fromtimestamp(stall.silent_since)
        return Notice(
            NoticeKind.STALL,
            f"{bold(exp.title)} has reported no progress and logged nothing since {since:%H:%M}: "
            "it may be stuck on an instrument.",
            (
                NoticeButton("Abort", "Abort the running experiment", self._actions.abort),
                NoticeButton(
                    "Show its log", "Select it and show the lines it logged", lambda: self._actions.show_log(exp)
                ),
            ),
            ("stall", exp.id, stall.log_count),
        )

    def _restored(self) -> Notice | None:
        restored = self._manager.restored
        waiting = self._manager.job_queue.qsize("queued")
        interrupted = [exp for exp in restored.interrupted if exp.id not in self._requeued]
        parts = []
        if waiting:
            parts.append(f"{waiting:,} queued experiment{'s' if waiting != 1 else ''} came back from the journal")
        if interrupted:
            one = len(interrupted) == 1
            parts.append(
                f"{bold(interrupted[0].title) if one else f'{len(interrupted)} experiments'} "
                f"{'was' if one else 'were'} running when labqueue stopped and came back interrupted"
            )
        if not parts:  # all run, cleared or requeued: nothing waits any more
            self._restored_waiting = False
            return None
        text = "; ".join(parts) + ". <b>The queue is paused</b>: Resume when you have looked."
        buttons = [NoticeButton("Resume", "Run the queued experiments", self._actions.resume)]
        if interrupted:
            buttons.append(
                NoticeButton(
                    "Requeue interrupted",
                    "Queue a copy of each interrupted experiment to run next",
                    lambda: [self._requeue_next(exp) for exp in reversed(interrupted)],
                )
            )
        return Notice(NoticeKind.RESTORED, text, tuple(buttons), ("restored", waiting, len(interrupted)))

    def _requeue_next(self, exp: Experiment) -> None:
        queue = self._manager.job_queue
        again = queue.requeue(exp)
        queue.move(again, 0)
        self._requeued.add(exp.id)
