"""The window after the demo ran, rendered offscreen to a PNG (the README's screenshot)."""

from __future__ import annotations

import os
import shutil

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from labqueue import ExpStatus, Manager
from labqueue.app.demo import queue_demo
from labqueue.ui.main_window import MainWindow

from .conftest import click_row

#: Set to a path to keep the picture (the README's screenshot is made this way).
SAVE_AS_ENV = "LABQUEUE_SCREENSHOT"


def test_window_with_the_demo_running_renders_to_a_png(qtbot, tmp_path):
    manager = Manager(data_dir=tmp_path / "lab")  # with its journal, as `labqueue --demo` runs
    window = MainWindow(manager, config_dir=tmp_path / "config")
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    sweep, ramp, baseline, second_sweep, faulty = queue_demo(manager)
    plot = window.plot_pane
    # The whole demo ran: the failing readout paused the queue, and the banner says so.
    qtbot.waitUntil(lambda: faulty.status is ExpStatus.FAILED and window.banner.isVisible(), timeout=30_000)
    click_row(qtbot, window, 3)  # the second sweep...
    click_row(qtbot, window, 0, Qt.KeyboardModifier.ControlModifier)  # ...and the first, overlaid
    qtbot.waitUntil(
        lambda: (
            plot.shown == [sweep, second_sweep]
            and len(plot.curves) == 2
            and window.details.experiment is sweep
            and window.status.counts_label.text() == "4 finished · 1 failed"
        )
    )
    QApplication.processEvents()  # lay out what the last frame changed

    path = tmp_path / "labqueue-demo.png"
    assert window.grab().save(str(path))

    picture = QImage(str(path))
    assert (picture.width(), picture.height()) == (window.width(), window.height())
    sampled = {picture.pixel(x, y) for x in range(0, picture.width(), 16) for y in range(0, picture.height(), 16)}
    assert len(sampled) > 50  # text, icons, a curve and a progress bar, not a blank frame
    if os.environ.get(SAVE_AS_ENV):
        shutil.copyfile(path, os.environ[SAVE_AS_ENV])
    manager.shutdown(wait=True, abort_running=True, timeout=10)
