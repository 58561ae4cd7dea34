"""The windowed program: a QApplication, a Manager on the data directory, the main window."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from labqueue.core import Manager, config
from labqueue.core.studies import StudyManager
from labqueue.ui.main_window import QUIT_ABORT_SECONDS, MainWindow
from labqueue.ui.settings_dialog import SettingsDialog
from labqueue.ui.studies_pane import StudiesPane
from labqueue.ui.theme import app_icon

from .demo import queue_demo
from .log_setup import log_to_terminal
from .services import Services, start_services

if TYPE_CHECKING:
    from labqueue.ui.console import LabConsole

__all__ = ["GuiSession", "run_gui", "start_gui"]


@dataclass
class GuiSession:
    """A started program: the application, the manager, its services and its window."""

    app: QApplication
    manager: Manager
    services: Services
    window: MainWindow
    studies: StudyManager
    console: LabConsole | None = None

    def open_settings(self) -> SettingsDialog:
        """File > Settings…: edit ``config.toml``; saved settings take effect at once."""
        dialog = SettingsDialog(self.services.settings, self.services.config_path, self.window)
        dialog.settings_saved.connect(self.services.apply)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def add_console(self, data_dir: Path | None, startup_file: Path | None) -> LabConsole:
        """Dock the IPython console (after the first paint: it takes half a second)."""
        from .console import create_console  # imports IPython and qtconsole: not before the first paint

        self.console = create_console(self.manager, data_dir, startup_file, self.window)
        self.window.add_dock(self.console, "Console", Qt.DockWidgetArea.BottomDockWidgetArea, tab_with="Log")
        return self.console

    def run(self) -> int:
        """Run the event loop until the window closes; returns the exit code."""
        try:
            return self.app.exec()
        finally:
            # The window shuts the manager down when it closes; this covers other exits.
            self.manager.shutdown(wait=True, abort_running=True, timeout=QUIT_ABORT_SECONDS)
            if self.console is not None:
                self.console.shutdown()
            self.services.stop()


def start_gui(
    data_dir: Path | None = None,
    demo: bool = False,
    startup_file: Path | None = None,
    console: bool = True,
) -> GuiSession:
    """Build the application and show the window for a manager on ``data_dir``
    (default: the platform's data directory); with ``demo``, queue the demo.

    With ``console`` an IPython console is docked once the window has painted; it
    runs ``startup_file`` (default: ``startup.py`` in the config directory).
    """
    log_to_terminal()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("labqueue")
    app.setDesktopFileName("labqueue")
    app.setWindowIcon(app_icon())
    manager = Manager(data_dir=config.data_dir(data_dir))
    services = start_services(manager, data_dir)
    window = MainWindow(manager, config_dir=config.config_dir(data_dir))
    studies = StudyManager(manager)  # the same queue and journal: studies run by the console show too
    window.add_dock(StudiesPane(studies), "Studies", Qt.DockWidgetArea.BottomDockWidgetArea, tab_with="Log")
    session = GuiSession(app, manager, services, window, studies)
    window.set_settings_handler(session.open_settings)
    window.show()
    if demo:
        queue_demo(manager)
    if console:
        # After the first paint is on screen: importing the kernel takes half a second.
        window.first_painted.connect(lambda: QTimer.singleShot(0, lambda: session.add_console(data_dir, startup_file)))
    # Ctrl-C in the terminal closes the window (asking first if work is left); the
    # window's frame timer runs Python often enough for the handler to fire.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    return session


def run_gui(data_dir: Path | None = None, demo: bool = False, startup_file: Path | None = None) -> int:
    """``labqueue [--demo] [--startup FILE]``: open the window and run until it is closed."""
    return start_gui(data_dir, demo, startup_file).run()
