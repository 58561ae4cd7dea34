"""MainWindow: the queue table with its actions, and docks for details, log and plot."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QToolBar, QWidget

from labqueue.core import Manager, WorkerState
from labqueue.core.config import config_dir as default_config_dir

from .details_pane import DetailsPane
from .inbox import CoreInbox
from .interpreter_sharing import InterpreterSharing
from .log_pane import LogPane
from .plot_pane import PlotPane
from .queue_actions import QueueActions
from .queue_model import QueueModel
from .queue_stats import QueueStats
from .queue_view import QueueView
from .status_bar import QueueStatusBar
from .sweeps_pane import SweepsPane
from .theme import action_icon, app_icon
from .window_layout import WindowLayout

__all__ = ["MainWindow"]

#: Frame period: the queue, log and plot are brought up to date at most this often.
FRAME_MS = 33
#: Counts and time left are refreshed at most this often while the queue churns.
STATUS_SECONDS = 0.25
#: The sweeps pane counts every sweep's runs in the whole queue: at most this often.
SWEEPS_SECONDS = 0.25
#: On quit, how long to wait for the aborted running experiment to return.
QUIT_ABORT_SECONDS = 10.0


class MainWindow(QMainWindow):
    """The labqueue window for one :class:`~core.Manager`.

    Everything the core announces (on any thread) is collected by a
    :class:`~ui.inbox.CoreInbox` and applied here once per frame, on the GUI thread.
    Other parts of the program add panes with :meth:`add_dock` and the settings
    dialog with :meth:`set_settings_handler`.

    Signals:
        first_painted: the window has been painted for the first time.
    """

    first_painted = Signal()

    def __init__(self, manager: Manager, *, config_dir: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labqueue-main-window")
        self.manager = manager
        where = str(manager.data_dir) if manager.data_dir is not None else "in memory, no journal"
        self.setWindowTitle(f"labqueue — {where}")
        self.setWindowIcon(app_icon())
        self.resize(1280, 800)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self._sharing = InterpreterSharing(self)
        self._inbox = CoreInbox(manager)
        self._built = False
        self._close_confirmed = False
        self._painted = False
        self._last_tick = 0.0
        self._last_status = 0.0
        self._last_sweeps = 0.0

        self.stats = QueueStats()
        self.queue_model = QueueModel(manager.job_queue, self.stats, self)
        self.queue_view = QueueView(self.queue_model)
        self.setCentralWidget(self.queue_view)
        self.queue_actions = QueueActions(manager, self.queue_view, self)
        self.details = DetailsPane()
        self.log_pane = LogPane()
        self.plot_pane = PlotPane()
        self.status = QueueStatusBar()
        self.setStatusBar(self.status)

        self.layout_store = WindowLayout(config_dir if config_dir is not None else default_config_dir(manager.data_dir))
        self._build_menus_and_toolbar()
        self.docks: dict[str, QDockWidget] = {}
        self.add_dock(self.details, "Details", Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_dock(self.plot_pane, "Live plot", Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_dock(self.log_pane, "Log", Qt.DockWidgetArea.BottomDockWidgetArea)
        self.sweeps = SweepsPane(manager, self.details.show_experiment)
        self.add_dock(self.sweeps, "Sweeps", tab_with="Log")
        self.docks["Log"].raise_()  # the log in front until there is a sweep to look at
        self.resizeDocks([self.docks["Details"]], [430], Qt.Orientation.Horizontal)
        self.resizeDocks(
            [self.docks["Details"], self.docks["Live plot"], self.docks["Log"]],
            [300, 330, 240],
            Qt.Orientation.Vertical,
        )
        self._default_state = self.saveState()
        self.layout_store.restore(self, self.queue_view.horizontalHeader())

        self.queue_view.selectionModel().currentRowChanged.connect(self._show_current)
        self.log_pane.attach()
        self._built = True
        self._set_palette()
        self._frame_timer = QTimer(self)
        self._frame_timer.setInterval(FRAME_MS)
        self._frame_timer.timeout.connect(self.apply_pending)
        self._frame_timer.start()
        self.apply_pending()
        waiting = manager.job_queue.qsize("queued")
        if manager.paused and waiting:  # e.g. unfinished work that came back from the journal
            self.status.showMessage(
                f"The queue is paused with {waiting} experiment(s) waiting: Resume (Ctrl+P) runs them."
            )

    # -- building ----------------------------------------------------------------------

    def _build_menus_and_toolbar(self) -> None:
        groups = self.queue_actions.groups
        self.toolbar = QToolBar("Queue")
        self.toolbar.setObjectName("toolbar-queue")
        self.toolbar.setMovable(False)
        self.addToolBar(self.toolbar)
        for group in groups:
            if self.toolbar.actions():
                self.toolbar.addSeparator()
            self.toolbar.addActions(group)
        for action in groups[0]:  # the run controls read best with their words
            self.toolbar.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)

        self.settings_action = QAction("Settings…", self)
        self.settings_action.setObjectName("action-settings")
        self.settings_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Preferences))
        self.settings_action.setStatusTip("Change notification and queue settings")
        self.settings_action.setEnabled(False)  # until set_settings_handler()
        quit_action = QAction("Quit", self)
        quit_action.setObjectName("action-quit")
        quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(self.close)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        queue_menu = self.menuBar().addMenu("&Queue")
        for group in groups:
            if queue_menu.actions():
                queue_menu.addSeparator()
            queue_menu.addActions(group)
        for group in groups:  # the table's context menu offers the same
            self.queue_view.addActions(group)
            separator = QAction(self.queue_view)
            separator.setSeparator(True)
            self.queue_view.addAction(separator)

        self.view_menu = self.menuBar().addMenu("&View")
        self.view_menu.addAction(self.toolbar.toggleViewAction())
        self.view_menu.addSeparator()
        self._view_menu_end = self.view_menu.addSeparator()
        reset = self.view_menu.addAction("Reset layout")
        reset.setObjectName("action-reset-layout")
        reset.triggered.connect(lambda: self.restoreState(self._default_state))

        help_menu = self.menuBar().addMenu("&Help")
        about = help_menu.addAction("About labqueue")
        about.triggered.connect(self._about)

    def add_dock(
        self,
        widget: QWidget,
        title: str,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        tab_with: str | None = None,
    ) -> QDockWidget:
        """Add ``widget`` as a dock titled ``title``, listed in the View menu.

        Its place and visibility are saved with the layout (keyed on the title) and
        restored, also for docks added after the window was built. With no saved
        place, it goes to ``area``, or into a tab beside the dock titled ``tab_with``
        (and in front of it), which keeps a late dock from squeezing its neighbours.
        """
        dock = QDockWidget(title, self)
        dock.setObjectName("dock-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"))
        dock.setWidget(widget)
        if not self.layout_store.restore_dock(self, dock):
            neighbour = self.docks.get(tab_with) if tab_with else None
            if neighbour is not None and not neighbour.isFloating():
                self.tabifyDockWidget(neighbour, dock)
                dock.show()
                dock.raise_()
            else:
                self.addDockWidget(area, dock)
        self.view_menu.insertAction(self._view_menu_end, dock.toggleViewAction())
        self.docks[title] = dock
        return dock

    def set_settings_handler(self, handler: Callable[[], None]) -> None:
        """Make File > Settings… call ``handler`` (which opens the settings dialog)."""
        self.settings_action.triggered.connect(handler)
        self.settings_action.setEnabled(True)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About labqueue",
            "<b>labqueue</b><br>Queue Python measurements and run them one after another "
            "on a background worker, with pause, abort, reorder and a journal that survives crashes.",
        )

    # -- keeping up with the core (GUI thread) -----------------------------------------

    def apply_pending(self) -> None:
        """Apply what the core announced since the last frame; cheap when nothing did."""
        inbox = self._inbox
        queue_changed = inbox.take_queue_changed() or self.stats.catching_up
        progress_changed = inbox.take_progress_changed()
        state_changed = inbox.take_state_changed()
        now = time.monotonic()
        second_passed = now - self._last_tick >= 1.0
        if queue_changed:
            self.queue_model.sync()
        elif progress_changed or (second_passed and self.queue_model.queue.has_running()):
            self.queue_model.refresh_running()  # its progress bar and duration
        if queue_changed or state_changed:
            self.queue_actions.refresh()
        if state_changed or second_passed or (queue_changed and now - self._last_status >= STATUS_SECONDS):
            self._last_status = now
            self.status.show_status(self.manager.state, self.stats, self.palette())
        if second_passed or (queue_changed and now - self._last_sweeps >= SWEEPS_SECONDS):
            self._last_sweeps = now
            self.sweeps.refresh()
        if second_passed:
            self._last_tick = now
        self.plot_pane.add_points(inbox.take_points())
        self.log_pane.flush()
        self.details.refresh()

    def _show_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.details.show_experiment(self.queue_model.experiment(current.row()) if current.isValid() else None)

    # -- palette, first paint, closing -------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._set_palette()
        super().changeEvent(event)

    def _set_palette(self) -> None:
        if not self._built:
            return
        palette = self.palette()
        self.queue_model.set_palette(palette)
        self.queue_actions.set_palette(palette)
        self.details.set_palette(palette)
        self.log_pane.set_palette(palette)
        self.plot_pane.set_palette(palette)
        self.settings_action.setIcon(action_icon("settings", palette))
        self.status.show_status(self.manager.state, self.stats, palette)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self.first_painted.emit)  # once this paint is on screen
            # pyqtgraph loads after the first paint, so it does not delay the window.
            QTimer.singleShot(0, lambda: self.plot_pane.plot_widget)

    def _work_left(self) -> tuple[bool, int]:
        if self.manager.state is WorkerState.STOPPED:
            return False, 0
        queue = self.manager.job_queue
        return queue.has_running(), queue.qsize("queued")

    def closeEvent(self, event: QCloseEvent) -> None:
        running, queued = self._work_left()
        if (running or queued) and not self._close_confirmed:
            event.ignore()
            self._confirm_close(running, queued)
            return
        self.layout_store.save(self, self.queue_view.horizontalHeader())
        self._frame_timer.stop()
        self._inbox.close()
        self.log_pane.detach()
        self._sharing.stop()
        if running:
            self.status.showMessage("Aborting the running experiment…")
            self.repaint()
        self.manager.shutdown(wait=True, abort_running=True, timeout=QUIT_ABORT_SECONDS)
        super().closeEvent(event)

    def _confirm_close(self, running: bool, queued: int) -> None:
        parts = ["an experiment is running"] if running else []
        if queued:
            parts.append(f"{queued} {'is' if queued == 1 else 'are'} queued")
        box = QMessageBox(QMessageBox.Icon.Warning, "Quit labqueue", f"Quit while {' and '.join(parts)}?", parent=self)
        box.setObjectName("confirm-close")
        details = []
        if running:
            details.append(
                "The running experiment will be aborted "
                f"(labqueue waits up to {QUIT_ABORT_SECONDS:.0f} s for it to stop)."
            )
        if queued:
            if self.manager.data_dir is not None:
                details.append("Queued experiments stay in the journal and come back next time.")
            else:
                details.append("Queued experiments will be lost: this session keeps no journal.")
        box.setInformativeText(" ".join(details))
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def finished() -> None:
            if box.clickedButton() is quit_button:
                self._close_confirmed = True
                self.close()
            box.deleteLater()

        box.finished.connect(finished)
        box.open()
