"""Plots per experiment: any finished row shows its curves, several overlay, the axes
say what they are, the data comes back from the journal and exports to CSV."""

from __future__ import annotations

import csv
import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit

from labqueue import Manager, plot_axes, publish
from labqueue.ui.main_window import MainWindow

from .conftest import click_row, wait_for
from .test_run_state import save_screenshot


def field_sweep(start: float, points: int = 4) -> int:
    for i in range(points):
        publish("signal", start + i, (start + i) ** 2, x_label="field", y_label="lock-in X", units=("T", "V"))
    return points


@plot_axes("spectrum", x_label="magnetic field", y_label="absorption", units=("mT", "a.u."))
def spectrum(points: int = 3) -> int:
    for i in range(points):
        publish("spectrum", 340.0 + i, float(i))
    return points


def plotted(pane, exp, series="signal") -> list[float]:
    buffer = pane.buffers.get((exp.id, series))
    return list(buffer.y) if buffer is not None else []


def test_a_finished_row_shows_its_curves_and_several_overlay_each_in_its_colour(qtbot, window, manager, tmp_path):
    first = manager.queued_exec(field_sweep)(1.0)
    second = manager.queued_exec(field_sweep)(10.0)
    second.result(timeout=10)
    pane = window.plot_pane
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 2 and pane.shown == [second])

    click_row(qtbot, window, 0)  # the first one, which the live plot has left behind
    qtbot.waitUntil(lambda: pane.shown == [first] and plotted(pane, first) == [1.0, 4.0, 9.0, 16.0])
    assert not pane.live and pane.caption.text() == first.title

    click_row(qtbot, window, 1, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: pane.shown == [first, second] and len(pane.curves) == 2)
    pens = {curve.opts["pen"].color().name() for curve in pane.curves.values()}
    assert len(pens) == 2  # each in its own colour
    legend = pane.legend.text()
    assert first.id[:8] in legend and second.id[:8] in legend  # under the plot, not over the data
    item = pane.plot_widget.getPlotItem()
    assert item.getAxis("bottom").labelText == "field" and item.getAxis("bottom").labelUnits == "T"
    assert item.getAxis("left").labelText == "lock-in X" and item.getAxis("left").labelUnits == "V"
    assert pane.caption.text() == "2 experiments, each in its own colour"
    save_screenshot(window, tmp_path, "overlaid-plots")

    qtbot.mouseClick(pane.live_button, Qt.MouseButton.LeftButton)  # back to the live plot
    assert pane.live and pane.shown == [second]


def test_the_axes_a_function_declares_label_its_plot(qtbot, window, manager):
    exp = manager.queued_exec(spectrum)()
    exp.result(timeout=10)
    pane = window.plot_pane
    qtbot.waitUntil(lambda: len(plotted(pane, exp, "spectrum")) == 3)
    item = pane.plot_widget.getPlotItem()
    assert (item.getAxis("bottom").labelText, item.getAxis("bottom").labelUnits) == ("magnetic field", "mT")
    assert (item.getAxis("left").labelText, item.getAxis("left").labelUnits) == ("absorption", "a.u.")


def test_selecting_the_running_row_or_nothing_follows_the_live_experiment(qtbot, window, manager):
    done = manager.queued_exec(field_sweep)(2.0)
    done.result(timeout=10)
    gate = threading.Event()

    def live_scan(gate) -> None:
        publish("live", None, 1.0)
        wait_for(gate)

    running = manager.queued_exec(live_scan)(gate)
    pane = window.plot_pane
    qtbot.waitUntil(lambda: pane.shown == [running])
    click_row(qtbot, window, 0)
    qtbot.waitUntil(lambda: pane.shown == [done])

    click_row(qtbot, window, 1)  # the running one

    qtbot.waitUntil(lambda: pane.live and pane.shown == [running])
    gate.set()


def test_the_curves_of_an_earlier_session_come_back_from_the_journal(qtbot, tmp_path):
    data = tmp_path / "lab"
    first = Manager(data_dir=data)
    exp = first.queued_exec(field_sweep)(3.0)
    exp.result(timeout=10)
    first.shutdown()

    window = MainWindow(Manager(data_dir=data), config_dir=tmp_path / "config")
    qtbot.addWidget(window)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1)
        click_row(qtbot, window, 0)
        pane = window.plot_pane
        restored = window.queue_model.experiment(0)
        qtbot.waitUntil(lambda: plotted(pane, restored) == [9.0, 16.0, 25.0, 36.0])
    finally:
        window.manager.shutdown()


def test_the_shown_data_exports_to_csv(qtbot, window, manager, tmp_path):
    exp = manager.queued_exec(field_sweep)(1.0, points=3)
    exp.result(timeout=10)
    pane = window.plot_pane
    qtbot.waitUntil(lambda: len(plotted(pane, exp)) == 3 and pane.export_button.isEnabled())

    qtbot.mouseClick(pane.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.findChild(QFileDialog, "export-csv") is not None)
    dialog = pane.findChild(QFileDialog, "export-csv")
    qtbot.waitUntil(dialog.isVisible)
    target = tmp_path / "sweep.csv"
    name = dialog.findChild(QLineEdit, "fileNameEdit")
    name.setText(str(target))
    qtbot.keyClick(name, Qt.Key.Key_Return)

    qtbot.waitUntil(target.exists)
    with target.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["series"], float(row["x"]), float(row["y"])) for row in rows] == [
        ("signal", 1.0, 1.0),
        ("signal", 2.0, 4.0),
        ("signal", 3.0, 9.0),
    ]
    assert rows[0]["experiment_id"] == exp.id and rows[0]["experiment"] == exp.title
    assert (rows[0]["x_label"], rows[0]["y_units"]) == ("field", "V")
