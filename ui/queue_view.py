"""QueueView: the table of experiments, with drag and drop among the queued rows."""

from __future__ import annotations

import time
from collections.abc import Sequence

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QRect, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from labqueue.core import Experiment

from .queue_model import HEADERS, Cell, Column, QueueModel
from .sweep_rows import SweepRow

__all__ = ["QueueView"]

# Starting widths: the widest text each column usually shows; the result column takes the rest.
_WIDEST_TEXT = {
    Column.STATUS: "Interrupted",
    Column.POSITION: "10,000",
    Column.TITLE: "resonance_sweep(f_start=9.3",
    Column.QUEUED_AT: "00 Mmm 00:00",  # a day other than today shows its date
    Column.STARTED_AT: "00 Mmm 00:00",
    Column.DURATION: "≈ 2 min 05 s",
    Column.ID: "0123abcd",
}
_ICON_SPACE = 28  # icon and cell margins
#: Ended rows kept in sight above the running one when the table scrolls to follow it.
_ROWS_ABOVE_RUNNING = 2
#: Least time between two scrolls that follow the running row.
FOLLOW_INTERVAL_S = 0.5
_PROGRESS_STEPS = 1000
#: Width of a sweep row's arrow; the runs shown under it are indented further.
_EXPANDER_WIDTH = 16
_RUN_INDENT = 28
_EXPAND_KEYS = (Qt.Key.Key_Right, Qt.Key.Key_Plus)
_COLLAPSE_KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Minus)
#: The columns a sweep's row paints its progress across (see QueueView._sweep_span).
_SWEEP_SPAN = (Column.QUEUED_AT, Column.STARTED_AT, Column.DURATION, Column.RESULT)
_EMPTY_TEXT = "Nothing queued yet.\nExperiments queued from the console or a script appear here."


