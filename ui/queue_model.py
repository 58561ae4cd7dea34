"""QueueModel: an adapter between an :class:`~core.ExperimentQueue` and Qt's table
model interface (https://doc.qt.io/qt-6/model-view-programming.html).

The queue changes on other threads, so the model never follows its signals one by
one. Once per frame the window calls :meth:`QueueModel.sync` on the GUI thread; it
takes one :meth:`~core.ExperimentQueue.snapshot` and turns the difference from the
rows it shows into precise row signals (insert, remove, move), or one layout change
when many rows moved at once. Rows are keyed on the experiments themselves (and so
on their ids), never on indices, so selections and the current row survive.

Given a :class:`~ui.sweep_rows.SweepSource`, the runs of each sweep are shown under one
row of the sweep, which expands into them (see :mod:`ui.sweep_rows`); until there is a
sweep, the rows are the snapshot's experiments themselves, at no extra cost.
"""

from __future__ import annotations

import enum
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QGuiApplication, QIcon, QPalette

from labqueue.core import Experiment, ExperimentQueue, ExpStatus
from labqueue.core.engine import QueueSnapshot

from . import reordering
from .display_text import format_duration, format_time, outcome_text, status_label
from .queue_stats import QueueStats
from .sweep_rows import SweepRow, SweepRuns, SweepSource, find_sweep_runs, group_rows, update_sweeps
from .theme import experiment_color, experiment_icon, level_color, paused_color, paused_icon, status_color, status_icon

__all__ = ["HEADERS", "Cell", "Column", "MIME_TYPE", "QueueModel", "RowFilter"]

#: Drag-and-drop payload: experiment ids, one per line.
MIME_TYPE = "application/x-labqueue-experiment-ids"

#: Reorders whose middle part is at most this long are diffed into single-row moves...
_DIFF_LIMIT = 20_000
#: ...when at most this many rows move; beyond either, one layout change is cheaper.
_MOVE_LIMIT = 64


class Cell(NamedTuple):
    """What one table cell shows; None where the view's defaults apply."""

    text: str
    icon: QIcon | None
    color: QColor | None
    font: QFont | None
    alignment: Qt.AlignmentFlag
    progress: tuple[float | None, str] | None  # (fraction, message) of the running experiment
    badge: tuple[str, QColor] | None = None  # "⚠ 2": what it logged at WARNING or above
    indent: int = 0  # levels: 1 for a sweep's run shown under its sweep
    expanded: bool | None = None  # a sweep row's arrow: True open, False closed; None: no arrow


class RowFilter(enum.Enum):
    """Which experiments the table shows."""

    ALL = "All"
    ACTIVE = "Queued and running"
    FAILED = "Failed"


class Column(enum.IntEnum):
    STATUS = 0
    POSITION = 1
    TITLE = 2
    QUEUED_AT = 3
    STARTED_AT = 4
    DURATION = 5
    RESULT = 6
    ID = 7  # shown second (see QueueView), listed last so saved layouts of older versions still fit


