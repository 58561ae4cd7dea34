"""PlotPane: the curves of the running experiment as it publishes, or of the
experiments selected in the table, overlaid.

What an experiment publishes is kept with it by the core (``PublishedData``; the
journal has it for earlier sessions), so the pane only reads: once per frame it takes
the points each shown series gained since the last frame into numpy buffers that
grow by doubling, and feeds one pyqtgraph ``PlotDataItem`` per series with
``setData``. Clip-to-view and peak downsampling keep a million points fluid; curves
are reused, never re-created. The legend is a line of text under the plot, so it
never covers the data. pyqtgraph (0.2 s to import) is imported on the import thread
once the window has painted (:meth:`PlotPane.prepare`, see ``background_work``).
"""

from __future__ import annotations

import csv
import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from labqueue.core import Experiment
from labqueue.core.engine import PublishedData, Series

from .background_work import import_in_background
from .theme import themed_color

__all__ = ["MAX_OVERLAID", "PlotPane", "SeriesBuffer"]

logger = logging.getLogger("labqueue.ui")

#: Selected experiments overlaid at most (the first ones selected, in table order).
MAX_OVERLAID = 12

# Curve colours (light palette, dark palette), in the order curves appear.
_CURVE_COLORS = [
    ("#1a6dd6", "#5ea8ff"),
    ("#d9730d", "#ffa04d"),
    ("#1b8a3c", "#4cc46d"),
    ("#8e3fbf", "#c792f5"),
    ("#d22f27", "#ff6f61"),
    ("#00838f", "#4dd0e1"),
    ("#8c6d1f", "#e0c060"),
    ("#c2185b", "#f48fb1"),
]

