"""The lane interface: a place where experiments of one lane name run.

The queue decides what is next; a lane takes its own experiments from it (those
whose ``lane`` is its ``name``) when it has room, runs them, and completes each on
the queue, so status, results, progress and log records come back the same way from
every lane. The process lane is one; a Dask lane would be another, beside it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Protocol

from ..engine import Experiment

__all__ = ["Lane", "LaneStatistics", "QueueLane"]


@dataclass(frozen=True)
class LaneStatistics:
    """What a lane is doing: its slots, how many run now, how many it ran since it started."""

    name: str
    slots: int
    running: int
    finished: int
    failed: int
    aborted: int


class Lane(Protocol):
    name: str

    def submit(self, experiment: Experiment) -> None:
        """Queue ``experiment`` to run on this lane (it takes it in queue order)."""

    def cancel(self, experiment: Experiment) -> bool:
        """Stop ``experiment``: cancel it while queued, kill it while running. True if it was either."""

    def kill(self, experiment: Experiment) -> bool:
        """Stop the running ``experiment`` now (it ends ABORTED); False if it is not running here."""

    def statistics(self) -> LaneStatistics: ...

    def start(self) -> None:
        """Start taking experiments from the queue."""

    def stop(self, abort_running: bool = True, timeout: float | None = None) -> None:
        """Take no more; abort what runs (if asked) and wait up to ``timeout`` for it to end."""


class QueueLane(abc.ABC):
    """What every lane of labqueue does the same way: experiments are submitted to the
    shared queue under the lane's name, and cancel is a queued cancel or a :meth:`kill`.
    A lane sets ``name`` and ``_queue`` and defines ``kill``."""

    name: str

    def submit(self, experiment: Experiment) -> None:
        """Queue ``experiment`` on this lane. Raises as :meth:`ExperimentQueue.put` does."""
        if experiment._queue is not None:  # refused as put() refuses it, before its lane changes under the queue
            raise ValueError(f"{experiment!r} is already queued")
        experiment.lane = self.name
        self._queue.put(experiment)

    def cancel(self, experiment: Experiment) -> bool:
        """Cancel ``experiment`` if queued, abort it if running here; True if either."""
        return experiment.cancel() or self.kill(experiment)

    @abc.abstractmethod
    def kill(self, experiment: Experiment) -> bool:
        """Stop the running ``experiment`` (each lane its own way); False if it is not running here."""
