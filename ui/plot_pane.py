"""PlotPane: live curves of what the running experiment publishes.

One pyqtgraph ``PlotDataItem`` per series, created once and fed with ``setData``
once per frame from numpy buffers that grow by doubling. Clip-to-view and peak
downsampling keep a million points fluid. pyqtgraph (0.2 s to import) is imported on
the import thread once the window has painted (:meth:`PlotPane.prepare`, see
``background_work``), so it neither delays the start nor freezes the window after it.
"""

from __future__ import annotations

import logging
from numbers import Real
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from labqueue.core import Experiment

from .background_work import import_in_background
from .theme import themed_color

__all__ = ["PlotPane", "SeriesBuffer"]

logger = logging.getLogger("labqueue.ui")

# Curve colours (light palette, dark palette), in the order series appear.
_CURVE_COLORS = [
    ("#1a6dd6", "#5ea8ff"),
    ("#d9730d", "#ffa04d"),
    ("#1b8a3c", "#4cc46d"),
    ("#8e3fbf", "#c792f5"),
    ("#d22f27", "#ff6f61"),
    ("#00838f", "#4dd0e1"),
]


class SeriesBuffer:
    """The x and y values of one series, in float arrays that double when full."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self.size = 0

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        needed = self.size + len(y)
        if needed > len(self._y):
            capacity = max(needed, 2 * len(self._y))
            for name in ("_x", "_y"):
                grown = np.empty(capacity)
                grown[: self.size] = getattr(self, name)[: self.size]
                setattr(self, name, grown)
        self._x[self.size : needed] = x
        self._y[self.size : needed] = y
        self.size = needed

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.size]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.size]


class PlotPane(QWidget):
    """Curves of the experiment that published last; a new experiment starts afresh."""

    _pyqtgraph_imported = Signal()  # from the import thread (a queued connection)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("plot-pane")
        self.experiment: Experiment | None = None
        self.buffers: dict[str, SeriesBuffer] = {}
        self.curves: dict[str, Any] = {}  # series -> pyqtgraph PlotDataItem
        self._spare_curves: list[Any] = []  # emptied curves of earlier experiments
        self._plot_widget = None
        self._rejected: set[str] = set()
        self.caption = QLabel()
        self.caption.setObjectName("plot-caption")
        self.caption.setWordWrap(True)
        self.caption.setContentsMargins(8, 6, 8, 0)
        self._placeholder = QLabel(
            "Live data appears here while an experiment publishes it\nwith manager.publish(series, x, y)."
        )
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setEnabled(False)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._placeholder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self._stack, 1)
        self.caption.hide()
        self._importing = False
        self._pyqtgraph_imported.connect(self._make_plot, Qt.ConnectionType.QueuedConnection)

    def prepare(self) -> None:
        """Import pyqtgraph on a helper thread, then make the plot on this one; returns at once."""
        self._importing = True
        import_in_background(self._import_pyqtgraph)

    def _make_plot(self) -> None:
        self._importing = False
        self.plot_widget  # noqa: B018 (makes it)
        self._draw({series: ([], []) for series in self.buffers})  # what arrived meanwhile

    def _import_pyqtgraph(self) -> None:  # on the import thread
        try:
            import pyqtgraph  # noqa: F401
        except Exception:  # shows when the GUI thread imports it again
            pass
        try:
            self._pyqtgraph_imported.emit()
        except RuntimeError:
            pass  # the pane was closed meanwhile: nothing to make

    @property
    def plot_widget(self):
        """The pyqtgraph PlotWidget, created (and pyqtgraph imported) on first use."""
        if self._plot_widget is None:
            import pyqtgraph as pg

            widget = pg.PlotWidget()
            widget.setObjectName("plot-widget")
            widget.showGrid(x=True, y=True, alpha=0.25)
            self._legend = widget.addLegend(offset=(-10, 10))
            widget.setMenuEnabled(True)
            self._plot_widget = widget
            self._stack.addWidget(widget)
            self._apply_palette(self.palette())
        return self._plot_widget

    def add_points(self, points: list[tuple[Any, str, Any, Any]]) -> None:
        """Append ``(experiment, series, x, y)`` points and redraw the changed curves once."""
        if not points:
            return
        pending: dict[str, tuple[list, list]] = {}
        for exp, series, x, y in points:
            if exp is not self.experiment:
                self._draw(pending)
                pending = {}
                self._start(exp)
            buffer = self.buffers.get(series)
            if buffer is None:
                buffer = self.buffers[series] = SeriesBuffer()
            xs, ys = pending.setdefault(series, ([], []))
            if isinstance(y, Real) and (x is None or isinstance(x, Real)):
                xs.append(buffer.size + len(ys) if x is None else x)
                ys.append(y)
                continue
            arrays = self._as_arrays(series, x, y, buffer.size + len(ys))
            if arrays is not None:
                buffer.extend(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
                buffer.extend(*arrays)
                xs.clear()
                ys.clear()
        self._draw(pending)

    def _as_arrays(self, series: str, x: Any, y: Any, start: int) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            ys = np.atleast_1d(np.asarray(y, dtype=float)).ravel()
            xs = (
                np.arange(start, start + len(ys), dtype=float)
                if x is None
                else np.atleast_1d(np.asarray(x, dtype=float)).ravel()
            )
            if len(xs) != len(ys):
                raise ValueError(f"{len(xs)} x values for {len(ys)} y values")
        except (TypeError, ValueError) as exc:
            if series not in self._rejected:  # once per series, not once per point
                self._rejected.add(series)
                logger.warning("Cannot plot series %r: %s (x=%.80r, y=%.80r)", series, exc, x, y)
            return None
        return xs, ys

    def _start(self, exp: Experiment | None) -> None:
        """Forget the previous experiment's data: the plot follows the newest one.

        Its curves are emptied and kept for the next series, never removed: a removed
        item would belong to Python again and could be destroyed off the GUI thread.
        """
        self.experiment = exp
        for curve in self.curves.values():
            curve.setData([], [])
            curve.hide()
            self._legend.removeItem(curve)
            self._spare_curves.append(curve)
        self.curves.clear()
        self.buffers.clear()
        self._rejected.clear()
        title = exp.title if exp is not None else "published outside an experiment"
        self.caption.setText(title)
        self.caption.setToolTip(title)
        self.caption.show()

    def _draw(self, pending: dict[str, tuple[list, list]]) -> None:
        drawn = False
        for series, (xs, ys) in pending.items():
            buffer = self.buffers[series]
            if xs:
                buffer.extend(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        if self._importing:
            # Drawing now would import pyqtgraph here, waiting for the import thread
            # (the window would freeze for it): the curves are drawn once it is in.
            return
        for series in pending:
            buffer = self.buffers[series]
            if buffer.size:
                self._curve(series).setData(buffer.x, buffer.y)
                drawn = True
        if drawn:
            self._stack.setCurrentWidget(self.plot_widget)

    def _curve(self, series: str):
        curve = self.curves.get(series)
        if curve is None:
            if self._spare_curves:
                curve = self._spare_curves.pop(0)
                curve.show()
            else:
                curve = self.plot_widget.plot(antialias=True)
                curve.setClipToView(True)
                curve.setDownsampling(auto=True, method="peak")
            curve.setData(name=series)
            self._legend.addItem(curve, series)
            self.curves[series] = curve
            self._color_curve(series, curve, self.palette())
        return curve

    def _color_curve(self, series: str, curve, palette: QPalette) -> None:
        import pyqtgraph as pg

        pair = _CURVE_COLORS[list(self.curves).index(series) % len(_CURVE_COLORS)]
        curve.setPen(pg.mkPen(themed_color(pair, palette), width=1.6))

    def set_palette(self, palette: QPalette) -> None:
        if self._plot_widget is not None:
            self._apply_palette(palette)

    def _apply_palette(self, palette: QPalette) -> None:
        widget = self._plot_widget
        text = palette.color(QPalette.ColorRole.Text)
        base = palette.color(QPalette.ColorRole.Base)
        widget.setBackground(base)
        base.setAlpha(200)  # the legend stays readable over a curve
        self._legend.setBrush(base)
        self._legend.setLabelTextColor(text)
        for side in ("left", "bottom"):
            axis = widget.getAxis(side)
            axis.setPen(text)
            axis.setTextPen(text)
        for series, curve in self.curves.items():
            self._color_curve(series, curve, palette)
