"""The windowed program: a QApplication, a Manager on the data directory, the main window."""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import QApplication

from core import Manager, paths
from ui.main_window import QUIT_ABORT_SECONDS, MainWindow
from ui.theme import app_icon

from .demo import queue_demo
from .services import Services, start_services

__all__ = ["GuiSession", "run_gui", "start_gui"]


@dataclass
class GuiSession:
    """A started program: the application, the manager, its services and its window."""

    app: QApplication
    manager: Manager
    services: Services
    window: MainWindow

    def run(self) -> int:
        """Run the event loop until the window closes; returns the exit code."""
        try:
            return self.app.exec()
        finally:
            # The window shuts the manager down when it closes; this covers other exits.
            self.manager.shutdown(wait=True, abort_running=True, timeout=QUIT_ABORT_SECONDS)
            self.services.stop()


def start_gui(data_dir: Path | None = None, demo: bool = False) -> GuiSession:
    """Build the application and show the window for a manager on ``data_dir``
    (default: the platform's data directory); with ``demo``, queue the demo."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("labqueue")
    app.setDesktopFileName("labqueue")
    app.setWindowIcon(app_icon())
    manager = Manager(data_dir=paths.data_dir(data_dir))
    services = start_services(manager, data_dir)
    window = MainWindow(manager, config_dir=paths.config_dir(data_dir))
    window.show()
    if demo:
        queue_demo(manager)
    # Ctrl-C in the terminal closes the window (asking first if work is left); the
    # window's frame timer runs Python often enough for the handler to fire.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    return GuiSession(app, manager, services, window)


def run_gui(data_dir: Path | None = None, demo: bool = False) -> int:
    """``labqueue [--demo]``: open the window and run until it is closed."""
    return start_gui(data_dir, demo).run()