class QueueView(QTableView):
    """Shows a :class:`QueueModel`; rows are selected whole, any number at a time.

    The view paints its cells itself, from :meth:`QueueModel.cell`, in one call into
    Python per paint. Qt's own painting calls into Python several times per cell, and
    each call waits for the interpreter lock while the worker runs Python, which made
    a full repaint take hundreds of milliseconds during fast runs. Column widths never
    depend on the contents: measuring 100,000 rows would be just as slow.
    """

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queue-view")
        self.setModel(model)
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
        # The header reads its labels from a small Qt model, not from Python at every repaint.
        header.setModel(_header_labels(self))
        header.setHighlightSections(False)
        header.setSectionsMovable(True)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        metrics = self.fontMetrics()
        for column, text in _WIDEST_TEXT.items():
            icon = _ICON_SPACE + _EXPANDER_WIDTH if column == Column.STATUS else 0  # room for a sweep's arrow
            header.resizeSection(column, metrics.horizontalAdvance(text) + icon + 12)
        header.moveSection(header.visualIndex(Column.ID), 1)  # after the status; Result stays last
        # The table keeps the running row in sight until the user scrolls it away, and
        # again once they scroll back to it.
        self.following = True
        self._followed_at = -FOLLOW_INTERVAL_S
        # Only the user's own scrolling (the scroll bar, the wheel) counts, not the
        # view's when rows come and go; judged once the scroll has been applied.
        self.verticalScrollBar().actionTriggered.connect(lambda _: QTimer.singleShot(0, self._user_scrolled))

    def queue_model(self) -> QueueModel:
        model = self.model()
        assert isinstance(model, QueueModel)
        return model

    # -- selection ---------------------------------------------------------------------

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

    def selected_items(self, first_row: int = 0, end_row: int | None = None) -> list[Experiment | SweepRow]:
        """Selected rows' experiments and sweeps in row order, only from rows ``first_row .. end_row - 1``."""
        model = self.queue_model()
        end_row = model.rowCount() if end_row is None else end_row
        chosen: list[Experiment | SweepRow] = []
        for top, bottom in self.selected_row_runs():
            top, bottom = max(top, first_row), min(bottom, end_row - 1)
            if top <= bottom:
                chosen += model.items(top, bottom + 1)
        return chosen

    def selected_experiments(self, first_row: int = 0, end_row: int | None = None) -> list[Experiment]:
        """Selected experiments in row order, only from rows ``first_row .. end_row - 1``
        (sweeps' rows left out: see :meth:`selected_sweeps`)."""
        chosen = self.selected_items(first_row, end_row)
        if not self.queue_model().grouped:
            return chosen  # type: ignore[return-value]  # no sweep rows
        return [item for item in chosen if type(item) is not SweepRow]

    def selected_sweeps(self) -> list[SweepRow]:
        """The sweeps whose rows are selected."""
        selection = self.selectionModel()
        return [sweep for row, sweep in self.queue_model().sweep_rows() if selection.isRowSelected(row)]

    def selected_runs_under_sweeps(self) -> list[Experiment]:
        """The selected experiments shown under a sweep's row (its runs, expanded)."""
        runs = self.selected_row_runs()
        chosen: list[Experiment] = []
        for row, sweep in self.queue_model().sweep_rows():
            if sweep.expanded:  # its runs are rows row + 1 .. row + len(members)
                for top, bottom in runs:
                    first, last = max(top, row + 1), min(bottom, row + len(sweep.members))
                    chosen += sweep.members[first - row - 1 : last - row]
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
            self.selectionModel().setCurrentIndex(model.index(rows[0], 0), QItemSelectionModel.SelectionFlag.NoUpdate)

    # -- a sweep's runs, shown or hidden ---------------------------------------------------

    def set_expanded(self, row: int, expanded: bool) -> None:
        """Show (or hide) the runs of the sweep at ``row`` (the selection stays on its rows)."""
        self.queue_model().set_expanded(row, expanded)
        self.executeDelayedItemsLayout()

    def _expander_hit(self, event: QMouseEvent) -> int | None:
        """The row of the sweep whose arrow ``event`` is on, or None."""
        index = self.indexAt(event.position().toPoint())
        if not index.isValid() or index.column() != Column.STATUS:
            return None
        if self.queue_model().sweep(index.row()) is None:
            return None
        left = self.columnViewportPosition(Column.STATUS)
        return index.row() if event.position().x() - left < _EXPANDER_WIDTH + 4 else None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        row = self._expander_hit(event)
        if row is not None and event.button() == Qt.MouseButton.LeftButton:
            sweep = self.queue_model().sweep(row)
            assert sweep is not None
            self.set_expanded(row, not sweep.expanded)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        # A double click's second press came first and toggled again: nothing more to do.
        if self._expander_hit(event) is None:
            super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Right or + shows the current sweep's runs, Left or - hides them (from one of
        its runs: back to the sweep's row)."""
        key = event.key()
        current = self.currentIndex()
        model = self.queue_model()
        if current.isValid() and model.grouped and key in (*_EXPAND_KEYS, *_COLLAPSE_KEYS):
            sweep = model.sweep(current.row())
            if sweep is not None:
                self.set_expanded(current.row(), key in _EXPAND_KEYS)
                event.accept()
                return
            exp = model.experiment(current.row())
            parent = model.sweep_of(exp) if exp is not None and key in _COLLAPSE_KEYS else None
            if parent is not None:
                row = model.row_of(parent.id)
                if row is not None:
                    self.select_rows([row])
                    self.scrollTo(model.index(row, 0))
                    event.accept()
                    return
        super().keyPressEvent(event)

    # -- following the running row -------------------------------------------------------

    def follow_running(self) -> None:
        """Scroll the running row into sight, unless the user scrolled away from it."""
        model = self.queue_model()
        row = model.running_row
        now = time.monotonic()
        if not self.following or row is None or now - self._followed_at < FOLLOW_INTERVAL_S:
            return
        # Rows inserted this frame are laid out later: lay them out now, or the scroll
        # range would not reach the running row yet.
        self.executeDelayedItemsLayout()
        first, last = self._rows_on_screen()
        if not first <= row <= last or row == last and last < model.rowCount() - 1:
            # With the running row near the top, it walks down the rows on screen for a
            # while: a run scrolls (and repaints every row) seldom, and a fast run of
            # short jobs at most every FOLLOW_INTERVAL_S.
            self._followed_at = now
            top = model.index(max(0, row - _ROWS_ABOVE_RUNNING), 0)
            self.scrollTo(top, QAbstractItemView.ScrollHint.PositionAtTop)

    def _user_scrolled(self) -> None:
        row = self.queue_model().running_row
        if row is not None:
            first, last = self._rows_on_screen()
            self.following = first <= row <= last

    # -- painting ----------------------------------------------------------------------

    def dataChanged(self, top_left: QModelIndex, bottom_right: QModelIndex, roles: Sequence[int] = ()) -> None:
        """Repaint only the rows of the change that are on screen (Qt would repaint the
        whole table for any change, even one far out of view)."""
        first, last = self._rows_on_screen()
        first, last = max(first, top_left.row()), min(last, bottom_right.row())
        if first > last:
            return
        top = self.rowViewportPosition(first)
        bottom = self.rowViewportPosition(last) + self.rowHeight(last)
        if top_left.column() == 0 and bottom_right.column() == self.model().columnCount() - 1:
            self.viewport().update(0, top, self.viewport().width(), bottom - top)
            return
        for column in range(top_left.column(), bottom_right.column() + 1):  # only those columns
            self.viewport().update(self.columnViewportPosition(column), top, self.columnWidth(column), bottom - top)

    def _rows_on_screen(self) -> tuple[int, int]:
        last = self.rowAt(self.viewport().height() - 1)
        return max(self.rowAt(0), 0), last if last >= 0 else self.model().rowCount() - 1

    def paintEvent(self, event: QPaintEvent) -> None:
        model = self.queue_model()
        if not model.rowCount():
            # Rows put since the last frame are not in the model yet: say "nothing
            # queued" only when the queue itself is empty (both read without its lock).
            queue = model.queue
            if not queue.has_queued() and queue.running_experiment is None:
                self._paint_empty()
        elif self.state() == QAbstractItemView.State.DraggingState:
            super().paintEvent(event)  # Qt draws the drop indicator; a drag is short
        else:
            self._paint_cells(model, event.rect())

    def _paint_empty(self) -> None:
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, _EMPTY_TEXT)
        painter.end()

    def _paint_cells(self, model: QueueModel, area: QRect) -> None:
        first_row = max(self.rowAt(area.top()), 0)
        last_row = self.rowAt(area.bottom())
        if last_row < 0:
            last_row = model.rowCount() - 1
        header = self.horizontalHeader()
        columns = []
        for visual in range(header.count()):
            column = header.logicalIndex(visual)
            left, width = self.columnViewportPosition(column), self.columnWidth(column)
            if not header.isSectionHidden(column) and left <= area.right() and left + width >= area.left():
                columns.append((column, left, width))
        template = QStyleOptionViewItem()
        self.initViewItemOption(template)
        selection, current = self.selectionModel(), self.currentIndex()
        focused = self.hasFocus()
        style = self.style()
        painter = QPainter(self.viewport())
        span = self._sweep_span(header) if model.grouped else None
        sweep_columns = columns
        if span is not None:  # a sweep's progress and counts take the span's room
            left, right = span
            sweep_columns = [(c, x, w) for c, x, w in columns if c not in _SWEEP_SPAN]
            if left <= area.right() and right >= area.left():
                sweep_columns.append((Column.RESULT, left, right - left))
        for row in range(first_row, last_row + 1):
            top, height = self.rowViewportPosition(row), self.rowHeight(row)
            selected = selection.isRowSelected(row)
            sweep = span is not None and model.sweep(row) is not None
            for column, left, width in sweep_columns if sweep else columns:
                option = QStyleOptionViewItem(template)
                option.rect = QRect(left, top, width, height)
                if selected:
                    option.state |= QStyle.StateFlag.State_Selected
                if focused and row == current.row() and column == current.column():
                    option.state |= QStyle.StateFlag.State_HasFocus
                if row % 2:
                    option.features |= QStyleOptionViewItem.ViewItemFeature.Alternate
                style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewRow, option, painter, self)
                cell = model.cell(row, column)
                if sweep and column == Column.RESULT:
                    cell = _with_time_left(cell, model.cell(row, Column.DURATION).text)
                self._paint_cell(painter, option, cell, style)
        painter.end()

    def _sweep_span(self, header: QHeaderView) -> tuple[int, int] | None:
        """Left and right of the Queued, Started, Duration and Result columns when they
        stand side by side (as they do unless the user moved them): a sweep's row shows
        its progress, counts and time left across them (its first times are in the
        details), room that the Result column alone seldom has."""
        visuals = sorted(header.visualIndex(column) for column in _SWEEP_SPAN)
        if visuals[-1] - visuals[0] != len(visuals) - 1 or any(header.isSectionHidden(c) for c in _SWEEP_SPAN):
            return None
        left = min(self.columnViewportPosition(column) for column in _SWEEP_SPAN)
        right = max(self.columnViewportPosition(column) + self.columnWidth(column) for column in _SWEEP_SPAN)
        return left, right

    def _paint_cell(self, painter: QPainter, option: QStyleOptionViewItem, cell: Cell, style: QStyle) -> None:
        if cell.expanded is not None or cell.indent:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, self)
            if cell.expanded is not None:
                self._paint_expander(painter, option, cell.expanded, style)
            option.rect = option.rect.adjusted(_RUN_INDENT * cell.indent if cell.indent else _EXPANDER_WIDTH, 0, 0, 0)
        if cell.progress is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, self)
            self._paint_progress(painter, option, cell.progress, style)
            return
        if cell.badge is not None:
            self._paint_badge(painter, option, cell.badge, style)  # at the right; the text gets the rest
        option.text = cell.text
        option.features |= QStyleOptionViewItem.ViewItemFeature.HasDisplay
        option.displayAlignment = cell.alignment
        if cell.icon is not None:
            option.icon = cell.icon
            option.features |= QStyleOptionViewItem.ViewItemFeature.HasDecoration
        if cell.font is not None:
            option.font = cell.font
            option.fontMetrics = QFontMetrics(cell.font)
        if cell.color is not None:
            option.palette.setColor(QPalette.ColorRole.Text, cell.color)
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, self)

    def _paint_expander(self, painter: QPainter, option: QStyleOptionViewItem, expanded: bool, style: QStyle) -> None:
        arrow = QStyleOptionViewItem(option)
        size = min(_EXPANDER_WIDTH, option.rect.height()) - 4
        arrow.rect = QRect(option.rect.left() + 4, option.rect.center().y() - size // 2, size, size)
        arrow.palette.setColor(QPalette.ColorRole.ButtonText, option.palette.color(QPalette.ColorRole.Text))
        element = QStyle.PrimitiveElement
        shape = element.PE_IndicatorArrowDown if expanded else element.PE_IndicatorArrowRight
        style.drawPrimitive(shape, arrow, painter, self)

    def _paint_badge(
        self, painter: QPainter, option: QStyleOptionViewItem, badge: tuple[str, QColor], style: QStyle
    ) -> None:
        text, color = badge
        width = option.fontMetrics.horizontalAdvance(text) + 12
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, self)
        area = QRect(option.rect.right() - width, option.rect.top(), width, option.rect.height())
        painter.save()
        painter.setPen(color)
        painter.drawText(area.adjusted(0, 0, -6, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
        painter.restore()
        option.rect = option.rect.adjusted(0, 0, -width, 0)

    def _paint_progress(
        self, painter: QPainter, option: QStyleOptionViewItem, progress: tuple[float | None, str], style: QStyle
    ) -> None:
        """A short bar with the percentage in it, and the message beside it (elided);
        an empty bar when the job gave no fraction."""
        fraction, message = progress
        metrics = option.fontMetrics
        area = option.rect.adjusted(3, 3, -3, -3)
        bar = QStyleOptionProgressBar()
        bar.initFrom(self)
        bar_width = min(area.width(), metrics.horizontalAdvance("100%") + 16)
        bar.rect = QRect(area.left(), area.top(), bar_width, area.height())
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        bar.minimum, bar.maximum = 0, _PROGRESS_STEPS
        bar.progress = round((fraction or 0.0) * _PROGRESS_STEPS)
        bar.text = f"{fraction:.0%}" if fraction is not None else ""
        bar.textVisible = fraction is not None
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, self)
        text_area = area.adjusted(bar.rect.width() + 6, 0, 0, 0)
        if message and text_area.width() > 0:
            selected = option.state & QStyle.StateFlag.State_Selected
            role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
            painter.save()
            painter.setPen(option.palette.color(role))
            painter.setFont(option.font)
            elided = metrics.elidedText(message, Qt.TextElideMode.ElideRight, text_area.width())
            painter.drawText(text_area, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, elided)
            painter.restore()


def _with_time_left(cell: Cell, time_left: str) -> Cell:
    """A sweep's Result cell, spanning its row's Duration too: its time left after its counts."""
    if not time_left or cell.progress is None:
        return cell
    fraction, counts = cell.progress
    return cell._replace(progress=(fraction, f"{counts} · {time_left}"))


def _header_labels(parent: QWidget) -> QStandardItemModel:
    labels = QStandardItemModel(0, len(Column), parent)
    for column, (label, tip) in HEADERS.items():
        item = QStandardItem(label)
        item.setToolTip(tip)
        item.setTextAlignment(QueueModel.alignment(column))
        labels.setHorizontalHeaderItem(column, item)
    return labels
