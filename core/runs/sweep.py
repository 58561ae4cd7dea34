"""Sweeps: one call or command over many parameter sets, as a group of experiments."""

from __future__ import annotations

import concurrent.futures
import inspect
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..engine import INSTRUMENT_LANE, PROCESS_LANE, Experiment, ExpStatus
from .groups import SweepGroup

if TYPE_CHECKING:  # the manager builds on this package; only its type is named here
    from ..manager import Manager

__all__ = ["RunStatistics", "RunStatus", "Sweep", "parameter_sets", "queue_sweep", "run_status"]

RunStatus = Literal["skipped", "pending", "running", "success", "failure"]

_RUN_STATUS: dict[ExpStatus, RunStatus] = {
    ExpStatus.QUEUED: "pending",
    ExpStatus.RUNNING: "running",
    ExpStatus.FINISHED: "success",
    ExpStatus.FAILED: "failure",
    ExpStatus.ABORTED: "failure",
    ExpStatus.CANCELLED: "failure",
    ExpStatus.INTERRUPTED: "failure",
}


def run_status(experiment: Experiment) -> RunStatus:
    """The sweep status of a run's experiment: pending, running, success or failure
    (failed, aborted, cancelled and interrupted runs all failed)."""
    return _RUN_STATUS[experiment.status]


@dataclass
class RunStatistics:
    """Statistical data about the runs (Karana's counts)."""

    skipped_count: int = 0
    pending_count: int = 0
    running_count: int = 0
    success_count: int = 0
    failure_count: int = 0
    complete_count: int = 0
    total_count: int = 0

    @classmethod
    def of(cls, statuses: Iterable[RunStatus]) -> RunStatistics:
        stats = cls()
        for status in statuses:
            setattr(stats, f"{status}_count", getattr(stats, f"{status}_count") + 1)
            stats.total_count += 1
        stats.complete_count = stats.skipped_count + stats.success_count + stats.failure_count
        return stats


def parameter_sets(grid: Mapping[str, Iterable] | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The parameter sets of ``grid``: a dict of lists gives their cartesian product (the
    last key varies fastest), a list of dicts gives each as it is (equal ones included).

    Raises TypeError for anything else, ValueError when there is no parameter set.
    """
    if isinstance(grid, Mapping):
        names = [str(name) for name in grid]
        values = []
        for name, options in grid.items():
            if isinstance(options, str | bytes) or not isinstance(options, Iterable):
                raise TypeError(f"the grid's {name!r} must be a list of values, not {type(options).__name__}")
            values.append(list(options))
        sets = [dict(zip(names, combination, strict=True)) for combination in itertools.product(*values)]
    elif isinstance(grid, Iterable) and not isinstance(grid, str | bytes):
        sets = []
        for position, params in enumerate(grid):
            if not isinstance(params, Mapping):
                raise TypeError(f"run {position} of the grid must be a dict of parameters, not {type(params).__name__}")
            sets.append(dict(params))
    else:
        raise TypeError(f"a grid is a dict of lists or a list of dicts, not {type(grid).__name__}")
    if not sets:
        raise ValueError("the grid has no parameter set")
    return sets


class Sweep:
    """The experiments of one sweep, in parameter order, with their group."""

    def __init__(self, group: SweepGroup, experiments: list[Experiment], params: list[dict[str, Any]]) -> None:
        self.group = group
        self.experiments = experiments
        self.params = params

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every run has ended; False if ``timeout`` passed first."""
        _, not_done = concurrent.futures.wait(self.experiments, timeout)
        return not not_done

    def results(self, timeout: float | None = None) -> list[Any]:
        """Every run's result, in order. Raises the first failed run's exception
        (CancelledError for an aborted or cancelled one), TimeoutError past ``timeout``."""
        return [exp.result(timeout) for exp in self.experiments]

    def statistics(self) -> RunStatistics:
        return RunStatistics.of(run_status(exp) for exp in self.experiments)

    def __repr__(self) -> str:
        return f"<Sweep {self.group.title}: {self.statistics()}>"


def queue_sweep(
    manager: Manager,
    func: Callable,
    grid: Mapping[str, Iterable] | Iterable[Mapping[str, Any]],
    *,
    isolate: bool = False,
    max_parallel: int | None = None,
    title: str | None = None,
    lane: str | None = None,
) -> Sweep:
    """What :meth:`Manager.sweep` does: one experiment ``func(**params)`` per parameter set."""
    if not callable(func):
        raise TypeError(f"a sweep needs a callable, got {type(func).__name__}")
    if max_parallel is not None and max_parallel < 1:
        raise ValueError(f"max_parallel must be at least 1, not {max_parallel}")
    params = parameter_sets(grid)
    name = getattr(func, "__qualname__", None) or type(func).__name__
    _check_parameters(func, name, params)
    lane = lane or (PROCESS_LANE if isolate else INSTRUMENT_LANE)
    group = SweepGroup(
        title=title or f"{name} × {len(params)}",
        kind="sweep",
        max_parallel=max_parallel if lane != INSTRUMENT_LANE else None,
        lane=lane,
    )
    manager.add_group(group)
    experiments = [Experiment(func, (), p, lane=lane, group_id=group.id) for p in params]
    manager.job_queue.put_many(experiments)
    return Sweep(group, experiments, params)


def _check_parameters(func: Callable, name: str, params: list[dict[str, Any]]) -> None:
    """Refuse, before anything is queued, a grid with a key ``func`` does not take or
    that leaves one of its parameters without a value: else every run would fail."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without one: its runs say what is wrong
        return
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for keys in dict.fromkeys(tuple(p) for p in params):
        unknown = [] if accepts_any else [key for key in keys if key not in signature.parameters]
        if unknown:
            raise TypeError(
                f"{name}{signature} takes no parameter {', '.join(map(repr, unknown))}, which the sweep sets"
            )
        try:
            signature.bind(**dict.fromkeys(keys))
        except TypeError as exc:
            raise TypeError(f"the sweep does not give {name}{signature} all it needs: {exc}") from None
