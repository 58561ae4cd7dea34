"""Sweep rows of the queue table: a sweep's runs under one row that expands into them.

The table shows each sweep (the experiments that share a ``group_id``) as one row with
its counts, progress and time left, where the sweep is in the queue: at its first
running or queued run, or, once all its runs have ended, at the last one that ended.
Expanded, the row is followed by its runs in the order they were queued.
:func:`group_rows` turns a queue snapshot into the table's rows; the sweeps' runs are
handled one by one in Python, the other experiments only in slices (copied in C), so
a long queue of plain experiments with a few sweeps in it stays cheap.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping
from itertools import compress, repeat
from operator import attrgetter, not_, sub
from typing import NamedTuple

from labqueue.core import Experiment, ExpStatus
from labqueue.core.engine import QueueSnapshot
from labqueue.core.runs import SweepGroup

__all__ = ["GroupedRows", "SweepRow", "SweepRuns", "SweepSource", "find_sweep_runs", "group_rows", "update_sweeps"]

_group_of = attrgetter("group_id")
_requeued_from = attrgetter("requeued_from")
_status_of = attrgetter("status")
#: The time left is worked out from at most this many of a sweep's latest ended runs.
_TIME_LEFT_SAMPLE = 100


def _queue_order(exp: Experiment) -> tuple[float, float]:
    """When it was queued, then when it started: runs of one put start in their order."""
    return exp.queued_at or 0.0, exp.started_at if exp.started_at is not None else math.inf


#: What a sweep's Requeue queues again: its runs that did not finish.
REQUEUED_STATUSES = frozenset({ExpStatus.FAILED, ExpStatus.ABORTED, ExpStatus.INTERRUPTED, ExpStatus.CANCELLED})
# The counts on a group row, in this order, each only when not zero.
_COUNTED = (
    (ExpStatus.FINISHED, "done"),
    (ExpStatus.RUNNING, "running"),
    (ExpStatus.QUEUED, "queued"),
    (ExpStatus.FAILED, "failed"),
    (ExpStatus.INTERRUPTED, "interrupted"),
    (ExpStatus.ABORTED, "aborted"),
    (ExpStatus.CANCELLED, "cancelled"),
)


class SweepSource(NamedTuple):
    """Where the table learns about sweeps: the manager's groups, whether one is held,
    and how many runs the process lane runs at once (for the time left)."""

    groups: Callable[[], Mapping[str, SweepGroup]]
    is_held: Callable[[str], bool]
    slots: Callable[[], int]


class SweepRow:
    """One sweep's row: its runs and what the row shows of them, as of the last sync.

    ``members`` are every run of the sweep in the order queued, requeued copies and the
    runs they replaced included; the counts and the progress take only the latest
    attempt of each run.
    """

    __slots__ = (
        "counts",
        "expanded",
        "group",
        "group_id",
        "held",
        "id",
        "latest",
        "members",
        "time_left",
        "_ended_counted",
        "_ended_counts",
        "_known",
        "_latest_of",
        "_replaced",
    )

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.id = f"sweep:{group_id}"  # never an experiment's id: rows are looked up by id
        self.group: SweepGroup | None = None
        self.members: list[Experiment] = []
        self.latest: list[Experiment] = []
        self.counts: Counter[ExpStatus] = Counter()
        self.held = False
        self.time_left: float | None = None
        self.expanded = False
        self._known: set[Experiment] = set()  # the members, for finding new ones
        self._latest_of: list[Experiment] | None = None  # the members ``latest`` was picked from
        # The statuses of its first ``_ended_counted`` ended runs, less those of the
        # runs in ``_replaced`` (replaced by a requeued copy).
        self._ended_counted = 0
        self._ended_counts: Counter[ExpStatus] = Counter()
        self._replaced: set[str] = set()

    @property
    def title(self) -> str:
        return self.group.title if self.group is not None else f"sweep {self.group_id[:8]}"

    @property
    def total(self) -> int:
        return len(self.latest)

    @property
    def ended(self) -> int:
        return self.total - self.counts[ExpStatus.QUEUED] - self.counts[ExpStatus.RUNNING]

    @property
    def fraction(self) -> float:
        return self.ended / self.total if self.total else 0.0

    @property
    def is_active(self) -> bool:
        return bool(self.counts[ExpStatus.QUEUED] or self.counts[ExpStatus.RUNNING])

    @property
    def status(self) -> ExpStatus:
        """The status the row's icon and colour show: running or queued while it has
        such runs, then failed if any run did not finish, else finished."""
        for status in (ExpStatus.RUNNING, ExpStatus.QUEUED):
            if self.counts[status]:
                return status
        if any(self.counts[status] for status in REQUEUED_STATUSES):
            return ExpStatus.FAILED
        return ExpStatus.FINISHED

    @property
    def waits_held(self) -> bool:
        """Held with queued runs that wait for Resume sweep."""
        return self.held and bool(self.counts[ExpStatus.QUEUED])

    @property
    def status_text(self) -> str:
        if self.waits_held:
            return "Held"
        if self.status is ExpStatus.FAILED:
            return "Ended"  # with failures: the counts say which
        return self.status.label

    def counts_text(self) -> str:
        """``3 done · 1 running · 6 queued · 1 failed``, with ``held · `` in front when held."""
        parts = [f"{self.counts[status]:,} {word}" for status, word in _COUNTED if self.counts[status]]
        return ("held · " if self.held else "") + " · ".join(parts)

    def queued_members(self) -> list[Experiment]:
        return [exp for exp in self.members if exp.status is ExpStatus.QUEUED]

    def requeueable_members(self) -> list[Experiment]:
        """The latest attempts of its runs that did not finish."""
        return [exp for exp in self.latest if exp.status in REQUEUED_STATUSES]

    def first_time(self, attribute: str) -> float | None:
        times = [t for t in map(attrgetter(attribute), self.members) if t is not None]
        return min(times) if times else None

    def __repr__(self) -> str:
        return f"<SweepRow {self.title}: {self.counts_text()}>"


class SweepRuns(NamedTuple):
    """Where the sweeps' runs are among a snapshot's experiments: each experiment's
    group id (None for a plain one), and the indexes of the sweeps' runs, ascending."""

    group_ids: list[str | None]
    indexes: list[int]


