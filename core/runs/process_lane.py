"""The process lane: command runs and isolated calls, several at once, each in a process of its own."""

from __future__ import annotations

import logging
import queue as std_queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ..engine import PROCESS_LANE, Aborted, Experiment, ExperimentQueue, ExpStatus, failure_message, format_failure
from .command import RunControl, command_of
from .isolated import IsolatedRun, Relay
from .lane import LaneStatistics, QueueLane
from .spawner import RunSupervisor

__all__ = ["DEFAULT_KILL_GRACE_S", "ProcessLane"]

logger = logging.getLogger("labqueue")

#: Seconds between SIGTERM and SIGKILL when a run is aborted.
DEFAULT_KILL_GRACE_S = 5.0


class ProcessLane(QueueLane):
    """Runs the queue's process-lane experiments in up to ``slots`` processes at once.

    Each slot is a thread that takes the next experiment of the lane from the queue
    (in queue order, skipping those of a sweep already at its own ``max_parallel``),
    runs it as a command (:class:`~.command.CommandCall`) or an isolated call, and
    completes it on the queue. No experiment starts while ``running`` is clear
    (paused); a running isolated call's ``checkpoint()`` waits then too. The processes
    are started by one :class:`~.spawner.RunSupervisor`, so none outlives labqueue.

    Args:
        queue: the queue to take experiments from.
        running: the manager's event, set while experiments may start.
        result_queue: receives each non-None result, as the worker's do.
        relay: where isolated calls' progress, data and log records go.
        slots: experiments that may run at once (at least 1).
        kill_grace: seconds from SIGTERM to SIGKILL on abort or timeout.
        group_limit: ``group_limit(group_id)`` is the sweep's own limit, or None.
        pause_on_failure: ``pause_on_failure(experiment)`` says whether its failure pauses the queue.
        isolated_folder: ``isolated_folder(experiment)`` is where an isolated call's output files go.
        checkpoints_wait: ``checkpoints_wait()`` says whether a running isolated call's
            ``checkpoint()`` waits (default: while ``running`` is clear).
    """

    name = PROCESS_LANE

    def __init__(
        self,
        queue: ExperimentQueue,
        running: threading.Event,
        *,
        result_queue: std_queue.Queue,
        relay: Relay,
        slots: int,
        kill_grace: float = DEFAULT_KILL_GRACE_S,
        group_limit: Callable[[str], int | None] = lambda group_id: None,
        pause_on_failure: Callable[[Experiment], bool] = lambda experiment: False,
        isolated_folder: Callable[[Experiment], Path],
        checkpoints_wait: Callable[[], bool] | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError(f"a lane needs at least one slot, not {slots}")
        self._queue = queue
        self._running = running
        self._result_queue = result_queue
        self._relay = relay
        self._slots = slots
        self.kill_grace = kill_grace
        self._group_limit = group_limit
        self._pause_on_failure = pause_on_failure
        self._isolated_folder = isolated_folder
        # Whether a running isolated call's checkpoint() waits: while paused, unless the
        # pause lets the running experiments finish first.
        self._checkpoints_wait = checkpoints_wait or (lambda: not running.is_set())
        self._supervisor = RunSupervisor()
        self._lock = threading.Lock()
        self._active: dict[Experiment, tuple[RunControl, IsolatedRun | None]] = {}
        self._running_in_group: Counter[str] = Counter()
        self._ended: Counter[ExpStatus] = Counter()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stopping = False

    # -- the lane interface ------------------------------------------------------------

    def kill(self, experiment: Experiment) -> bool:
        """SIGTERM to the group of the running ``experiment``, SIGKILL after :attr:`kill_grace`
        (an isolated call's ``checkpoint()`` raises Aborted in between). It ends ABORTED.
        False if it is not running on this lane."""
        with self._lock:
            entry = self._active.get(experiment)
        if entry is None:
            return False
        entry[0].abort()
        return True

    def statistics(self) -> LaneStatistics:
        with self._lock:
            return LaneStatistics(
                self.name,
                self._slots,
                len(self._active),
                self._ended[ExpStatus.FINISHED],
                self._ended[ExpStatus.FAILED],
                self._ended[ExpStatus.ABORTED],
            )

    @property
    def slots(self) -> int:
        return self._slots

    def ensure_slots(self, slots: int) -> None:
        """Have at least ``slots`` slots (a sweep asked for that many at once)."""
        with self._lock:
            if slots <= self._slots:
                return
            self._slots = slots
            if self._started:
                self._start_threads()
        self._queue.wake()

    def running_experiments(self) -> list[Experiment]:
        with self._lock:
            return list(self._active)

    def start(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                self._start_threads()

    def stop(self, abort_running: bool = True, timeout: float | None = None) -> None:
        """Start nothing more; abort what runs (if asked); wait up to ``timeout`` for the
        slots to finish; then kill whatever still runs."""
        self._stopping = True
        self._queue.wake()
        if abort_running:
            with self._lock:
                controls = [control for control, _ in self._active.values()]
            for control in controls:
                control.abort()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self._threads):
            if thread is not threading.current_thread():  # a run's done-callback may stop its own lane
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._supervisor.close()

    def follow_running(self) -> None:
        """The manager was paused or resumed: tell the running isolated calls, and wake the slots."""
        paused = self._checkpoints_wait()
        with self._lock:
            isolated = [run for _, run in self._active.values() if run is not None]
        for run in isolated:
            run.set_paused(paused)
        self._queue.wake()

    # -- the slots ---------------------------------------------------------------------

    def _start_threads(self) -> None:
        for index in range(len(self._threads), self._slots):
            thread = threading.Thread(target=self._serve, args=(index,), name=f"labqueue-lane-{index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, index: int) -> None:
        def may_start() -> bool:
            return self._running.is_set() and index < self._slots

        while True:
            exp = self._queue.wait_next_lane_job(self.name, may_start, lambda: self._stopping, self._claim)
            if exp is None:
                return
            self._execute(exp)

    def _claim(self, experiment: Experiment) -> bool:
        """Under the queue's journal order: True takes ``experiment`` (it starts at once), False
        leaves it queued while its sweep has as many running as it allows."""
        group_id = experiment.group_id
        if group_id is None:
            return True
        limit = self._group_limit(group_id)
        with self._lock:
            if limit is not None and self._running_in_group[group_id] >= limit:
                return False
            self._running_in_group[group_id] += 1
        return True

    def _execute(self, exp: Experiment) -> None:
        control = RunControl(self.kill_grace)
        call = command_of(exp)
        isolated = None if call is not None else IsolatedRun(exp, self._isolated_folder(exp), self._relay)
        with self._lock:
            self._active[exp] = (control, isolated)
        result = exception = None
        try:
            if call is not None:
                result = call.run(exp.id, self._supervisor, control)
            else:
                result = isolated.run(self._supervisor, control, paused=self._checkpoints_wait())
        except BaseException as exc:  # the lane outlives anything a run raises, as the worker does
            exception = exc
            if exp.traceback is None:  # an isolated call's own traceback came from its process
                exp.traceback = format_failure(exc)  # bounded: the exception may carry a huge payload
        finally:
            with self._lock:
                del self._active[exp]
                if exp.group_id is not None:
                    self._running_in_group[exp.group_id] -= 1
        if isinstance(exception, Aborted) or control.aborted:
            status = ExpStatus.ABORTED
        elif exception is not None:
            status = ExpStatus.FAILED
        else:
            status = ExpStatus.FINISHED
        if status is ExpStatus.FAILED and self._pause_on_failure(exp):
            self._running.clear()  # before the outcome is announced, as the worker does
            logger.warning("Queue paused after %s failed; resume to continue.", exp.title)
        with self._lock:
            self._ended[status] += 1
        if result is not None and status is ExpStatus.FINISHED:
            self._result_queue.put(result)  # as the worker does: there before the experiment is announced done
        try:
            self._queue.lane_job_done(exp, status, result, exception=exception, looks_again=True)
        except Exception:
            logger.exception("Could not record the outcome of %s", exp.title)
        if status is ExpStatus.FAILED:
            logger.error("%s failed: %s", exp.title, failure_message(exception))
