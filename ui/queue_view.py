"""QueueView: the table of experiments, with drag and drop among the queued rows."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from core import Experiment

from .progress_delegate import ProgressDelegate
from .queue_model import Column, QueueModel

__all__ = ["QueueView"]

# Starting widths: the widest text each column usually shows; the result column takes the rest.
_WIDEST_TEXT = {
    Column.STATUS: "Interrupted",
    Column.POSITION: "100000",
    Column.TITLE: "resonance_sweep(f_start=9.35, f_",
    Column.QUEUED_AT: "00:00:00",
    Column.STARTED_AT: "00:00:00",
    Column.DURATION: "≈ 2 min 05 s",
}
_ICON_SPACE = 28  # icon and cell margins


class QueueView(QTableView):
    """Shows a :class:`QueueModel`; rows are selected whole, any number at a time.

    Column widths never depend on the cells' contents: measuring 100,000 rows on
    every update is exactly what keeps a big queue from scrolling smoothly.
    """

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queue-view")
        self.setModel(model)
        self.setItemDelegateForColumn(Column.RESULT, ProgressDelegate(self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        # Drops land between rows (the model has no droppable items), and a successful
        # move must not make the view delete the dragged rows afterwards.
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setDragDropOverwriteMode(False)

        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionsMovable(True)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        metrics = self.fontMetrics()
        for column, text in _WIDEST_TEXT.items():
            icon = _ICON_SPACE if column == Column.STATUS else 0
            header.resizeSection(column, metrics.horizontalAdvance(text) + icon + 16)

    def queue_model(self) -> QueueModel:
        model = self.model()
        assert isinstance(model, QueueModel)
        return model

    def selected_row_runs(self) -> list[tuple[int, int]]:
        """Selected rows as sorted, merged ``(first, last)`` runs (cheap for any selection)."""
        spans = sorted((span.top(), span.bottom()) for span in self.selectionModel().selection())
        runs: list[tuple[int, int]] = []
        for top, bottom in spans:
            if runs and top <= runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], max(runs[-1][1], bottom))
            else:
                runs.append((top, bottom))
        return runs

    def selected_experiments(self, first_row: int = 0, end_row: int | None = None) -> list[Experiment]:
        """Selected experiments in row order, only from rows ``first_row .. end_row - 1``."""
        model = self.queue_model()
        end_row = model.rowCount() if end_row is None else end_row
        chosen: list[Experiment] = []
        for top, bottom in self.selected_row_runs():
            top, bottom = max(top, first_row), min(bottom, end_row - 1)
            chosen += (model.experiment(row) for row in range(top, bottom + 1))
        return chosen

    def select_rows(self, rows: list[int]) -> None:
        """Select exactly these rows (and make the first one current)."""
        model = self.queue_model()
        selection = QItemSelection()
        for row in rows:
            selection.select(model.index(row, 0), model.index(row, model.columnCount() - 1))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.selectionModel().select(selection, flags)
        if rows:
            self.selectionModel().setCurrentIndex(
                model.index(rows[0], 0), QItemSelectionModel.SelectionFlag.NoUpdate
            )