def find_sweep_runs(experiments: list[Experiment]) -> SweepRuns:
    """The one pass over every experiment that reads its group id (done in C)."""
    group_ids = list(map(_group_of, experiments))
    return SweepRuns(group_ids, list(compress(range(len(group_ids)), group_ids)))


def update_sweeps(
    sweeps: dict[str, SweepRow], snapshot: QueueSnapshot, runs_at: SweepRuns, source: SweepSource
) -> None:
    """Bring ``sweeps`` (by group id; rows made for new groups, kept for gone ones) in
    line with the sweeps' runs in ``snapshot`` (found at ``runs_at``).

    Each sweep costs a few passes over the sweeps' runs, all in C (a sweep of 20,000
    runs is followed at every frame); nothing that is computed per run (a title, a
    duration) is asked of them all.
    """
    experiments = snapshot.experiments
    grouped = list(map(experiments.__getitem__, runs_at.indexes))
    group_ids = list(map(runs_at.group_ids.__getitem__, runs_at.indexes))
    ended_end = bisect_left(runs_at.indexes, snapshot.ended_size)
    ended_ids = group_ids[:ended_end]
    running_ids = group_ids[ended_end : bisect_left(runs_at.indexes, snapshot.first_queued)]
    members = {group_id: list(compress(grouped, map(group_id.__eq__, group_ids))) for group_id in set(group_ids)}
    groups = source.groups()
    for group_id in sweeps.keys() - members.keys():
        sweeps[group_id].members, sweeps[group_id].latest = [], []
        sweeps[group_id].counts = Counter()
    for group_id, runs in members.items():
        row = sweeps.get(group_id)
        if row is None:
            row = sweeps[group_id] = SweepRow(group_id)
        row.group = groups.get(group_id, row.group)
        ended = ended_ids.count(group_id)
        running = running_ids.count(group_id)
        _update_members(row, runs, ended)
        replaced = set(map(_requeued_from, runs))
        replaced.discard(None)
        if row.members is not row._latest_of or replaced != row._replaced:
            row.latest = [exp for exp in row.members if exp.id not in replaced] if replaced else row.members
            row._latest_of = row.members
        _count_ended(row, runs[:ended], replaced)
        counts = Counter(dict.fromkeys(ExpStatus, 0))
        counts.update(row._ended_counts)
        counts[ExpStatus.RUNNING] = running
        counts[ExpStatus.QUEUED] = len(runs) - ended - running
        row.counts = counts
        row.held = source.is_held(group_id)
        # Ended runs are in the order they ended: the last ones are the most recent.
        recent = runs[max(0, ended - _TIME_LEFT_SAMPLE) : ended]
        row.time_left = _time_left(row, [exp for exp in recent if exp.id not in replaced], source.slots())


def _count_ended(row: SweepRow, ended: list[Experiment], replaced: set[str]) -> None:
    """Count the statuses of the sweep's ended runs (``ended``, in the order they ended),
    those replaced by a requeued copy left out. The ended runs only grow at their end,
    so only the new ones are read (a sweep of 20,000 runs is followed at every frame):
    up to one whose outcome is still being announced (it reads RUNNING for a moment),
    which is read again next time."""
    if row._ended_counted > len(ended):  # runs left the history: count again
        row._ended_counted, row._ended_counts, row._replaced = 0, Counter(), set()
    fresh = ended[row._ended_counted :]
    statuses = list(map(_status_of, fresh))
    end = len(statuses)
    for unfinished in (ExpStatus.QUEUED, ExpStatus.RUNNING):
        if unfinished in statuses:
            end = min(end, statuses.index(unfinished))
    counts = row._ended_counts
    counted = statuses[:end]
    for status in ExpStatus:
        counts[status] += counted.count(status)  # list.count compares in C: no hashing per run
    row._ended_counted += end
    newly_replaced = replaced - row._replaced
    if newly_replaced:  # a requeue: its copy counts instead of the run it replaces
        by_id = {exp.id: exp for exp in ended[: row._ended_counted]}
        for experiment_id in newly_replaced:
            exp = by_id.get(experiment_id)
            if exp is not None:
                counts[exp.status] -= 1
                row._replaced.add(experiment_id)


