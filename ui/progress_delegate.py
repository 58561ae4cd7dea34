"""Paints a progress bar with the experiment's message in the running row's cell."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from .queue_model import PROGRESS_ROLE

__all__ = ["ProgressDelegate"]

_STEPS = 1000


class ProgressDelegate(QStyledItemDelegate):
    """Cells with :data:`PROGRESS_ROLE` data show a bar; others paint as usual.

    A fraction of None (the job did not say how far it is) shows an empty bar with
    the message, so the message is never hidden.
    """

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        progress = index.data(PROGRESS_ROLE)
        if progress is None:
            super().paint(painter, option, index)
            return
        fraction, message = progress
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, widget)
        bar = QStyleOptionProgressBar()
        if widget is not None:
            bar.initFrom(widget)
        bar.rect = option.rect.adjusted(3, 3, -3, -3)
        bar.palette = option.palette
        bar.state = option.state | QStyle.StateFlag.State_Horizontal
        bar.minimum, bar.maximum = 0, _STEPS
        bar.progress = round((fraction or 0.0) * _STEPS)
        percent = f"{fraction:.0%}" if fraction is not None else ""
        bar.text = "  ".join(part for part in (percent, message) if part)
        bar.textVisible = True
        bar.fontMetrics = option.fontMetrics
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)