_CSV_HEADER = ["experiment_id", "experiment", "series", "x", "y", "x_label", "y_label", "x_units", "y_units"]
_PLACEHOLDER_LIVE = "Live data appears here while an experiment publishes it\nwith publish(series, x, y)."
_PLACEHOLDER_SELECTED = "The selected experiments published no data."


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
    """Live: the experiment that published last (the running one, as it publishes).
    Otherwise the experiments selected in the table, each series in its own colour.

    ``data_of(experiment)`` gives what an experiment published (the manager's
    ``published_data``, which reads the journal for earlier sessions).
    """

    _pyqtgraph_imported = Signal()  # from the import thread (a queued connection)

    def __init__(self, data_of: Callable[[Experiment], PublishedData | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("plot-pane")
        self._data_of = data_of
        self.live = True
        self.shown: list[Experiment] = []
        self._live_experiment: Experiment | None = None
        self.buffers: dict[tuple[str, str], SeriesBuffer] = {}  # (experiment id, series) -> points
        self.curves: dict[tuple[str, str], Any] = {}  # ... -> pyqtgraph PlotDataItem
        self._series: dict[tuple[str, str], tuple[Experiment, Series]] = {}
        self._spare_curves: list[Any] = []  # emptied curves, for the next ones
        self._plot_widget = None
        self._importing = False
        self._labels_shown: tuple | None = None

        self.caption = QLabel()
        self.caption.setObjectName("plot-caption")
        self.caption.setWordWrap(True)
        self.live_button = QPushButton("Live")
        self.live_button.setObjectName("plot-live")
        self.live_button.setCheckable(True)
        self.live_button.setChecked(True)
        self.live_button.setToolTip("Follow the running experiment (selecting finished rows shows theirs)")
        self.live_button.clicked.connect(self._live_clicked)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setObjectName("plot-export")
        self.export_button.setToolTip("Save the data shown here as a CSV file (one row per point)")
        self.export_button.clicked.connect(self._ask_export)
        self.export_button.setEnabled(False)
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 6, 8, 0)
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.live_button)
        bar.addWidget(self.export_button)
        self._placeholder = QLabel(_PLACEHOLDER_LIVE)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setEnabled(False)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._placeholder)
        self.legend = QLabel()
        self.legend.setObjectName("plot-legend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setContentsMargins(8, 0, 8, 4)
        self.legend.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self._stack, 1)
        layout.addWidget(self.legend)
        self._pyqtgraph_imported.connect(self._make_plot, Qt.ConnectionType.QueuedConnection)

    # -- pyqtgraph, after the first paint ----------------------------------------------

    def prepare(self) -> None:
        """Import pyqtgraph on the import thread, then make the plot here; returns at once."""
        self._importing = True
        import_in_background(self._import_pyqtgraph)

    def _import_pyqtgraph(self) -> None:  # on the import thread
        try:
            import pyqtgraph  # noqa: F401
        except Exception:  # shows when the GUI thread imports it again
            pass
        try:
            self._pyqtgraph_imported.emit()
        except RuntimeError:
            pass  # the pane was closed meanwhile: nothing to make

    def _make_plot(self) -> None:
        self._importing = False
        self.plot_widget  # noqa: B018 (makes it)
        self._draw(set(self.buffers))  # what arrived meanwhile

    @property
    def plot_widget(self):
        """The pyqtgraph PlotWidget, created (and pyqtgraph imported) on first use."""
        if self._plot_widget is None:
            import pyqtgraph as pg

            widget = pg.PlotWidget()
            widget.setObjectName("plot-widget")
            widget.showGrid(x=True, y=True, alpha=0.25)
            widget.setMenuEnabled(True)
            self._plot_widget = widget
            self._stack.addWidget(widget)
            self._apply_palette(self.palette())
        return self._plot_widget

    # -- what to show ------------------------------------------------------------------

    def show_selected(self, experiments: list[Experiment], running: Experiment | None = None) -> None:
        """Show the experiments selected in the table (at most :data:`MAX_OVERLAID`).
        None selected, or only the running one: follow the running experiment."""
        if not experiments or experiments == [running]:
            self._set_live(True)
            return
        self._set_live(False)
        self._show(experiments[:MAX_OVERLAID])

    def set_live(self, publisher: Experiment | None) -> None:
        """The experiment that published last (every frame): live, the pane shows it."""
        if publisher is not None and publisher is not self._live_experiment:
            self._live_experiment = publisher
            if self.live:
                self._show([publisher])

    def _live_clicked(self) -> None:
        self._set_live(self.live_button.isChecked())

    def _set_live(self, live: bool) -> None:
        self.live = live
        self.live_button.setChecked(live)
        if live:
            self._show([self._live_experiment] if self._live_experiment is not None else [])

    def _show(self, experiments: list[Experiment]) -> None:
        if experiments == self.shown:
            return
        self.shown = list(experiments)
        # The curves are emptied and kept for the next series, never removed: a removed
        # item would belong to Python again and could be destroyed off the GUI thread.
        for curve in self.curves.values():
            curve.setData([], [])
            curve.hide()
            self._spare_curves.append(curve)
        self.curves.clear()
        self.buffers.clear()
        self._series.clear()
        self._labels_shown = None
        self._placeholder.setText(_PLACEHOLDER_LIVE if self.live else _PLACEHOLDER_SELECTED)
        self._show_caption()
        self.refresh()
        if not any(buffer.size for buffer in self.buffers.values()):
            self._stack.setCurrentWidget(self._placeholder)
            self.legend.hide()
            self.export_button.setEnabled(False)

    def _show_caption(self) -> None:
        shown = self.shown
        if not shown:
            text = ""
        elif len(shown) == 1:
            text = ("Live: " if self.live else "") + shown[0].title
        else:
            text = f"{len(shown)} experiments, each in its own colour"
        self.caption.setText(text)
        self.caption.setToolTip("\n".join(exp.title for exp in shown))

    # -- every frame -------------------------------------------------------------------

    def refresh(self) -> None:
        """Take in the points the shown series gained since the last call, redraw those."""
        changed = set()
        for exp in self.shown:
            data = exp.published if exp is self._live_experiment else self._data_of(exp)
            if data is None:
                continue
            for series in list(data.series.values()):
                key = (exp.id, series.name)
                buffer = self.buffers.get(key)
                if buffer is None:
                    buffer = self.buffers[key] = SeriesBuffer()
                    self._series[key] = (exp, series)
                size = len(series.y)
                if size > buffer.size:
                    x, y = series.x[buffer.size : size], series.y[buffer.size : size]
                    buffer.extend(np.frombuffer(x, dtype=float), np.frombuffer(y, dtype=float))
                    changed.add(key)
        if changed:
            self._draw(changed)

    def _draw(self, keys: set[tuple[str, str]]) -> None:
        if self._importing or not keys:
            # Drawing now would import pyqtgraph here, waiting for the import thread
            # (the window would freeze for it): the curves are drawn once it is in.
            return
        drawn = False
        for key in self.buffers:  # in the order they appeared, for stable colours
            buffer = self.buffers[key]
            if key in keys and buffer.size:
                self._curve(key).setData(buffer.x, buffer.y)
                drawn = True
        if drawn:
            self._stack.setCurrentWidget(self.plot_widget)
            self.export_button.setEnabled(True)
            self._show_legend()
            self._show_axis_labels()

    def _curve(self, key: tuple[str, str]):
        curve = self.curves.get(key)
        if curve is None:
            if self._spare_curves:
                curve = self._spare_curves.pop(0)
                curve.show()
            else:
                curve = self.plot_widget.plot(antialias=True)
                curve.setClipToView(True)
                curve.setDownsampling(auto=True, method="peak")
            curve.setData(name=self._name(key))
            self.curves[key] = curve
            self._color_curve(key, curve, self.palette())
        return curve

    def _name(self, key: tuple[str, str]) -> str:
        exp, series = self._series[key]
        if len(self.shown) == 1:
            return series.name
        return f"{series.name} · {exp.id[:8]} {exp.title}"

    def _color(self, key: tuple[str, str], palette: QPalette):
        return themed_color(_CURVE_COLORS[list(self.curves).index(key) % len(_CURVE_COLORS)], palette)

    def _color_curve(self, key: tuple[str, str], curve, palette: QPalette) -> None:
        import pyqtgraph as pg

        curve.setPen(pg.mkPen(self._color(key, palette), width=1.6))

    def _show_legend(self) -> None:
        palette = self.palette()
        entries = [
            f'<span style="color:{self._color(key, palette).name()}">■</span>&nbsp;{html.escape(self._name(key))}'
            for key in self.curves
        ]
        self.legend.setText("&nbsp;&nbsp; ".join(entries))
        self.legend.setVisible(bool(entries))

    def _show_axis_labels(self) -> None:
        """Labels and units of the first shown series that has them."""
        series = [series for _, series in self._series.values()]
        x = next(((s.x_label, s.x_units) for s in series if s.x_label or s.x_units), (None, None))
        y = next(((s.y_label, s.y_units) for s in series if s.y_label or s.y_units), (None, None))
        if (x, y) == self._labels_shown:
            return
        self._labels_shown = (x, y)
        item = self.plot_widget.getPlotItem()
        for side, (label, units) in (("bottom", x), ("left", y)):
            if label or units:
                item.setLabel(side, label or "", units=units)
            else:
                item.showLabel(side, False)

    # -- export ------------------------------------------------------------------------

    def _ask_export(self) -> QFileDialog:
        dialog = QFileDialog(self, "Export the plotted data", str(Path.home() / "plot.csv"), "CSV files (*.csv)")
        dialog.setObjectName("export-csv")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("csv")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)  # the same on every desktop, and testable
        dialog.fileSelected.connect(lambda path: self.export_csv(Path(path)))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def export_csv(self, path: Path) -> int:
        """Write the shown points to ``path``, one row each; returns how many."""
        rows = 0
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(_CSV_HEADER)
            for key, buffer in self.buffers.items():
                exp, series = self._series[key]
                labels = [series.x_label or "", series.y_label or "", series.x_units or "", series.y_units or ""]
                for x, y in zip(buffer.x.tolist(), buffer.y.tolist(), strict=True):
                    writer.writerow([exp.id, exp.title, series.name, repr(x), repr(y), *labels])
                    rows += 1
        logger.info("Exported %d plotted points to %s", rows, path)
        return rows

    # -- palette -----------------------------------------------------------------------

    def set_palette(self, palette: QPalette) -> None:
        if self._plot_widget is not None:
            self._apply_palette(palette)

    def _apply_palette(self, palette: QPalette) -> None:
        widget = self._plot_widget
        text = palette.color(QPalette.ColorRole.Text)
        widget.setBackground(palette.color(QPalette.ColorRole.Base))
        for side in ("left", "bottom"):
            axis = widget.getAxis(side)
            axis.setPen(text)
            axis.setTextPen(text)
        for key, curve in self.curves.items():
            self._color_curve(key, curve, palette)
        if self.curves:
            self._show_legend()
