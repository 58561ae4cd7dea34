"""Loading the console without freezing the window.

Importing qtconsole, ipykernel and IPython and starting a kernel takes about a second;
done in one go on the GUI thread, the window would stop answering for that long right
after it appears. So the imports run on the import thread (``background_work``:
imports are thread-safe and make no Qt object), and what must happen on the GUI thread (the widget, the kernel,
the startup file, the connection) runs one step per turn of the event loop, each well
under a frame or two.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from labqueue.core import Manager
from labqueue.ui.background_work import import_in_background
from labqueue.ui.main_window import MainWindow

__all__ = ["ConsoleLoader"]

logger = logging.getLogger("labqueue.ui")


class ConsoleLoader(QObject):
    """Builds the window's console in the background and docks it when it is ready.

    Signals:
        loaded(console): the console is docked and its prompt is on its way.
    """

    loaded = Signal(object)
    _imported = Signal()  # from the import thread to the GUI thread (a queued connection)

    def __init__(self, manager: Manager, window: MainWindow, data_dir: Path | None, startup_file: Path | None) -> None:
        super().__init__(window)
        self._manager = manager
        self._window = window
        self._data_dir = data_dir
        self._startup_file = startup_file
        self._import_error: BaseException | None = None
        self._cancelled = False
        self._steps: list = []
        self.console = None
        self._imported.connect(self._create, Qt.ConnectionType.QueuedConnection)
        # A zero timer, not QTimer.singleShot(0): that posts an event, and events
        # posted while posted events are handled run in the same pass, so the steps
        # would run back to back with no paint or input in between.
        self._step_timer = QTimer(self)
        self._step_timer.setSingleShot(True)
        self._step_timer.setInterval(0)
        self._step_timer.timeout.connect(self._next_step)

    def start(self) -> None:
        """Start importing; returns at once."""
        import_in_background(self._import)

    def cancel(self) -> None:
        """Stop loading (the window is closing) and shut down what was started."""
        self._cancelled = True
        if self.console is not None:
            self.console.shutdown()

    def _import(self) -> None:  # on the import thread (see labqueue.ui.background_work)
        try:
            from labqueue.ui.console import prepare_console_imports

            prepare_console_imports()
        except BaseException as exc:  # reported on the GUI thread; the window goes on without
            self._import_error = exc
        try:
            self._imported.emit()
        except RuntimeError:
            pass  # the window was closed meanwhile: nothing to load

    def _create(self) -> None:
        if self._cancelled:
            return
        if self._import_error is not None:
            logger.error("The console cannot be loaded: %s", self._import_error, exc_info=self._import_error)
            return
        from .console import create_console  # already imported by the thread: cheap now

        self.console = create_console(self._manager, self._data_dir, self._startup_file, self._window, start=False)
        self._steps = self.console.start_steps()
        self._step_timer.start()

    def _next_step(self) -> None:
        if self._cancelled:
            return
        if self._steps:
            self._steps.pop(0)()
            self._step_timer.start()
            return
        self._window.add_dock(self.console, "Console", Qt.DockWidgetArea.BottomDockWidgetArea, tab_with="Log")
        self.loaded.emit(self.console)
