"""MainWindow: the queue table with its actions, and docks for details, log and plot."""

from __future__ import annotations

import inspect
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QMainWindow,
    QMenu,
    QMessageBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from labqueue.core import Experiment, ExpStatus, Manager, WorkerState
from labqueue.core.config import config_dir as default_config_dir

from .details_pane import DetailsPane
from .experiment_form import DialogMode
from .inbox import CoreInbox
from .interpreter_sharing import InterpreterSharing
from .log_pane import LogPane
from .notice_banner import NoticeBanner
from .plot_pane import MAX_OVERLAID, PlotPane
from .queue_actions import QueueActions
from .queue_model import QueueModel, RowFilter
from .queue_stats import QueueStats
from .queue_view import QueueView
from .responsive_wait import run_while_responsive
from .run_notices import NoticeActions, RunNotices
from .status_bar import QueueStatusBar
from .sweep_rows import SweepSource
from .theme import action_icon, app_icon
from .window_layout import WindowLayout

__all__ = ["MainWindow"]

#: Frame period: the queue, log and plot are brought up to date at most this often.
FRAME_MS = 33
#: Counts and time left are refreshed at most this often while the queue churns.
STATUS_SECONDS = 0.25
#: With sweeps in the table, the time between two syncs is at least this many times the last one's.
GROUPED_SYNC_REST = 4
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
        # A big put_many typed in the console (on this thread) is stored on a helper
        # thread while the window goes on; the call still returns once it is on disk.
        manager.job_queue.set_waiter(threading.current_thread(), self._store_big_put)
        self._inbox = CoreInbox(manager)
        self._built = False
        self._close_confirmed = False
        self._quit_after_current = False  # "Stop after this experiment" was chosen on quitting
        self._painted = False
        self._last_tick = 0.0
        self._last_status = 0.0
        self._next_grouped_sync = 0.0

        self.stats = QueueStats()
        sweeps = SweepSource(lambda: manager.groups, manager.job_queue.is_held, lambda: manager.process_lane.slots)
        self.queue_model = QueueModel(manager.job_queue, self.stats, self, sweeps)
        self.queue_view = QueueView(self.queue_model)
        self.banner = NoticeBanner()
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.banner)
        central_layout.addWidget(self.queue_view, 1)
        self.setCentralWidget(central)
        self.queue_actions = QueueActions(manager, self.queue_view, self)
        self.notices = RunNotices(
            manager,
            self.stats,
            NoticeActions(
                resume=self._resume,
                abort=self.queue_actions.abort_running,
                show_traceback=self.show_traceback,
                show_log=self.show_log,
            ),
        )
        self.details = DetailsPane()
        self.details.sweep_page.run_chosen.connect(self.show_traceback)
        self.log_pane = LogPane()
        self.plot_pane = PlotPane(manager.published_data)
        self.status = QueueStatusBar()
        self.setStatusBar(self.status)

        self.layout_store = WindowLayout(config_dir if config_dir is not None else default_config_dir(manager.data_dir))
        self._build_menus_and_toolbar()
        self.docks: dict[str, QDockWidget] = {}
        self.add_dock(self.details, "Details", Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_dock(self.plot_pane, "Live plot", Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_dock(self.log_pane, "Log", Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([self.docks["Details"]], [400], Qt.Orientation.Horizontal)
        self.resizeDocks(
            [self.docks["Details"], self.docks["Live plot"], self.docks["Log"]],
            [300, 330, 240],
            Qt.Orientation.Vertical,
        )
        self._default_state = self.saveState()
        self.layout_store.restore(self, self.queue_view.horizontalHeader())

        self.queue_view.selectionModel().currentRowChanged.connect(self._show_current)
        self.queue_view.selectionModel().selectionChanged.connect(self._plot_selected)
        self.log_pane.experiment_activated.connect(self.select_by_short_id)
        self._unseen_problems = 0
        self.docks["Log"].visibilityChanged.connect(self._log_seen)
        self.log_pane.attach()
        self._built = True
        self._set_palette()
        self._frame_timer = QTimer(self)
        self._frame_timer.setInterval(FRAME_MS)
        self._frame_timer.timeout.connect(self.apply_pending)
        self._frame_timer.start()
        self.apply_pending()

    # -- building ----------------------------------------------------------------------

    def _build_menus_and_toolbar(self) -> None:
        groups = self.queue_actions.groups
        self.toolbar = QToolBar("Queue")
        self.toolbar.setObjectName("toolbar-queue")
        self.toolbar.setMovable(False)
        self.addToolBar(self.toolbar)
        for group in groups:
            if group == self.queue_actions.sweep_group:
                continue  # in the menus: they act on the selected sweep's row
            if self.toolbar.actions():
                self.toolbar.addSeparator()
            self.toolbar.addActions(group)
        for action in groups[0]:  # the run controls read best with their words
            self.toolbar.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.addSeparator()
        self.row_filter = QComboBox()
        self.row_filter.setObjectName("row-filter")
        self.row_filter.setToolTip("Which experiments the table shows")
        for choice in RowFilter:
            self.row_filter.addItem(f"Show: {choice.value.lower()}", choice)
        self.row_filter.currentIndexChanged.connect(self._filter_rows)
        self.toolbar.addWidget(self.row_filter)

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
        # The decorated functions, each one click from its form.
        self.functions_menu = QMenu("Add experiment", self)
        self.functions_menu.setObjectName("menu-add-experiment")
        self.functions_menu.aboutToShow.connect(self._list_functions)
        queue_menu.insertMenu(self.queue_actions.add_experiment, self.functions_menu)
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
        synced = queue_changed and now >= self._next_grouped_sync and self._sync_rows()
        if queue_changed and not synced:
            inbox.note_queue_changed()  # the queue is busy (a big put being stored), or see _sync_rows: next frame
        if synced or second_passed:  # each second too: a scroll held back may be due
            self.queue_view.follow_running()
        queue_changed = synced
        if not synced and (
            progress_changed or state_changed or (second_passed and self.queue_model.queue.has_running())
        ):
            self.queue_model.refresh_running()  # its progress bar, duration and paused state
        if queue_changed or state_changed:
            self.queue_actions.refresh()
        if state_changed or second_passed or (queue_changed and now - self._last_status >= STATUS_SECONDS):
            self._last_status = now
            self._show_status()
        if second_passed:
            self._last_tick = now
        self.plot_pane.set_live(inbox.latest_publisher)
        self.plot_pane.refresh()
        self._count_unseen_problems(self.log_pane.flush())
        self.details.refresh()
        self.banner.show_notice(self.notices.current(progress_changed), self.palette())
        if self._quit_after_current:
            self._quit_if_current_done()

    def _sync_rows(self) -> bool:
        """Sync the table. Regrouping a sweep's runs (see ui.sweep_rows) costs time for
        every run: with sweeps, the table syncs again only after GROUPED_SYNC_REST times
        as long as this sync took (a sweep of 20,000 runs then leaves the worker its time)."""
        started = time.monotonic()
        synced = self.queue_model.sync()
        if self.queue_model.grouped:
            ended = time.monotonic()
            self._next_grouped_sync = ended + GROUPED_SYNC_REST * (ended - started)
        return synced

    def _quit_if_current_done(self) -> None:
        manager = self.manager
        if not manager.pausing_after_current:  # resumed, or paused now instead: stay
            self._quit_after_current = False
            self._show_status()
        elif manager.job_queue.running_experiment is None:
            self._close_confirmed = True
            self.close()

    def _store_big_put(self, put: Callable[[], None]) -> None:
        # The experiments put live on in the queue: out of full collections before
        # (they exist already) and after (what storing them made).
        self._sharing.freeze_long_lived()
        run_while_responsive(put)
        self._sharing.freeze_long_lived()

    def _list_functions(self) -> None:
        menu = self.functions_menu
        menu.clear()
        functions = self.manager.queued_functions
        for name, func in functions.items():
            action = menu.addAction(name)
            action.setToolTip(inspect.getdoc(func) or name)
            action.triggered.connect(
                lambda _=False, name=name: self.queue_actions.open_dialog(DialogMode.ADD, function=name)
            )
        if not functions:
            empty = menu.addAction("No functions yet: decorate one with @manager.queued_exec")
            empty.setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.queue_actions.add_sweep)

    def _filter_rows(self) -> None:
        self.queue_model.set_row_filter(self.row_filter.currentData())
        self.queue_actions.refresh()
        self.queue_view.following = True
        self.queue_view.follow_running()

    def _count_unseen_problems(self, problems: int) -> None:
        """Warnings that arrive while the log is out of sight (behind the console's tab,
        or hidden) are counted on its tab: ``Log ⚠ 3``, until it is looked at."""
        dock = self.docks["Log"]
        if not problems or not dock.visibleRegion().isEmpty():
            return
        self._unseen_problems += problems
        dock.setWindowTitle(f"Log ⚠ {self._unseen_problems:,}")

    def _log_seen(self, visible: bool) -> None:
        if visible and self._unseen_problems:
            self._unseen_problems = 0
            self.docks["Log"].setWindowTitle("Log")

    def report_stall(self, experiment: Experiment, quiet_seconds: float) -> None:
        """The stall watchdog found ``experiment`` quiet for ``quiet_seconds``: say so
        in the banner until it shows a sign of life. Safe from any thread."""
        self.notices.report_stall(experiment, quiet_seconds)

    def show_traceback(self, experiment: Experiment) -> None:
        """Select ``experiment`` and show its traceback in the details pane."""
        self._select(experiment)
        self.details.show_tab("Traceback")
        self.docks["Details"].show()
        self.docks["Details"].raise_()

    def show_log(self, experiment: Experiment | None) -> None:
        """Select ``experiment`` and show the lines it logged; None: show the log pane."""
        if experiment is None:
            self.docks["Log"].show()
            self.docks["Log"].raise_()
            return
        self._select(experiment)
        self.details.show_tab("Log")
        self.docks["Details"].show()
        self.docks["Details"].raise_()

    def select_by_short_id(self, short_id: str) -> None:
        """Select the (newest) experiment whose id starts with ``short_id``, as the log names it."""
        everything = self.manager.job_queue.snapshot().experiments  # runs hidden under their sweep too
        found = next((exp for exp in reversed(everything) if exp.id.startswith(short_id)), None)
        if found is not None:
            self._select(found)

    def _select(self, experiment: Experiment) -> None:
        model = self.queue_model
        model.sync()
        row = model.row_of(experiment.id)
        sweep = model.sweep_of(experiment)
        if row is None and sweep is not None:  # a run of a sweep whose runs are hidden: show them
            sweep_row = model.row_of(sweep.id)
            if sweep_row is not None:
                self.queue_view.set_expanded(sweep_row, True)
                row = model.row_of(experiment.id)
        if row is not None:
            self.queue_view.select_rows([row])
            self.queue_view.scrollTo(self.queue_model.index(row, 0))

    def _resume(self) -> None:
        self.manager.resume_worker()
        self.queue_actions.refresh()

    def _plot_selected(self) -> None:
        runs = self.queue_view.selected_row_runs()
        first_rows = []
        for top, bottom in runs:  # only as many as are overlaid: a selection may be 100,000 rows
            first_rows += range(top, min(bottom, top + MAX_OVERLAID) + 1)
            if len(first_rows) >= MAX_OVERLAID:
                break
        shown = (self.queue_model.experiment(row) for row in first_rows[:MAX_OVERLAID])
        experiments = [exp for exp in shown if exp is not None]  # a sweep's row plots nothing
        self.plot_pane.show_selected(experiments, self.manager.job_queue.running_experiment)

    def _show_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        sweep = self.queue_model.sweep(current.row()) if current.isValid() else None
        if sweep is not None:
            self.details.show_sweep(sweep)
        else:
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
        self._show_status()

    def _show_status(self) -> None:
        manager = self.manager
        state, running = manager.state, manager.job_queue.running_experiment
        detail = ""
        if running is not None and running.paused:
            detail = "Paused mid-run"
        elif running is not None and manager.pausing_after_current:
            then = "quits" if self._quit_after_current else "pauses"
            detail = f"Running · {then} after this experiment"
        paused = state is WorkerState.PAUSED or manager.pausing_after_current
        # Idle with experiments queued: they wait for a human (a held sweep, an
        # interrupted upstream), so no time can be promised for them.
        waits_for_you = (
            state is WorkerState.IDLE
            and not manager.job_queue.has_running()
            and bool(self.stats.counts.get(ExpStatus.QUEUED))
            and not manager.job_queue.has_work
        )
        self.status.show_status(
            state, self.stats, self.palette(), detail=detail, paused=paused, waits_for_you=waits_for_you
        )
        cluster = manager.dask_lane.cluster_info()  # as last seen by the lane's thread: never waits
        self.status.show_cluster(cluster.text if cluster is not None else "")

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self.first_painted.emit)  # once this paint is on screen
            self.plot_pane.prepare()

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
        self.manager.job_queue.set_waiter(None, None)
        self._inbox.close()
        self.log_pane.detach()
        self._sharing.stop()
        if running:
            self.status.show_note("Aborting the running experiment…")
            self.repaint()
        self.manager.shutdown(wait=True, abort_running=True, timeout=QUIT_ABORT_SECONDS)
        super().closeEvent(event)

    def _confirm_close(self, running: bool, queued: int) -> None:
        parts = ["an experiment is running"] if running else []
        if queued:
            parts.append(f"{queued:,} {'is' if queued == 1 else 'are'} queued")
        box = QMessageBox(QMessageBox.Icon.Warning, "Quit labqueue", f"Quit while {' and '.join(parts)}?", parent=self)
        box.setObjectName("confirm-close")
        details = []
        if running:
            details.append(
                "Quit now aborts the running experiment "
                f"(labqueue waits up to {QUIT_ABORT_SECONDS:.0f} s for it to stop); "
                "Stop after this experiment lets it run to its end, starts no other, then quits."
            )
        if queued:
            if self.manager.data_dir is not None:
                details.append("Queued experiments stay in the journal and come back next time.")
            else:
                details.append("Queued experiments will be lost: this session keeps no journal.")
        box.setInformativeText(" ".join(details))
        stop_after = None
        if running:
            stop_after = box.addButton("Stop after this experiment", QMessageBox.ButtonRole.AcceptRole)
            stop_after.setToolTip("Let the running experiment finish, start no other, then quit")
        quit_button = box.addButton("Quit now" if running else "Quit", QMessageBox.ButtonRole.DestructiveRole)
        if running:
            quit_button.setToolTip("Abort the running experiment, then quit")
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def finished() -> None:
            clicked = box.clickedButton()
            if clicked is quit_button:
                self._close_confirmed = True
                self.close()
            elif clicked is stop_after and stop_after is not None:
                self._quit_after_current = True
                self.manager.pause_worker(after_current=True)
                self._show_status()
            box.deleteLater()

        box.finished.connect(finished)
        box.open()
