"""Counts per status, duration estimates and the time left, kept up to date cheaply.

The history of an :class:`~core.ExperimentQueue` only ever grows at its end, so each
update looks only at the experiments that joined it since the last one: the cost
follows the number of changes, not the size of the queue.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable

from core import Experiment, ExpStatus
from core.experiment_queue import QueueSnapshot

__all__ = ["DurationEstimator", "QueueStats"]


class DurationEstimator:
    """Mean duration of the last finished runs of each function (by qualified name)."""

    def __init__(self, window: int = 50) -> None:
        self._window = window
        self._durations: dict[str, deque[float]] = {}

    def add(self, func_name: str, seconds: float) -> None:
        self._durations.setdefault(func_name, deque(maxlen=self._window)).append(seconds)

    def estimate(self, func_name: str) -> float | None:
        """Expected duration of one more run, or None if it never finished before."""
        durations = self._durations.get(func_name)
        if not durations:
            return None
        return sum(durations) / len(durations)


class QueueStats:
    """What the status bar shows: how many experiments are in each status, and how
    long the queued ones should take, fed with each snapshot the queue model applies."""

    def __init__(self) -> None:
        self.estimator = DurationEstimator()
        self._func_names: dict[Callable, str] = {}  # func_name is computed; one lookup per function
        self._reset()

    def _reset(self) -> None:
        self._history_counts: Counter[ExpStatus] = Counter()
        self._history_seen = 0
        self._queued_members: set[Experiment] = set()
        self._queued_funcs: Counter[str] = Counter()
        self._queued_size = 0
        self._running: Experiment | None = None

    def update(self, snapshot: QueueSnapshot, inserted: Iterable[Experiment]) -> None:
        """Take in ``snapshot``; ``inserted`` are the experiments new since the last one."""
        experiments = snapshot.experiments
        if snapshot.history_size < self._history_seen:  # a different queue: start over
            self._reset()
            inserted = experiments
        for exp in inserted:
            if exp.status is ExpStatus.QUEUED and exp not in self._queued_members:
                self._queued_members.add(exp)
                self._queued_funcs[self._func_name(exp)] += 1
        seen = self._history_seen
        while seen < snapshot.history_size:
            exp = experiments[seen]
            status = exp.status
            if not status.is_terminal:  # its outcome is being announced; count it next time
                break
            self._history_counts[status] += 1
            if status is ExpStatus.FINISHED and exp.duration is not None:
                self.estimator.add(exp.func_name, exp.duration)
            self._leave_queued(exp)
            seen += 1
        self._history_seen = seen
        if snapshot.running is not None:
            self._leave_queued(snapshot.running)
        self._running = snapshot.running
        self._queued_size = len(experiments) - snapshot.first_queued

    def _leave_queued(self, exp: Experiment) -> None:
        if exp in self._queued_members:
            self._queued_members.discard(exp)
            name = self._func_name(exp)
            self._queued_funcs[name] -= 1
            if not self._queued_funcs[name]:
                del self._queued_funcs[name]

    def _func_name(self, exp: Experiment) -> str:
        name = self._func_names.get(exp.func)
        if name is None:
            name = self._func_names[exp.func] = exp.func_name
        return name

    @property
    def counts(self) -> dict[ExpStatus, int]:
        """Number of experiments per status (statuses with none are left out)."""
        counts = {ExpStatus.QUEUED: self._queued_size, ExpStatus.RUNNING: int(self._running is not None)}
        counts.update(self._history_counts)
        return {status: counts[status] for status in ExpStatus if counts.get(status)}

    def estimate(self, exp: Experiment) -> float | None:
        """Expected duration of ``exp`` from earlier runs of the same function."""
        return self.estimator.estimate(self._func_name(exp))

    def time_left(self) -> tuple[float, int]:
        """Seconds until the queue is empty, and how many experiments have no estimate."""
        seconds, unknown = 0.0, 0
        for func_name, count in self._queued_funcs.items():
            estimate = self.estimator.estimate(func_name)
            if estimate is None:
                unknown += count
            else:
                seconds += estimate * count
        running = self._running
        if running is not None:
            estimate = self.estimate(running)
            if estimate is None:
                unknown += 1
            else:
                seconds += max(0.0, estimate - (running.duration or 0.0))
        return seconds, unknown
