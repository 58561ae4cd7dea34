"""The windowed program: a QApplication, a Manager on the data directory, the main window."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from labqueue.core import Manager, config
from labqueue.core.studies import StudyManager
from labqueue.ui.main_window import QUIT_ABORT_SECONDS, MainWindow
from labqueue.ui.settings_dialog import SettingsDialog
from labqueue.ui.studies_pane import StudiesPane
from labqueue.ui.theme import app_icon

from .console_loader import ConsoleLoader
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
    console_loader: ConsoleLoader | None = None

    def open_settings(self) -> SettingsDialog:
        """File > Settings…: edit ``config.toml``; saved settings take effect at once."""
        dialog = SettingsDialog(self.services.settings, self.services.config_path, self.window)
        dialog.settings_saved.connect(self.services.apply)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def load_console(self, data_dir: Path | None, startup_file: Path | None) -> ConsoleLoader:
        """Load the IPython console in the background and dock it when ready (see
        :class:`ConsoleLoader`: the window keeps answering meanwhile); ``console`` is
        set then."""
        self.console_loader = ConsoleLoader(self.manager, self.window, data_dir, startup_file)
        self.console_loader.loaded.connect(lambda console: setattr(self, "console", console))
        self.console_loader.start()
        return self.console_loader

    def run(self) -> int:
        """Run the event loop until the window closes; returns the exit code."""
        try:
            return self.app.exec()
        finally:
            # The window shuts the manager down when it closes; this covers other exits.
            self.manager.shutdown(wait=True, abort_running=True, timeout=QUIT_ABORT_SECONDS)
            if self.console_loader is not None:
                self.console_loader.cancel()  # shuts down the console, loaded or half-made
            self.services.stop()


def start_gui(
    data_dir: Path | None = None,
    demo: bool = False,
    startup_file: Path | None = None,
    console: bool = True,
    dask_scheduler: str | None = None,
) -> GuiSession:
    """Build the application and show the window for a manager on ``data_dir``
    (default: the platform's data directory); with ``demo``, queue the demo.

    With ``console`` an IPython console is docked once the window has painted; it
    runs ``startup_file`` (default: ``startup.py`` in the config directory).
    ``dask_scheduler``: the Dask lane's scheduler (``--dask-scheduler``).
    """
    log_to_terminal()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("labqueue")
    app.setDesktopFileName("labqueue")
    app.setWindowIcon(app_icon())
    manager = Manager(data_dir=config.data_dir(data_dir))
    services = start_services(manager, data_dir, dask_scheduler=dask_scheduler)
    window = MainWindow(manager, config_dir=config.config_dir(data_dir))
    services.stall_listeners.append(window.report_stall)
    studies = StudyManager(manager)  # the same queue and journal: studies run by the console show too
    window.add_dock(StudiesPane(studies), "Studies", Qt.DockWidgetArea.BottomDockWidgetArea, tab_with="Log")
    session = GuiSession(app, manager, services, window, studies)
    window.set_settings_handler(session.open_settings)
    window.show()
    if demo:
        queue_demo(manager)
    if console:
        # After the first paint is on screen, so that the window appears at once.
        window.first_painted.connect(lambda: session.load_console(data_dir, startup_file))
    # Ctrl-C in the terminal closes the window (asking first if work is left); the
    # window's frame timer runs Python often enough for the handler to fire.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    return session


def run_gui(
    data_dir: Path | None = None,
    demo: bool = False,
    startup_file: Path | None = None,
    dask_scheduler: str | None = None,
) -> int:
    """``labqueue [--demo] [--startup FILE] [--dask-scheduler ADDR]``: open the window and run until it is closed."""
    return start_gui(data_dir, demo, startup_file, dask_scheduler=dask_scheduler).run()
