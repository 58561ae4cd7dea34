"""Watching a run for the scientist: a summary when the queue runs dry, and a warning
when a running experiment goes quiet for too long. Both are opt-in."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

from ..engine import INTERNAL_PRIORITY, Experiment, ExpStatus, failure_message
from ..manager import Manager

__all__ = ["QueueDoneNotifier", "StallWatchdog", "quiet_seconds", "status_tally"]

watchdog_logger = logging.getLogger("labqueue.watchdog")


def status_tally(statuses: list[ExpStatus]) -> str:
    """How many of each status, e.g. "3 finished, 1 failed" (empty when there are none)."""
    return ", ".join(f"{statuses.count(s)} {s.name.lower()}" for s in ExpStatus if s in statuses)


def _outcome_line(exp: Experiment) -> str:
    duration = exp.duration
    took = f"{duration:9.1f} s" if duration is not None else "        - "
    line = f"{exp.status.label:<11} {took}  {exp.title}"
    if exp.status is ExpStatus.FAILED:
        error = exp.exception()
        line += f"  ({type(error).__name__}: {failure_message(error)})"
    return line


class QueueDoneNotifier:
    """Sends ``send(subject, body)`` once the queue is done after experiments ran.

    "Done" means nothing runs and nothing queued will start without a human: the
    queue is empty, or what is left waits for an interrupted upstream to be requeued
    or for its paused sweep (the summary lists those and why). A paused queue with
    jobs left is not done (a summary follows when those are run or cleared).
    """

    def __init__(self, manager: Manager, send: Callable[[str, str], None], host_name: str | None = None) -> None:
        self._manager = manager
        self._send = send
        self._host = host_name or socket.gethostname()
        self._ran: list[Experiment] = []
        self._lock = threading.Lock()
        manager.job_queue.status_changed_signal.connect(self._on_status_changed, priority=INTERNAL_PRIORITY)
        manager.job_queue.removed_signal.connect(self._on_removed, priority=INTERNAL_PRIORITY)

    def close(self) -> None:
        self._manager.job_queue.status_changed_signal.disconnect(self._on_status_changed)
        self._manager.job_queue.removed_signal.disconnect(self._on_removed)

    def _on_status_changed(self, index: int, status: ExpStatus, exp: Experiment) -> None:
        if status is ExpStatus.RUNNING:
            with self._lock:
                self._ran.append(exp)
        elif status.is_terminal:
            self._send_if_done()

    def _on_removed(self, i_start: int, n_items: int, experiments: list[Experiment]) -> None:
        self._send_if_done()

    def _send_if_done(self) -> None:
        queue = self._manager.job_queue
        with self._lock:
            if not self._ran or queue.has_running():
                return
            waiting = queue.waiting_for_someone() if queue.has_queued() else []
            if waiting is None or (waiting and self._manager.paused):
                return
            ran, self._ran = self._ran, []
        tally = status_tally([e.status for e in ran])
        subject = f"[labqueue] {self._host}: queue done, {tally}"
        if not waiting:
            lines = [f"labqueue on {self._host}: the queue is empty. {len(ran)} experiment(s) ran: {tally}.", ""]
        else:
            subject += f"; {len(waiting)} waiting for you"
            lines = [
                f"labqueue on {self._host}: nothing more runs without you. {len(ran)} experiment(s) ran: {tally}.",
                f"{len(waiting)} queued experiment(s) wait for you:",
                *(f"  {exp.title}: {why}" for exp, why in waiting),
                "",
            ]
        self._send(subject, "\n".join(lines + [_outcome_line(e) for e in ran]) + "\n")


def quiet_seconds(exp: Experiment, progress_at: float | None, now: float) -> float:
    """Seconds since ``exp`` last showed life: it started, reported progress
    (at ``progress_at``) or logged a line."""
    moments = [exp.started_at or now]
    if progress_at is not None:
        moments.append(progress_at)
    if exp.last_log_at is not None:
        moments.append(exp.last_log_at)
    return now - max(moments)


class StallWatchdog:
    """Logs a warning (which the email handler sends on) when the running experiment
    reports no progress and logs nothing for ``stall_seconds``, and calls
    ``on_stall(experiment, quiet_seconds)`` (on its own thread). It warns once per
    silence: any sign of life re-arms it."""

    def __init__(
        self,
        manager: Manager,
        stall_seconds: float,
        *,
        clock: Callable[[], float] = time.time,
        on_stall: Callable[[Experiment, float], None] | None = None,
    ):
        self._manager = manager
        self._stall = float(stall_seconds)
        self._clock = clock
        self._on_stall = on_stall
        self._changed = threading.Condition()
        self._progress: tuple[str, float] | None = None  # (experiment id, when)
        self._warned: tuple[str, float] | None = None  # (experiment id, last sign of life)
        self._stopped = False
        manager.progress_signal.connect(self._on_activity, priority=INTERNAL_PRIORITY)
        manager.job_queue.status_changed_signal.connect(self._on_activity, priority=INTERNAL_PRIORITY)
        self._thread = threading.Thread(target=self._run, name="labqueue-watchdog", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._manager.progress_signal.disconnect(self._on_activity)
        self._manager.job_queue.status_changed_signal.disconnect(self._on_activity)
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._thread.join()

    def _on_activity(self, *args) -> None:
        exp = self._manager.job_queue.running_experiment
        with self._changed:
            if exp is not None and args and args[0] is exp:  # progress_signal(exp, ...)
                self._progress = (exp.id, self._clock())
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._stopped:
                    return
                stalled = self._stalled_experiment()
                if stalled is None:
                    continue
            exp, quiet = stalled
            watchdog_logger.warning(
                "%s has reported no progress and logged nothing for %s",
                exp.title,
                f"{quiet:.1f} s" if quiet < 120 else f"{quiet / 60:.0f} minutes",
                extra={"experiment_id": exp.id[:8], "experiment_title": exp.title},
            )
            if self._on_stall is not None:
                try:
                    self._on_stall(exp, quiet)
                except Exception:  # a broken listener must not stop the watchdog
                    watchdog_logger.exception("A stall listener failed")

    def _stalled_experiment(self) -> tuple[Experiment, float] | None:
        """Under the lock: the running experiment if it has just gone quiet too long;
        otherwise waits until it might have (or until something happens)."""
        exp = self._manager.job_queue.running_experiment
        if exp is None:
            self._changed.wait()
            return None
        progress_at = self._progress[1] if self._progress and self._progress[0] == exp.id else None
        now = self._clock()
        quiet = quiet_seconds(exp, progress_at, now)
        silence = (exp.id, now - quiet)
        if quiet < self._stall:
            self._changed.wait(self._stall - quiet)
        elif self._warned == silence:
            self._changed.wait(self._stall)  # log lines wake nobody: look again later
        else:
            self._warned = silence
            return exp, quiet
        return None
