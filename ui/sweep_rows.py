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

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping
from itertools import compress
from operator import attrgetter
from typing import NamedTuple

from labqueue.core import Experiment, ExpStatus
from labqueue.core.engine import QueueSnapshot
from labqueue.core.runs import SweepGroup

__all__ = ["GroupedRows", "SweepRow", "SweepSource", "group_rows", "update_sweeps"]

_group_of = attrgetter("group_id")
_ACTIVE = (ExpStatus.QUEUED, ExpStatus.RUNNING)
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

    __slots__ = ("counts", "expanded", "group", "group_id", "held", "id", "latest", "members", "time_left")

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


def update_sweeps(
    sweeps: dict[str, SweepRow], experiments: list[Experiment], source: SweepSource, now: float | None = None
) -> None:
    """Bring ``sweeps`` (by group id; rows made for new groups, kept for gone ones) in
    line with the sweeps' runs among ``experiments``."""
    members: dict[str, list[Experiment]] = {}
    for index in compress(range(len(experiments)), map(_group_of, experiments)):
        exp = experiments[index]
        members.setdefault(exp.group_id, []).append(exp)
    groups = source.groups()
    now = time.time() if now is None else now
    for group_id in sweeps.keys() - members.keys():
        sweeps[group_id].members = []
    for group_id, runs in members.items():
        row = sweeps.get(group_id)
        if row is None:
            row = sweeps[group_id] = SweepRow(group_id)
        row.group = groups.get(group_id, row.group)
        # In the order they were queued (a sweep's runs in their order: one put), not the
        # queue's, where ended runs are in the order they ended.
        runs.sort(key=lambda exp: (exp.queued_at or 0.0, exp.title))
        row.members = runs
        replaced = {exp.requeued_from for exp in runs if exp.requeued_from is not None}
        row.latest = [exp for exp in runs if exp.id not in replaced] if replaced else runs
        row.counts = Counter(exp.status for exp in row.latest)
        row.held = source.is_held(group_id)
        row.time_left = _time_left(row, source.slots())


def _time_left(row: SweepRow, slots: int) -> float | None:
    """The mean duration of the ended runs times the runs still to end, shared among the
    runs that may go at once. None until one run has ended."""
    ended = [exp.duration for exp in row.latest if exp.status.is_terminal and exp.started_at is not None]
    waiting = row.counts[ExpStatus.QUEUED] + row.counts[ExpStatus.RUNNING]
    if not ended or not waiting:
        return None
    max_parallel = row.group.max_parallel if row.group is not None else None
    at_once = 1 if row.latest[0].lane == "instrument" else min(slots, max_parallel or slots)
    return sum(ended) / len(ended) * waiting / max(1, at_once)


class GroupedRows(NamedTuple):
    """The table's rows for a snapshot: ended, running and queued parts as in the
    snapshot, each sweep as one row (and its runs when expanded). ``places[i]`` is the
    place in the queue (0 runs next) of row ``first_queued + i``, None for an ended or
    running run shown under its sweep. ``sweep_rows``: the rows of the sweeps, ascending;
    ``queued_places``: the places of the sweeps' queued runs (shown in any part)."""

    rows: list[Experiment | SweepRow]
    ended_size: int
    first_queued: int
    places: list[int | None]
    sweep_rows: list[int]
    queued_places: dict[Experiment, int]


def group_rows(snapshot: QueueSnapshot, sweeps: Mapping[str, SweepRow]) -> GroupedRows:
    """The rows of ``snapshot`` with the runs of ``sweeps`` under their sweep rows."""
    experiments, ended, first_queued = snapshot.experiments, snapshot.ended_size, snapshot.first_queued
    grouped = list(compress(range(len(experiments)), map(_group_of, experiments)))
    # Each sweep goes where its first running or queued run is, else at its last ended one.
    anchor: dict[str, int] = {}
    for index in grouped:
        group_id = experiments[index].group_id
        if index < ended or group_id not in anchor or anchor[group_id] < ended:
            anchor[group_id] = index
    queued_place = {experiments[i]: i - first_queued for i in grouped[bisect_left(grouped, first_queued) :]}
    rows: list[Experiment | SweepRow] = []
    places: list[int | None] = []
    sweep_rows: list[int] = []
    sizes = []
    start = 0
    for end in (ended, first_queued, len(experiments)):
        in_queue = end == len(experiments)
        for index in grouped[bisect_left(grouped, start) : bisect_left(grouped, end)]:
            rows += experiments[start:index]
            if in_queue:
                places += range(start - first_queued, index - first_queued)
            start = index + 1
            exp = experiments[index]
            if anchor[exp.group_id] != index:
                continue
            sweep = sweeps[exp.group_id]
            sweep_rows.append(len(rows))
            rows.append(sweep)
            if in_queue:
                places.append(index - first_queued)
            if sweep.expanded:
                rows += sweep.members
                if in_queue:
                    places += (queued_place.get(member) for member in sweep.members)
        rows += experiments[start:end]
        if in_queue:
            places += range(start - first_queued, end - first_queued)
        start = end
        sizes.append(len(rows))
    return GroupedRows(rows, sizes[0], sizes[1], places, sweep_rows, queued_place)