def _update_members(row: SweepRow, runs: list[Experiment], ended: int) -> None:
    """Keep the runs in the order they were first seen (a sweep's runs in their order:
    one put), new ones after them: those ended (``runs[:ended]``, in the order they
    ended) sorted into the order they were queued, then the others in the queue's order."""
    if len(runs) == len(row.members) and row._known.issuperset(runs):
        return
    present = set(runs)
    if row.members:
        kept = [exp for exp in row.members if exp in present]
        known = set(kept)
        new_ended = [exp for exp in runs[:ended] if exp not in known]
        new_active = [exp for exp in runs[ended:] if exp not in known]
    else:  # first seen (a put of 20,000 runs): no lookups
        kept, new_ended, new_active = [], runs[:ended], runs[ended:]
    row.members = kept + sorted(new_ended, key=_queue_order) + new_active
    row._known = present


def _time_left(row: SweepRow, recent: list[Experiment], slots: int) -> float | None:
    """The mean duration of its recently ended runs, times the runs still to end, shared
    among the runs that may go at once. None until one run has ended."""
    durations = [exp.duration for exp in recent if exp.started_at is not None]
    waiting = row.counts[ExpStatus.QUEUED] + row.counts[ExpStatus.RUNNING]
    if not durations or not waiting:
        return None
    max_parallel = row.group.max_parallel if row.group is not None else None
    at_once = 1 if row.latest[0].lane == "instrument" else min(slots, max_parallel or slots)
    return sum(durations) / len(durations) * waiting / max(1, at_once)


class GroupedRows(NamedTuple):
    """The table's rows for a snapshot: ended, running and queued parts as in the
    snapshot, each sweep as one row (and its runs when expanded). ``places[i]`` is the
    place in the queue (0 runs next) of row ``first_queued + i``, None for an ended or
    running run shown under its sweep. ``sweep_rows``: the rows of the sweeps, ascending;
    ``queued_places``: the places of the sweeps' queued runs (shown in any part; only
    while a sweep is expanded: its runs are rows then)."""

    rows: list[Experiment | SweepRow]
    ended_size: int
    first_queued: int
    places: list[int | None]
    sweep_rows: list[int]
    queued_places: dict[Experiment, int]


def group_rows(snapshot: QueueSnapshot, runs_at: SweepRuns, sweeps: Mapping[str, SweepRow]) -> GroupedRows:
    """The rows of ``snapshot`` with the runs of ``sweeps`` (found at ``runs_at``) under their sweep rows.

    The plain experiments are picked out and copied in C; Python steps only per sweep.
    """
    experiments, ended, first_queued = snapshot.experiments, snapshot.ended_size, snapshot.first_queued
    grouped = runs_at.indexes
    group_ids = list(map(runs_at.group_ids.__getitem__, grouped))
    split = bisect_left(grouped, ended)
    # Each sweep goes where its first running or queued run is, else at its last ended
    # one (a dict made from pairs keeps the last value given for each key).
    anchor = dict(zip(group_ids[:split], grouped[:split], strict=True))
    anchor.update(zip(reversed(group_ids[split:]), reversed(grouped[split:]), strict=True))
    in_queue = bisect_left(grouped, first_queued)
    queued_place: dict[Experiment, int] = {}
    if any(sweeps[group_id].expanded for group_id in anchor):  # else no run is a row of its own
        queued_runs = grouped[in_queue:]
        places_of_queued_runs = map(sub, queued_runs, repeat(first_queued))
        queued_place = dict(zip(map(experiments.__getitem__, queued_runs), places_of_queued_runs, strict=True))
    by_place = sorted((index, group_id) for group_id, index in anchor.items())
    rows: list[Experiment | SweepRow] = []
    places: list[int | None] = []
    sweep_rows: list[int] = []
    sizes = []
    start = 0
    for end in (ended, first_queued, len(experiments)):
        queued_part = end == len(experiments)
        plain = list(map(not_, runs_at.group_ids[start:end]))
        for index, group_id in by_place[bisect_left(by_place, (start,)) : bisect_left(by_place, (end,))]:
            rows += compress(experiments[start:index], plain[: index - start])
            if queued_part:
                places += compress(range(start - first_queued, index - first_queued), plain[: index - start])
            plain = plain[index - start :]
            start = index
            sweep = sweeps[group_id]
            sweep_rows.append(len(rows))
            rows.append(sweep)
            if queued_part:
                places.append(index - first_queued)
            if sweep.expanded:
                rows += sweep.members
                if queued_part:
                    places += map(queued_place.get, sweep.members)
        rows += compress(experiments[start:end], plain)
        if queued_part:
            places += compress(range(start - first_queued, end - first_queued), plain)
        start = end
        sizes.append(len(rows))
    return GroupedRows(rows, sizes[0], sizes[1], places, sweep_rows, queued_place)
