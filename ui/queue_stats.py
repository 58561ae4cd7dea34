"""Counts per status, duration estimates and the time left, kept up to date cheaply.

The ended experiments of an :class:`~core.ExperimentQueue` (its history and the
cancelled ones) only ever grow at their end, so each update looks only at the
experiments that joined them since the last one: the cost follows the number of
changes, not the size of the queue.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from operator import attrgetter

from labqueue.core import Experiment, ExpStatus
from labqueue.core.engine import QueueSnapshot

__all__ = ["DurationEstimator", "QueueStats"]

_func_of = attrgetter("func")
_status_of = attrgetter("status")
#: New experiments taken in per update (a few milliseconds of work).
_CHUNK = 10_000
_ENDED = [status for status in ExpStatus if status.is_terminal]


class DurationEstimator:
    """Mean duration of the last finished runs of each function (by qualified name)."""

    def __init__(self, window: int = 50) -> None:
        self.window = window
        self._durations: dict[str, deque[float]] = {}

    def add(self, func_name: str, seconds: float) -> None:
        self._durations.setdefault(func_name, deque(maxlen=self.window)).append(seconds)

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
        self._func_names: dict[Callable, str] = {}  # Experiment.func_name, looked up once per function
        self._reset()

    def _reset(self) -> None:
        self._history_counts: Counter[ExpStatus] = Counter()
        self._history_seen = 0
        self._queued_members: set[Experiment] = set()
        self._queued_funcs: Counter[Callable] = Counter()
        self._queued_size = 0
        self._running: Experiment | None = None
        self._incoming: list[Experiment] = []  # new experiments not taken in yet

    def update(self, snapshot: QueueSnapshot, inserted: list[Experiment]) -> None:
        """Take in ``snapshot``; ``inserted`` are the experiments new since the last one.

        Bulk work runs in set and Counter operations, not in a Python loop per
        experiment, and at most :data:`_CHUNK` new experiments are taken in per call:
        after 100,000 puts at once the time left is complete a few frames later,
        rather than one frame taking long.
        """
        experiments = snapshot.experiments
        if snapshot.ended_size < self._history_seen:  # a different queue: start over
            self._reset()
            inserted = experiments
        self._queued_size = len(experiments) - snapshot.first_queued
        self._incoming.extend(inserted)
        batch = self._incoming[:_CHUNK]
        del self._incoming[:_CHUNK]
        # Every new one counts as queued; those that already ran or were cancelled are
        # in the history part, read below, which takes them out again. So the history
        # is read only once every new one is in.
        self._queued_members.update(batch)
        self._queued_funcs.update(map(_func_of, batch))
        for func, exp in dict(zip(map(_func_of, batch), batch, strict=True)).items():
            if func not in self._func_names:
                self._func_names[func] = exp.func_name
        if self._incoming:
            return
        self._take_in_history(experiments[self._history_seen : snapshot.ended_size])
        running = snapshot.running
        if running is not None:
            self._leave_queued([running])
        self._running = running

    def _take_in_history(self, entries: list[Experiment]) -> None:
        statuses = list(map(_status_of, entries))
        # An entry whose outcome is still being announced reads QUEUED or RUNNING for
        # a moment: count up to it now, and it and the rest next time.
        end = len(statuses)
        for unfinished in (ExpStatus.QUEUED, ExpStatus.RUNNING):
            if unfinished in statuses:
                end = min(end, statuses.index(unfinished))
        entries, statuses = entries[:end], statuses[:end]
        self._history_seen += end
        # list.count compares by identity in C; a Counter would hash each enum in Python.
        for status in _ENDED:
            self._history_counts[status] += statuses.count(status)
        self._leave_queued(entries)
        # Newest first, and per function only as many as the estimator keeps.
        sampled: Counter[str] = Counter()
        for exp, status in zip(reversed(entries), reversed(statuses), strict=True):
            if status is ExpStatus.FINISHED:
                name = self._func_name(exp.func)
                if sampled[name] < self.estimator.window:
                    self.estimator.add(name, exp.duration or 0.0)
                    sampled[name] += 1

    def _leave_queued(self, experiments: list[Experiment]) -> None:
        left = self._queued_members.intersection(experiments)
        if left:
            self._queued_members.difference_update(left)
            self._queued_funcs -= Counter(map(_func_of, left))  # also drops the functions with none left

    def _func_name(self, func: Callable) -> str:
        return self._func_names[func]  # named when its first experiment came in

    @property
    def catching_up(self) -> bool:
        """True while new experiments wait to be taken in (call :meth:`update` again)."""
        return bool(self._incoming)

    @property
    def counts(self) -> dict[ExpStatus, int]:
        """Number of experiments per status (statuses with none are left out)."""
        counts = {ExpStatus.QUEUED: self._queued_size, ExpStatus.RUNNING: int(self._running is not None)}
        counts.update(self._history_counts)
        return {status: counts[status] for status in ExpStatus if counts.get(status)}

    def estimate(self, exp: Experiment) -> float | None:
        """Expected duration of ``exp`` from earlier runs of the same function."""
        return self.estimator.estimate(self._func_name(exp.func))

    def time_left(self) -> tuple[float, int]:
        """Seconds until the queue is empty, and how many experiments have no estimate."""
        seconds, unknown = 0.0, 0
        for func, count in self._queued_funcs.items():
            estimate = self.estimator.estimate(self._func_name(func))
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
