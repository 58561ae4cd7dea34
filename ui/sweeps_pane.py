"""SweepsPane: each sweep as one row (counts, progress, time left) that expands into its runs.

``SweepModel`` is an adapter between the manager's sweep groups and Qt's item model
interface (https://doc.qt.io/qt-6/model-view-programming.html): top-level rows are
groups, their children the group's experiments in queue order. Like the queue table
it follows the core by snapshots taken on the GUI thread (:meth:`SweepModel.sync`),
never by the core's signals, and keys rows on group ids and experiments.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QPushButton, QTreeView, QVBoxLayout, QWidget

from labqueue.core import Experiment, ExpStatus, Manager
from labqueue.core.runs import RunStatistics, SweepGroup, run_status

from .display_text import format_duration, outcome_text

__all__ = ["SweepModel", "SweepsPane"]


class SweepColumn(enum.IntEnum):
    NAME = 0
    STATUS = 1
    PROGRESS = 2
    TIME_LEFT = 3
    RESULT = 4


_HEADERS = ("Sweep / run", "Status", "Progress", "Time left", "Result")


class _Group:
    """What a group row shows, rebuilt at each sync."""

    def __init__(self, group: SweepGroup) -> None:
        self.group = group
        self.members: list[Experiment] = []
        self.stats = RunStatistics()
        self.held = False
        self.time_left: float | None = None


class SweepModel(QAbstractItemModel):
    """Groups and their runs, as of the last :meth:`sync`."""

    def __init__(self, manager: Manager, parent=None) -> None:
        super().__init__(parent)
        self._manager = manager
        self._groups: list[_Group] = []
        self._row_of: dict[str, int] = {}

    # -- what the pane asks ------------------------------------------------------------

    def group_at(self, index: QModelIndex) -> SweepGroup | None:
        """The sweep of a group row, or of a run row's parent."""
        if not index.isValid():
            return None
        row = index.internalId() - 1 if index.internalId() else index.row()
        return self._groups[row].group

    def experiment_at(self, index: QModelIndex) -> Experiment | None:
        """The run of a run row; None for a group row."""
        if not index.isValid() or not index.internalId():
            return None
        return self._groups[index.internalId() - 1].members[index.row()]

    def members(self, group_id: str) -> list[Experiment]:
        row = self._row_of.get(group_id)
        return list(self._groups[row].members) if row is not None else []

    # -- following the core ------------------------------------------------------------

    def sync(self) -> None:
        """Bring the rows in line with the manager's groups and queue (GUI thread only)."""
        groups = self._manager.groups
        if not groups and not self._groups:
            return
        experiments = self._manager.job_queue.snapshot().experiments  # cancelled runs too
        members: dict[str, list[Experiment]] = {group_id: [] for group_id in groups}
        for exp in experiments:
            if exp.group_id in members:
                members[exp.group_id].append(exp)
        for group in sorted(groups.values(), key=lambda g: g.created_at):
            if group.id not in self._row_of and members[group.id]:
                self.beginInsertRows(QModelIndex(), len(self._groups), len(self._groups))
                self._row_of[group.id] = len(self._groups)
                self._groups.append(_Group(group))
                self.endInsertRows()
        now = time.time()
        for row, shown in enumerate(self._groups):
            # In the order they were queued (a sweep's runs in their order: one put, titled
            # run_000, run_001, ...), not the queue's, where ended runs are in the order they ended.
            ordered = sorted(members.get(shown.group.id, []), key=lambda exp: (exp.queued_at or 0.0, exp.title))
            self._update_members(row, shown, ordered)
            shown.stats = RunStatistics.of(run_status(exp) for exp in shown.members)
            shown.held = self._manager.job_queue.is_held(shown.group.id)
            shown.time_left = _time_left(shown.members, shown.group, self._manager.process_lane.slots, now)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(SweepColumn) - 1))
            if shown.members:
                parent = self.index(row, 0)
                self.dataChanged.emit(
                    self.index(0, 0, parent), self.index(len(shown.members) - 1, len(SweepColumn) - 1, parent)
                )

    def _update_members(self, row: int, shown: _Group, new: list[Experiment]) -> None:
        old = shown.members
        if new == old:
            return
        parent = self.index(row, 0)
        if new[: len(old)] == old:  # runs added at the end (a requeue)
            self.beginInsertRows(parent, len(old), len(new) - 1)
            shown.members = new
            self.endInsertRows()
            return
        if old:
            self.beginRemoveRows(parent, 0, len(old) - 1)
            shown.members = []
            self.endRemoveRows()
        if new:
            self.beginInsertRows(parent, 0, len(new) - 1)
            shown.members = new
            self.endInsertRows()

    # -- Qt model interface ------------------------------------------------------------

    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not parent.isValid():
            if 0 <= row < len(self._groups) and 0 <= column < len(SweepColumn):
                return self.createIndex(row, column, 0)
            return QModelIndex()
        if parent.internalId():  # runs have no children
            return QModelIndex()
        members = self._groups[parent.row()].members
        if 0 <= row < len(members) and 0 <= column < len(SweepColumn):
            return self.createIndex(row, column, parent.row() + 1)  # the id names the parent group
        return QModelIndex()

    def parent(self, index: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not index.isValid() or not index.internalId():
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, 0)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() or parent.column() != 0:
            return 0
        return len(self._groups[parent.row()].members)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return len(SweepColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        column = SweepColumn(index.column())
        exp = self.experiment_at(index)
        if exp is None:
            return self._group_text(self._groups[index.row()], column)
        return _run_text(exp, column)

    def _group_text(self, shown: _Group, column: SweepColumn) -> str:
        stats = shown.stats
        if column is SweepColumn.NAME:
            return shown.group.title
        if column is SweepColumn.STATUS:
            parts = [
                f"{stats.success_count} ok",
                f"{stats.failure_count} failed",
                f"{stats.running_count} running",
                f"{stats.pending_count} pending",
            ]
            return ("held · " if shown.held else "") + ", ".join(parts)
        if column is SweepColumn.PROGRESS:
            done = stats.complete_count
            return f"{done}/{stats.total_count} ({done / stats.total_count:.0%})" if stats.total_count else ""
        if column is SweepColumn.TIME_LEFT:
            return f"≈ {format_duration(shown.time_left)}" if shown.time_left else ""
        return shown.group.output_path or ""


def _run_text(exp: Experiment, column: SweepColumn) -> str:
    if column is SweepColumn.NAME:
        return exp.title
    if column is SweepColumn.STATUS:
        return exp.status.label
    if column is SweepColumn.PROGRESS:
        fraction = exp.progress[0]
        return f"{fraction:.0%}" if exp.status is ExpStatus.RUNNING and fraction is not None else ""
    if column is SweepColumn.TIME_LEFT:
        return format_duration(exp.duration) if exp.started_at is not None else ""
    return outcome_text(exp)


def _time_left(members: list[Experiment], group: SweepGroup, slots: int, now: float) -> float | None:
    """The mean duration of the ended runs times the waiting runs, shared among the
    runs that may go at once. None until one run has ended."""
    durations = [exp.duration for exp in members if exp.status.is_terminal and exp.started_at is not None]
    waiting = sum(exp.status in (ExpStatus.QUEUED, ExpStatus.RUNNING) for exp in members)
    if not durations or not waiting:
        return None
    at_once = 1 if members[0].lane == "instrument" else min(slots, group.max_parallel or slots)
    return sum(durations) / len(durations) * waiting / max(1, at_once)


class SweepsPane(QWidget):
    """The sweeps tree and what can be done to a sweep or a run: pause (hold) and resume
    a sweep, abort a run or a whole sweep, remove queued runs, requeue ended ones."""

    def __init__(self, manager: Manager, show_experiment: Callable[[Experiment | None], None], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("sweeps-pane")
        self._manager = manager
        self.model = SweepModel(manager, self)
        self.view = QTreeView()
        self.view.setObjectName("sweeps-view")
        self.view.setModel(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setUniformRowHeights(True)
        self.view.selectionModel().currentRowChanged.connect(
            lambda current, _: show_experiment(self.model.experiment_at(current))
        )
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for name, action in (
            ("Pause sweep", self.pause_selected),
            ("Resume sweep", self.resume_selected),
            ("Abort", self.abort_selected),
            ("Remove", self.remove_selected),
            ("Requeue", self.requeue_selected),
        ):
            button = QPushButton(name)
            button.setObjectName(f"sweeps-{name.lower().replace(' ', '-')}")
            button.clicked.connect(action)
            self.buttons[name] = button
            row.addWidget(button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)

    def refresh(self) -> None:
        """Follow the core (GUI thread; cheap while there are no sweeps)."""
        self.model.sync()

    # -- the selection -----------------------------------------------------------------

    def _selected(self) -> tuple[list[SweepGroup], list[Experiment]]:
        """(whole sweeps selected as group rows, runs selected as run rows)."""
        groups, runs = [], []
        for index in self.view.selectionModel().selectedRows():
            exp = self.model.experiment_at(index)
            if exp is None:
                groups.append(self.model.group_at(index))
            else:
                runs.append(exp)
        return groups, runs

    def _selected_runs(self) -> list[Experiment]:
        """Every run selected, whole sweeps' runs included."""
        groups, runs = self._selected()
        for group in groups:
            runs += self.model.members(group.id)
        return runs

    def pause_selected(self) -> None:
        for group in self._selected_groups_or_parents():
            self._manager.pause_group(group.id)
        self.refresh()

    def resume_selected(self) -> None:
        for group in self._selected_groups_or_parents():
            self._manager.resume_group(group.id)
        self.refresh()

    def abort_selected(self) -> None:
        groups, runs = self._selected()
        for group in groups:
            self._manager.abort_group(group.id)
        for exp in runs:
            self._manager.abort_experiment(exp)

    def remove_selected(self) -> None:
        self._manager.job_queue.remove([exp for exp in self._selected_runs() if exp.status is ExpStatus.QUEUED])

    def requeue_selected(self) -> None:
        for exp in self._selected_runs():
            if exp.status.is_terminal and exp.status is not ExpStatus.FINISHED:
                self._manager.job_queue.requeue(exp)

    def _selected_groups_or_parents(self) -> list[SweepGroup]:
        found: dict[str, SweepGroup] = {}
        for index in self.view.selectionModel().selectedRows():
            group = self.model.group_at(index)
            if group is not None:
                found[group.id] = group
        return list(found.values())
