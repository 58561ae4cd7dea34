"""LogPane: every log record of the program, with a level filter and a search box.

Records arrive on any thread through a :class:`~ui.inbox.LogInbox` on the root
logger; the window moves them into the model once per frame, on the GUI thread.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NamedTuple

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from labqueue.core.engine import ExperimentContextFilter, record_message

from .inbox import LogInbox
from .theme import level_color

__all__ = ["LogModel", "LogPane"]

#: Records the pane keeps; older ones drop off the top (the log files keep everything).
MAX_ROWS = 20_000

_LEVELS = [
    ("Debug", logging.DEBUG),
    ("Info", logging.INFO),
    ("Warning", logging.WARNING),
    ("Error", logging.ERROR),
]
_HEADERS = ("Time", "Level", "Experiment", "Source", "Message")
_FORMATTER = logging.Formatter()


class LogRow(NamedTuple):
    time: str
    levelno: int
    levelname: str
    experiment: str
    source: str
    message: str  # the whole message; the table shows its first line

    @classmethod
    def from_record(cls, record: logging.LogRecord) -> LogRow:
        message = record_message(record)  # a bad format string must not lose the record
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        moment = datetime.fromtimestamp(record.created)
        return cls(
            moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}",
            record.levelno,
            record.levelname,
            getattr(record, "experiment_id", "-").strip("-"),
            record.name,
            message,
        )


class LogModel(QAbstractTableModel):
    """The newest :data:`MAX_ROWS` records, oldest first."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[LogRow] = []
        self._palette = QPalette()

    def append(self, rows: list[LogRow]) -> None:
        if not rows:
            return
        overflow = len(self._rows) + len(rows) - MAX_ROWS
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            del self._rows[:overflow]
            self.endRemoveRows()
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._rows += rows
        self.endInsertRows()

    def set_palette(self, palette: QPalette) -> None:
        self._palette = palette
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(_HEADERS) - 1))

    def row(self, row: int) -> LogRow:
        return self._rows[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 4:
                return row.message.split("\n", 1)[0]
            return (row.time, row.levelname, row.experiment, row.source)[column]
        if role == Qt.ItemDataRole.ToolTipRole and column == 4 and "\n" in row.message:
            return row.message[:5000]
        if role == Qt.ItemDataRole.ForegroundRole and column in (1, 4):
            return level_color(row.levelno, self._palette)
        return None


class LogFilter(QSortFilterProxyModel):
    """Keeps records at or above a level whose text contains the search words."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._level = logging.DEBUG
        self._needle = ""

    def set_filter(self, level: int, text: str) -> None:
        self.beginFilterChange()
        self._level, self._needle = level, text.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:
        row = self.sourceModel().row(source_row)
        if row.levelno < self._level:
            return False
        needle = self._needle
        return (
            not needle
            or needle in row.message.casefold()
            or needle in row.source.casefold()
            or needle in row.experiment
        )


class LogPane(QWidget):
    """Table of log records with a level filter and a search box; follows the newest
    record while scrolled to the bottom."""

    def __init__(self, level: int = logging.INFO, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("log-pane")
        self.inbox = LogInbox()
        self.inbox.addFilter(ExperimentContextFilter())  # runs on the logging thread, which knows the job
        self.model = LogModel(self)
        self.filter = LogFilter(self)
        self.filter.setSourceModel(self.model)

        self.level = QComboBox()
        self.level.setObjectName("log-level")
        self.level.setToolTip("Show records at this level and above")
        for name, value in _LEVELS:
            self.level.addItem(name, value)
        self.level.setCurrentIndex([value for _, value in _LEVELS].index(level))
        self.search = QLineEdit()
        self.search.setObjectName("log-search")
        self.search.setPlaceholderText("Search messages, sources, experiment ids")
        self.search.setClearButtonEnabled(True)
        self.dropped = QLabel()
        self.dropped.setEnabled(False)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 6, 6, 0)
        bar.addWidget(QLabel("Level:"))
        bar.addWidget(self.level)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.dropped)

        self.view = QTableView()
        self.view.setObjectName("log-view")
        self.view.setModel(self.filter)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        metrics = self.fontMetrics()
        for column, text in enumerate(("00:00:00.000", "CRITICAL", "0123abcd", "labqueue.demo")):
            header.resizeSection(column, metrics.horizontalAdvance(text) + 18)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view)

        # Filtering 20,000 records per keystroke would lag: wait for a pause in typing.
        self._refilter = QTimer(self)
        self._refilter.setSingleShot(True)
        self._refilter.setInterval(200)
        self._refilter.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(self._refilter.start)
        self.level.currentIndexChanged.connect(self._apply_filter)
        self._apply_filter()

    def _apply_filter(self) -> None:
        self._refilter.stop()
        self.filter.set_filter(self.level.currentData(), self.search.text())

    def attach(self) -> None:
        """Start receiving the records of the root logger."""
        logging.getLogger().addHandler(self.inbox)

    def detach(self) -> None:
        logging.getLogger().removeHandler(self.inbox)

    def flush(self) -> None:
        """Show the records that arrived since the last call (GUI thread)."""
        records = self.inbox.take()
        if not records:
            return
        scrollbar = self.view.verticalScrollBar()
        at_bottom = scrollbar.value() >= scrollbar.maximum() - 2
        self.model.append([LogRow.from_record(record) for record in records[-MAX_ROWS:]])
        if self.inbox.dropped:
            self.dropped.setText(f"{self.inbox.dropped} records skipped while busy")
        if at_bottom:
            self.view.scrollToBottom()

    def set_palette(self, palette: QPalette) -> None:
        self.model.set_palette(palette)