#: Column labels and their tooltips.
HEADERS = {
    Column.STATUS: ("Status", "What the experiment is doing or how it ended"),
    Column.POSITION: ("#", "Place in the queue (1 runs next)"),
    Column.TITLE: ("Experiment", "The queued call"),
    Column.QUEUED_AT: ("Queued", "When it was queued"),
    Column.STARTED_AT: ("Started", "When it started"),
    Column.DURATION: ("Duration", "How long it ran (paused time left out); ≈ an estimate from earlier runs"),
    Column.RESULT: ("Result", "Return value, error, or progress while running"),
    Column.ID: ("Id", "The experiment's id, short (the log pane names experiments by it too)"),
}

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class QueueModel(QAbstractTableModel):
    """The rows of a queue: history (the cancelled experiments among it, in the order
    they ended), running, queued, as of the last :meth:`sync`; with ``sweeps``, each
    sweep as one row in its place, followed by its runs while it is expanded."""

    def __init__(
        self, queue: ExperimentQueue, stats: QueueStats | None = None, parent=None, sweeps: SweepSource | None = None
    ) -> None:
        super().__init__(parent)
        self._queue = queue
        self.stats = stats if stats is not None else QueueStats()
        self._rows: list[Experiment | SweepRow] = []
        self._sweep_source = sweeps
        self._grouped = False  # there has been a sweep: rows come from group_rows()
        self._sweeps: dict[str, SweepRow] = {}  # by group id
        self._shown: QueueSnapshot | None = None  # what the rows were grouped from (when grouped)
        self._shown_runs: SweepRuns | None = None  # and where its sweeps' runs are
        self._places: list[int | None] = []  # queue places of the queued rows (when grouped)
        self._sweep_row_numbers: list[int] = []  # rows of the sweeps, ascending (when grouped)
        self._run_places: dict[Experiment, int] = {}  # queue places of the sweeps' queued runs
        self._filter = RowFilter.ALL
        self._all: list[Experiment] = []  # every experiment, as of the last sync (when filtered)
        self._failed: list[Experiment] = []  # the failed ones in the history, oldest first
        self._failed_seen = 0  # history entries looked at for them
        self._history_size = 0
        self._first_queued = 0
        self._row_of_id: dict[str, int] | None = None  # built on demand, dropped on change
        self._appended_only = True  # the last change only put rows at the end
        self._outcomes: dict[str, str] = {}  # cell text of ended experiments, built once each
        self._palette = QGuiApplication.palette()
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)

    # -- what the window and the actions ask -------------------------------------------

    @property
    def queue(self) -> ExperimentQueue:
        return self._queue

    @property
    def history_size(self) -> int:
        """Rows ``0 .. history_size - 1`` are ended experiments, cancelled ones included."""
        return self._history_size

    @property
    def running_row(self) -> int | None:
        """The row of the running experiment, or None."""
        return self._history_size if self._first_queued > self._history_size else None

    @property
    def first_queued_row(self) -> int:
        """Rows from here to the end are queued; the running one, if any, is just before."""
        return self._first_queued

    @property
    def grouped(self) -> bool:
        """True once there is a sweep: rows may be sweeps and runs shown under them."""
        return self._grouped

    def item(self, row: int) -> Experiment | SweepRow:
        return self._rows[row]

    def items(self, first_row: int, end_row: int) -> list[Experiment | SweepRow]:
        """The rows ``first_row .. end_row - 1`` (a copy, made in C)."""
        return self._rows[first_row:end_row]

    def experiment(self, row: int) -> Experiment | None:
        """The experiment of a row; None for a sweep's row."""
        item = self._rows[row]
        return None if type(item) is SweepRow else item

    def sweep(self, row: int) -> SweepRow | None:
        """The sweep of a sweep's row; None for an experiment's row."""
        item = self._rows[row]
        return item if type(item) is SweepRow else None

    def sweep_of(self, experiment: Experiment) -> SweepRow | None:
        """The sweep row ``experiment`` is shown under, if any."""
        return self._sweeps.get(experiment.group_id) if self._grouped and experiment.group_id else None

    def sweep_rows(self) -> list[tuple[int, SweepRow]]:
        """Every sweep's row and its sweep, in row order."""
        return [(row, self._rows[row]) for row in self._sweep_row_numbers]

    def experiments(self) -> list[Experiment]:
        """The experiments in row order, sweeps' rows left out (a copy)."""
        if not self._grouped:
            return list(self._rows)
        return [item for item in self._rows if type(item) is not SweepRow]

    def place(self, row: int) -> int | None:
        """The place in the queue (0 runs next) of a queued row, None for other rows
        (a sweep's row: the place of its first queued run)."""
        if row >= self._first_queued:
            return self._places[row - self._first_queued] if self._grouped else row - self._first_queued
        # A running sweep's queued runs are shown under it, among the running rows.
        return self._run_places.get(self._rows[row]) if self._grouped and row >= self._history_size else None

    def has_queued_row(self, first_row: int, last_row: int) -> bool:
        """True when a row of ``first_row .. last_row`` has a place in the queue (see
        :meth:`place`); looked at in C, for a selection of any size."""
        if not self._grouped:
            return last_row >= self._first_queued
        start = max(first_row, self._first_queued)
        if start <= last_row:
            places = self._places[start - self._first_queued : last_row - self._first_queued + 1]
            if places.count(None) < len(places):
                return True
        running = self._rows[max(first_row, self._history_size) : min(last_row + 1, self._first_queued)]
        return any(self._run_places.get(item) is not None for item in running)

    def ended_experiment_rows(self, runs: list[tuple[int, int]]) -> int:
        """How many of the rows in these ``(first, last)`` runs are ended experiments (the
        ended part's rows but for those of sweeps)."""
        count = 0
        for first, last in runs:
            last = min(last, self._history_size - 1)
            if first <= last:
                sweeps = bisect_right(self._sweep_row_numbers, last) - bisect_left(self._sweep_row_numbers, first)
                count += last - first + 1 - (sweeps if self._grouped else 0)
        return count

    def set_expanded(self, row: int, expanded: bool) -> None:
        """Show (or hide) the runs of the sweep at ``row`` beneath it."""
        sweep = self.sweep(row)
        if sweep is None or sweep.expanded is expanded or self._shown is None:
            return
        sweep.expanded = expanded
        self._show_grouped(self._shown, self._shown_runs)
        self._announce(row, row)

    def row_of(self, experiment_id: str) -> int | None:
        """Row showing the experiment with this id, or None."""
        if self._row_of_id is None:
            self._row_of_id = {exp.id: row for row, exp in enumerate(self._rows)}
        return self._row_of_id.get(experiment_id)

    def set_palette(self, palette: QPalette) -> None:
        """Use ``palette``'s colours (light or dark) from now on."""
        self._palette = palette
        self.refresh()

    # -- following the queue -----------------------------------------------------------

    def sync(self) -> bool:
        """Bring the rows in line with the queue as it is now (GUI thread only).

        Only cells that can have changed are announced, so a view repaints nothing
        when the rows it shows did not move on (painting calls back into Python for
        every cell, which is slow while the worker is busy in Python). Returns False,
        changing nothing, while another thread holds the queue (a big put being
        stored): call again later rather than wait.
        """
        snapshot = self._queue.snapshot_if_free()
        if snapshot is None:
            return False
        if self._grouped or (self._sweep_source is not None and self._sweep_source.groups()):
            self._sync_grouped(snapshot)
            return True
        old_history_size, old_first_queued = self._history_size, self._first_queued
        if self._filter is RowFilter.ALL:
            self.stats.update(snapshot, self._apply(snapshot.experiments))
        else:
            self.stats.update(snapshot, _new_experiments(self._all, snapshot.experiments))
            self._all = snapshot.experiments
            snapshot = self._filtered(snapshot)
            self._apply(snapshot.experiments)
        self._history_size = snapshot.ended_size
        self._first_queued = snapshot.first_queued
        # Ended, started or cancelled since the last sync: between the old end of the
        # history and the running row.
        self._announce(min(old_history_size, snapshot.ended_size), snapshot.first_queued - 1)
        # Queued rows: their place and their estimate, which change only when a job
        # starts or ends, or queued rows move or go; not when rows are put at the end
        # (a big put would repaint the table every frame while it comes in).
        if snapshot.first_queued != old_first_queued or not self._appended_only:
            self._announce(snapshot.first_queued, len(self._rows) - 1, Column.POSITION, Column.DURATION)
        return True

    def _sync_grouped(self, snapshot: QueueSnapshot) -> None:
        assert self._sweep_source is not None
        if not self._grouped:  # the first sweep: until now the rows were the experiments
            self._grouped = True
            if self._filter is RowFilter.ALL:
                self._all = list(self._rows)
        old_history_size, old_first_queued = self._history_size, self._first_queued
        self.stats.update(snapshot, _new_experiments(self._all, snapshot.experiments))
        self._all = snapshot.experiments
        runs_at = find_sweep_runs(snapshot.experiments)
        update_sweeps(self._sweeps, snapshot, runs_at, self._sweep_source)
        if self._filter is RowFilter.ALL:
            self._show_grouped(snapshot, runs_at)
        else:
            self._show_grouped(self._filtered(snapshot))
        self._announce(min(old_history_size, self._history_size), self._first_queued - 1)
        if self._first_queued != old_first_queued or not self._appended_only:
            self._announce(self._first_queued, len(self._rows) - 1, Column.POSITION, Column.DURATION)
        # Their counts, and the runs shown under them, change wherever they are.
        for row in self._sweep_row_numbers:
            sweep = self._rows[row]
            self._announce(row, row + (len(sweep.members) if sweep.expanded else 0))

    def _show_grouped(self, shown: QueueSnapshot, runs_at: SweepRuns | None = None) -> None:
        """Show ``shown`` (the snapshot, or what the filter lets through), its sweeps' runs under their rows."""
        if runs_at is None:
            runs_at = find_sweep_runs(shown.experiments)
        self._shown, self._shown_runs = shown, runs_at
        grouped = group_rows(shown, runs_at, self._sweeps)
        self._apply(grouped.rows)
        self._history_size, self._first_queued = grouped.ended_size, grouped.first_queued
        self._places, self._sweep_row_numbers = grouped.places, grouped.sweep_rows
        self._run_places = grouped.queued_places

    @property
    def row_filter(self) -> RowFilter:
        return self._filter

    def set_row_filter(self, row_filter: RowFilter) -> None:
        """Show only the experiments ``row_filter`` lets through (the rows are rebuilt)."""
        if row_filter is self._filter:
            return
        self.beginResetModel()
        self._filter = row_filter
        self._rows, self._row_of_id = [], None
        self._history_size = self._first_queued = 0
        self.endResetModel()
        snapshot = self._queue.snapshot()  # the stats have taken these in already
        if self._grouped:
            self._all = snapshot.experiments
            self._show_grouped(self._filtered(snapshot) if row_filter is not RowFilter.ALL else snapshot)
            return
        self._all = snapshot.experiments if row_filter is not RowFilter.ALL else []
        shown = self._filtered(snapshot) if row_filter is not RowFilter.ALL else snapshot
        self._apply(shown.experiments)
        self._history_size, self._first_queued = shown.ended_size, shown.first_queued

    def _filtered(self, snapshot: QueueSnapshot) -> QueueSnapshot:
        experiments, history_size = snapshot.experiments, snapshot.ended_size
        if self._filter is RowFilter.ACTIVE:
            return QueueSnapshot(experiments[history_size:], 0, snapshot.running, snapshot.lane_running)
        # The history only grows at its end: look at the new entries only, up to one
        # whose outcome is still being announced (it reads RUNNING for a moment).
        fresh = experiments[self._failed_seen : history_size]
        statuses = [exp.status for exp in fresh]
        end = next((i for i, status in enumerate(statuses) if not status.is_terminal), len(fresh))
        self._failed += [
            exp for exp, status in zip(fresh[:end], statuses[:end], strict=True) if status is ExpStatus.FAILED
        ]
        self._failed_seen += end
        return QueueSnapshot(list(self._failed), len(self._failed), None)

    def refresh(self) -> None:
        """Announce every cell as changed (a new palette)."""
        self._announce(0, len(self._rows) - 1)

    def refresh_running(self) -> None:
        """Announce the running rows (the worker's and the process lane's): their progress
        and their durations move on by themselves."""
        if self._first_queued > self._history_size:
            self._announce(self._history_size, self._first_queued - 1)

    def _announce(
        self, first_row: int, last_row: int, first_column: int = 0, last_column: int = len(Column) - 1
    ) -> None:
        if 0 <= first_row <= last_row < len(self._rows):
            self.dataChanged.emit(self.index(first_row, first_column), self.index(last_row, last_column))

    def _apply(self, new: list[Experiment | SweepRow]) -> list[Experiment | SweepRow]:
        """Turn the rows into ``new`` with row signals; returns the rows that are new."""
        old = self._rows
        self._appended_only = True
        if new == old:
            return []
        self._row_of_id = None
        if len(new) > len(old) and new[: len(old)] == old:  # the common case: puts at the end
            return self._insert(len(old), new[len(old) :])
        self._appended_only = False
        prefix = _common_prefix(old, new)
        suffix = _common_suffix(old, new, min(len(old), len(new)) - prefix)
        old_middle = old[prefix : len(old) - suffix]
        new_middle = new[prefix : len(new) - suffix]
        in_new, in_old = set(new_middle), set(old_middle)
        gone = [prefix + i for i, exp in enumerate(old_middle) if exp not in in_new]
        for first, last in reversed(_runs(gone)):
            self.beginRemoveRows(QModelIndex(), first, last)
            for exp in self._rows[first : last + 1]:
                self._outcomes.pop(exp.id, None)
            del self._rows[first : last + 1]
            self.endRemoveRows()
        kept_old = [exp for exp in old_middle if exp in in_new]
        kept_new = [exp for exp in new_middle if exp in in_old]
        if kept_old != kept_new:
            self._reorder(prefix, kept_old, kept_new)
        added = [prefix + i for i, exp in enumerate(new_middle) if exp not in in_old]
        inserted: list[Experiment | SweepRow] = []
        for first, last in _runs(added):  # in ascending order, each lands at its final row
            inserted += self._insert(first, new[first : last + 1])
        return inserted

    def _insert(self, row: int, experiments: list[Experiment | SweepRow]) -> list[Experiment | SweepRow]:
        self.beginInsertRows(QModelIndex(), row, row + len(experiments) - 1)
        self._rows[row:row] = experiments
        self.endInsertRows()
        return experiments

    def _reorder(self, offset: int, old_order: list[Experiment], new_order: list[Experiment]) -> None:
        """Reorder rows ``offset ..`` from ``old_order`` to ``new_order`` (same experiments)."""
        moves = _single_moves(old_order, new_order)
        if moves is not None and len(moves) <= _MOVE_LIMIT:
            current = list(old_order)
            for exp, after in moves:
                source = current.index(exp)
                destination = current.index(after) + 1 if after is not None else 0
                if destination in (source, source + 1):
                    continue
                self.beginMoveRows(QModelIndex(), offset + source, offset + source, QModelIndex(), offset + destination)
                current.insert(destination - (destination > source), current.pop(source))
                self._rows[offset : offset + len(current)] = current
                self.endMoveRows()
            return
        self._relayout(offset, new_order)

    def _relayout(self, offset: int, new_order: list[Experiment]) -> None:
        """One layout change for a large reorder; persistent indexes follow their experiment."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        end = offset + len(new_order)
        before = [(index.row(), index.column()) for index in persistent]
        moved_rows = [self._rows[row] if offset <= row < end else None for row, _ in before]
        self._rows[offset:end] = new_order
        new_row = {exp: offset + i for i, exp in enumerate(new_order)} if any(e is not None for e in moved_rows) else {}
        after = [
            self.index(new_row[exp] if exp is not None else row, column)
            for (row, column), exp in zip(before, moved_rows, strict=True)
        ]
        self.changePersistentIndexList(persistent, after)
        self.layoutChanged.emit()

    # -- Qt model interface ------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Qt's own version asks rowCount() and columnCount(): two calls into Python per
        # cell painted instead of this one.
        if parent.isValid() or not (0 <= row < len(self._rows) and 0 <= column < len(Column)):
            return QModelIndex()
        return self.createIndex(row, column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or section >= len(Column):
            return None
        label, tip = HEADERS[Column(section)]
        if role == Qt.ItemDataRole.DisplayRole:
            return label
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self.alignment(section)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = index.row()
        if not index.isValid() or row >= len(self._rows):
            return None
        item = self._rows[row]
        if type(item) is SweepRow:
            return self._sweep_value(item, row, index.column(), role)
        return self._value(item, row, index.column(), role)

    def multiData(self, index: QModelIndex | QPersistentModelIndex, roles: QModelRoleDataSpan) -> None:
        """All the roles a delegate asks for a cell, in one call into Python instead of
        about eight (each call waits for the interpreter lock while the worker runs
        Python). QueueView paints from :meth:`cell` instead, except during a drag."""
        row = index.row()
        if not index.isValid() or row >= len(self._rows):
            return
        item, column = self._rows[row], index.column()
        value_of = self._sweep_value if type(item) is SweepRow else self._value
        for role_data in roles:
            value = value_of(item, row, column, role_data.role())
            if value is None:
                role_data.clearData()
            else:
                role_data.setData(value)

    def _value(self, exp: Experiment, row: int, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(exp, row, column)
        if role == Qt.ItemDataRole.DecorationRole:
            return experiment_icon(exp, self._palette) if column == Column.STATUS else None
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(exp, column)
        if role == Qt.ItemDataRole.FontRole:
            return self._font(exp, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self.alignment(column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(exp, column)
        return None

    @staticmethod
    def alignment(column: int) -> Qt.AlignmentFlag:
        """Numbers and durations line up on the right, words on the left."""
        return _RIGHT if column in (Column.POSITION, Column.DURATION) else _LEFT

    def cell(self, row: int, column: int) -> Cell:
        """Everything a view paints in one cell, in one call (see QueueView.paintEvent)."""
        exp = self._rows[row]
        if type(exp) is SweepRow:
            return self._sweep_cell(exp, row, column)
        running = exp.status is ExpStatus.RUNNING
        return Cell(
            self._text(exp, row, column),
            experiment_icon(exp, self._palette) if column == Column.STATUS else None,
            self._foreground(exp, column),
            self._font(exp, column),
            self.alignment(column),
            _progress(exp) if running and column == Column.RESULT else None,
            self._badge(exp) if column == Column.TITLE else None,
            1 if self._grouped and column == Column.STATUS and exp.group_id is not None else 0,
        )

    # -- a sweep's row -----------------------------------------------------------------

    def _sweep_cell(self, sweep: SweepRow, row: int, column: int) -> Cell:
        return Cell(
            self._sweep_text(sweep, row, column),
            self._sweep_icon(sweep) if column == Column.STATUS else None,
            self._sweep_foreground(sweep, column),
            self._bold if column == Column.TITLE else (self._italic if column == Column.DURATION else None),
            self.alignment(column),
            (sweep.fraction, sweep.counts_text()) if column == Column.RESULT else None,
            expanded=sweep.expanded if column == Column.STATUS else None,
        )

    def _sweep_value(self, sweep: SweepRow, row: int, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return sweep.counts_text() if column == Column.RESULT else self._sweep_text(sweep, row, column)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._sweep_icon(sweep) if column == Column.STATUS else None
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._sweep_foreground(sweep, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self.alignment(column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._sweep_tooltip(sweep, column)
        return None

    def _sweep_text(self, sweep: SweepRow, row: int, column: int) -> str:
        if column == Column.STATUS:
            return sweep.status_text
        if column == Column.POSITION:
            return self._place_text(row)
        if column == Column.ID:
            return sweep.group_id[:8]
        if column == Column.TITLE:
            return sweep.title
        if column == Column.QUEUED_AT:
            return format_time(sweep.first_time("queued_at"))
        if column == Column.STARTED_AT:
            return format_time(sweep.first_time("started_at"))
        if column == Column.DURATION:
            return f"≈ {format_duration(sweep.time_left)} left" if sweep.time_left else ""
        return f"{sweep.fraction:.0%}  {sweep.counts_text()}"

    def _place_text(self, row: int) -> str:
        place = self.place(row)
        return f"{place + 1:,}" if place is not None else ""

    def _sweep_icon(self, sweep: SweepRow) -> QIcon:
        return paused_icon(self._palette) if sweep.waits_held else status_icon(sweep.status, self._palette)

    def _sweep_foreground(self, sweep: SweepRow, column: int) -> Any:
        if column == Column.STATUS:
            return paused_color(self._palette) if sweep.waits_held else status_color(sweep.status, self._palette)
        if column == Column.DURATION:
            return self._palette.color(QPalette.ColorRole.PlaceholderText)
        return None

    def _sweep_tooltip(self, sweep: SweepRow, column: int) -> str | None:
        if column == Column.STATUS:
            held = " (held: its queued runs wait until Resume sweep)" if sweep.held else ""
            keys = "Right or + shows its runs, Left or - hides them"
            return f"Sweep of {sweep.total:,} runs{held} · id {sweep.group_id}. {keys}"
        if column == Column.TITLE:
            where = sweep.group.output_path if sweep.group is not None else None
            return sweep.title + (f" — in {where}" if where else "")
        if column == Column.DURATION and sweep.time_left:
            return "Time left: the mean duration of its ended runs, times the runs left, shared among those run at once"
        if column == Column.RESULT:
            return sweep.counts_text()
        return None

    def _badge(self, exp: Experiment) -> tuple[str, QColor] | None:
        """``✖ 1`` (red) when it logged errors, else ``⚠ 2`` (amber) for warnings, else None."""
        if exp.errors_logged:
            return f"✖ {exp.errors_logged:,}", level_color(logging.ERROR, self._palette)
        if exp.warnings_logged:
            return f"⚠ {exp.warnings_logged:,}", level_color(logging.WARNING, self._palette)
        return None

    def _text(self, exp: Experiment, row: int, column: int) -> str:
        if column == Column.STATUS:
            return status_label(exp)
        if column == Column.POSITION:
            return self._place_text(row)
        if column == Column.ID:
            return exp.id[:8]
        if column == Column.TITLE:
            return exp.title
        if column == Column.QUEUED_AT:
            return format_time(exp.queued_at)
        if column == Column.STARTED_AT:
            return format_time(exp.started_at)
        if column == Column.DURATION:
            if exp.started_at is None:
                estimate = self.stats.estimate(exp) if exp.status is ExpStatus.QUEUED else None
                return f"≈ {format_duration(estimate)}" if estimate is not None else ""
            return format_duration(exp.duration)
        return self._outcome(exp)

    def _outcome(self, exp: Experiment) -> str:
        text = self._outcomes.get(exp.id)
        if text is None:
            text = outcome_text(exp)
            if exp.status.is_terminal:
                self._outcomes[exp.id] = text
        return text

    def _foreground(self, exp: Experiment, column: int) -> Any:
        status = exp.status
        if column == Column.STATUS or (column == Column.RESULT and status is ExpStatus.FAILED):
            return experiment_color(exp, self._palette)
        if status is ExpStatus.CANCELLED or (column == Column.DURATION and exp.started_at is None):
            return self._palette.color(QPalette.ColorRole.PlaceholderText)
        return None

    def _font(self, exp: Experiment, column: int) -> Any:
        if exp.status is ExpStatus.RUNNING and column in (Column.STATUS, Column.TITLE):
            return self._bold
        if column == Column.DURATION and exp.started_at is None:
            return self._italic
        return None

    def _tooltip(self, exp: Experiment, column: int) -> str | None:
        if column == Column.TITLE:
            return exp.title + _logged_text(exp)
        if column == Column.RESULT:
            return self._outcome(exp) or None
        if column == Column.STATUS:
            waiting = " (waiting at its checkpoint() until Resume)" if exp.paused else ""
            return f"{status_label(exp)}{waiting} · id {exp.id}"
        if column == Column.DURATION and exp.started_at is None and exp.status is ExpStatus.QUEUED:
            return "Estimated from the last run with the same arguments, else the function's median"
        if column == Column.ID:
            return exp.id
        return None

    # -- drag and drop among queued rows -----------------------------------------------

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled  # drops land between rows or below the last
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if self.place(index.row()) is not None:  # queued (a sweep's row: it has queued runs)
            flags |= Qt.ItemFlag.ItemIsDragEnabled
        return flags

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [MIME_TYPE]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        rows = sorted({index.row() for index in indexes if index.isValid()})
        data = QMimeData()
        ids = "\n".join(exp.id for row in rows for exp in self._dragged(self._rows[row]))
        data.setData(MIME_TYPE, QByteArray(ids.encode("ascii")))
        return data

    def canDropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent) -> bool:
        if not data.hasFormat(MIME_TYPE) or action != Qt.DropAction.MoveAction:
            return False
        return self._drop_row(row, parent) >= self._first_queued

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent) -> bool:
        """Move the dragged queued experiments, in their order, to the drop point."""
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        experiments = list(self._experiments_by_id(bytes(data.data(MIME_TYPE).data()).decode("ascii").split()))
        reordering.move_to(self._queue, experiments, self._drop_place(self._drop_row(row, parent)))
        return True

    @staticmethod
    def _dragged(item: Experiment | SweepRow) -> list[Experiment]:
        return item.queued_members() if type(item) is SweepRow else [item]

    def _drop_row(self, row: int, parent) -> int:
        if row >= 0:
            return row
        return parent.row() if parent.isValid() else len(self._rows)

    def _drop_place(self, row: int) -> int:
        """The place in the queue a drop before ``row`` goes to: that of the first queued row from there on."""
        if not self._grouped:
            return row - self._first_queued
        later = (place for place in self._places[row - self._first_queued :] if place is not None)
        return next(later, self._queue.qsize("queued"))

    def _experiments_by_id(self, ids: Iterable[str]) -> Iterable[Experiment]:
        for experiment_id in ids:
            try:
                yield self._queue.get(experiment_id)
            except KeyError:
                continue


def _logged_text(exp: Experiment) -> str:
    """`` — logged 2 warnings and 1 error (Details › Log)``, or ``""``."""
    parts = []
    for count, noun in ((exp.warnings_logged, "warning"), (exp.errors_logged, "error")):
        if count:
            parts.append(f"{count:,} {noun}{'s' if count != 1 else ''}")
    return f" — logged {' and '.join(parts)} (Details › Log)" if parts else ""


def _progress(exp: Experiment) -> tuple[float | None, str]:
    """The running experiment's progress bar: its fraction, and its message (saying so
    while it waits paused at its checkpoint)."""
    fraction, message = exp.progress
    if exp.paused:
        message = f"paused · {message}" if message else "paused"
    return fraction, message


def _new_experiments(old: list[Experiment], new: list[Experiment]) -> list[Experiment]:
    """The experiments in ``new`` that were not in ``old``, in their order."""
    if len(new) >= len(old) and new[: len(old)] == old:  # the common case: puts at the end
        return new[len(old) :]
    known = set(old)
    return [exp for exp in new if exp not in known]


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Ascending rows grouped into ``(first, last)`` runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


def _common_prefix(a: list, b: list) -> int:
    """Length of the longest common prefix, by slices compared in C (O(n) in all)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: list, b: list, limit: int) -> int:
    """Length of the longest common suffix, at most ``limit``."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle : len(a) - low] == b[len(b) - middle : len(b) - low]:
            low = middle
        else:
            high = middle - 1
    return low


def _single_moves(old: list[Experiment], new: list[Experiment]) -> list[tuple[Experiment, Experiment | None]] | None:
    """Moves ``(experiment, the one it goes right after)`` turning ``old`` into ``new``.

    The experiments that stay are a longest increasing subsequence of their old
    positions; the others move, in their new order. None when the lists are too long
    to diff (beyond ``_DIFF_LIMIT``), unless one experiment moved from one end to the
    other, which is checked in C at any length.
    """
    if new[1:] == old[:-1]:  # the last moved to the front
        return [(new[0], None)]
    if new[:-1] == old[1:]:  # the first moved to the back
        return [(new[-1], new[-2])]
    if len(old) > _DIFF_LIMIT:
        return None
    old_position = {exp: i for i, exp in enumerate(old)}
    sequence = [old_position[exp] for exp in new]
    tails: list[int] = []  # smallest old position ending an increasing run of each length
    tail_at: list[int] = []  # where in ``new`` that run ends
    previous = [-1] * len(sequence)
    for i, value in enumerate(sequence):
        length = bisect_left(tails, value)
        if length == len(tails):
            tails.append(value)
            tail_at.append(i)
        else:
            tails[length] = value
            tail_at[length] = i
        previous[i] = tail_at[length - 1] if length else -1
    staying = set()
    i = tail_at[-1] if tail_at else -1
    while i != -1:
        staying.add(i)
        i = previous[i]
    return [(new[i], new[i - 1] if i else None) for i in range(len(new)) if i not in staying]
