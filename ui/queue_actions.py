"""The queue's actions: each one toolbar button, menu entry, shortcut and tooltip,
enabled only where it applies."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QPalette
from PySide6.QtWidgets import QMessageBox, QWidget

from labqueue.core import ExpStatus, Manager, WorkerState

from . import reordering
from .display_text import outcome_text
from .queue_view import QueueView
from .theme import action_icon

__all__ = ["QueueActions"]

_PAUSE_TIP = "Pause after the running experiment"
_RESUME_TIP = "Resume running queued experiments"
_ABORT_TIP = "Abort the running experiment"
_FORCE_ABORT_TIP = "It has not stopped yet: raise Aborted inside it now"


class QueueActions(QObject):
    """Pause/Resume, Abort (Force abort while aborting), Clear, Remove, Move
    up/down/top/bottom, Requeue and Copy.

    :meth:`refresh` (called on every selection change and every frame in which the
    queue changed) enables each action from the selection and the worker's state.
    """

    def __init__(self, manager: Manager, view: QueueView, window: QWidget) -> None:
        super().__init__(window)
        self._manager = manager
        self._view = view
        self._window = window
        self._palette = window.palette()
        self._shown_paused: bool | None = None
        self._shown_forcing = False
        self._enabled: dict[QAction, bool] = {}
        self._icons: dict[QAction, str] = {}
        self.pause_resume = self._make("Pause", "pause", "Ctrl+P", _PAUSE_TIP, self.toggle_pause)
        self.abort = self._make("Abort", "abort", "Ctrl+Shift+A", _ABORT_TIP, self.abort_running)
        self.clear = self._make(
            "Clear queue…",
            "clear-queue",
            "Ctrl+Shift+Del",
            "Cancel every queued experiment",
            self.confirm_clear,
        )
        self.remove = self._make(
            "Remove",
            "remove",
            QKeySequence.StandardKey.Delete,
            "Remove the selected queued experiments",
            self.remove_selected,
        )
        self.move_up = self._make(
            "Move up",
            "move-up",
            "Ctrl+Up",
            "Move the selected queued experiments up one place",
            self._mover(reordering.move_up),
        )
        self.move_down = self._make(
            "Move down",
            "move-down",
            "Ctrl+Down",
            "Move the selected queued experiments down one place",
            self._mover(reordering.move_down),
        )
        self.move_top = self._make(
            "Move to top",
            "move-top",
            "Ctrl+Home",
            "Run the selected queued experiments next",
            self._mover(reordering.move_to_top),
        )
        self.move_bottom = self._make(
            "Move to bottom",
            "move-bottom",
            "Ctrl+End",
            "Run the selected queued experiments last",
            self._mover(reordering.move_to_bottom),
        )
        self.requeue = self._make(
            "Requeue",
            "requeue",
            "Ctrl+R",
            "Queue the selected ended experiments again",
            self.requeue_selected,
        )
        self.copy = self._make(
            "Copy",
            "copy",
            QKeySequence.StandardKey.Copy,
            "Copy the title and the result or traceback of the selected experiments",
            self.copy_selected,
        )
        view.selectionModel().selectionChanged.connect(self.refresh)
        self.refresh()  # the window calls set_palette as soon as it is built

    def _make(self, text: str, icon: str, shortcut, tip: str, slot: Callable[[], None]) -> QAction:
        action = QAction(text, self)
        action.setObjectName(f"action-{icon}")
        action.setShortcut(QKeySequence(shortcut))
        _set_tip(action, tip)
        action.triggered.connect(slot)
        self._icons[action] = icon
        return action

    @property
    def groups(self) -> list[list[QAction]]:
        """The actions in the groups the toolbar, menu and context menu show them in."""
        return [
            [self.pause_resume, self.abort, self.clear],
            [self.remove, self.move_up, self.move_down, self.move_top, self.move_bottom],
            [self.requeue, self.copy],
        ]

    def set_palette(self, palette: QPalette) -> None:
        """Redraw the icons in ``palette``'s text colour."""
        self._palette = palette
        self._shown_paused = None
        for action, icon in self._icons.items():
            if action is not self.pause_resume:
                action.setIcon(action_icon(icon, palette))
        self._show_pause_state()

    # -- enabling ----------------------------------------------------------------------

    def refresh(self) -> None:
        """Enable each action where it applies, and show Pause or Resume."""
        model = self._view.queue_model()
        rows, first_queued = model.rowCount(), model.first_queued_row
        runs = self._view.selected_row_runs()
        queued_runs = [(max(top, first_queued), bottom) for top, bottom in runs if bottom >= first_queued]
        state = self._manager.state
        at_top = len(queued_runs) == 1 and queued_runs[0][0] == first_queued
        at_bottom = len(queued_runs) == 1 and queued_runs[0][1] == rows - 1
        self._enable(self.pause_resume, state is not WorkerState.STOPPED)
        self._enable(self.abort, state in (WorkerState.RUNNING, WorkerState.ABORTING))
        self._show_abort_kind(state is WorkerState.ABORTING)
        self._enable(self.clear, rows > first_queued and state is not WorkerState.STOPPED)
        self._enable(self.remove, bool(queued_runs))
        for action in (self.move_up, self.move_top):
            self._enable(action, bool(queued_runs) and not at_top)
        for action in (self.move_down, self.move_bottom):
            self._enable(action, bool(queued_runs) and not at_bottom)
        self._enable(self.requeue, any(top < model.history_size for top, _ in runs))
        self._enable(self.copy, bool(runs))
        self._show_pause_state()

    def _enable(self, action: QAction, enabled: bool) -> None:
        # Compared here, not in Qt: see QueueStatusBar._set.
        if self._enabled.get(action) != enabled:
            self._enabled[action] = enabled
            action.setEnabled(enabled)

    def _show_pause_state(self) -> None:
        paused = self._manager.paused
        if paused is self._shown_paused:
            return
        self._shown_paused = paused
        action = self.pause_resume
        action.setText("Resume" if paused else "Pause")
        _set_tip(action, _RESUME_TIP if paused else _PAUSE_TIP)
        action.setIcon(action_icon("resume" if paused else "pause", self._palette))

    def _show_abort_kind(self, forcing: bool) -> None:
        if forcing is self._shown_forcing:
            return
        self._shown_forcing = forcing
        self.abort.setText("Force abort" if forcing else "Abort")
        _set_tip(self.abort, _FORCE_ABORT_TIP if forcing else _ABORT_TIP)

    # -- what they do ------------------------------------------------------------------

    def toggle_pause(self) -> None:
        if self._manager.paused:
            self._manager.resume_worker()
        else:
            self._manager.pause_worker()
        self._show_pause_state()

    def abort_running(self) -> None:
        """Abort the running experiment; while it is aborting already, force it."""
        if self._manager.state is WorkerState.ABORTING:
            self._manager.force_abort()
        else:
            self._manager.abort_job()
        self._enable(self.abort, False)

    def confirm_clear(self) -> None:
        """Ask (showing how many) before cancelling every queued experiment."""
        count = self._manager.job_queue.qsize("queued")
        if not count:
            return
        noun = "experiment" if count == 1 else "experiments"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Clear the queue",
            f"Cancel all {count} queued {noun}?",
            QMessageBox.StandardButton.Cancel,
            self._window,
        )
        box.setObjectName("confirm-clear")
        box.setInformativeText("They will not run. The running experiment is not affected.")
        clear = box.addButton(f"Cancel {count} {noun}", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def finished() -> None:
            if box.clickedButton() is clear:
                self._manager.clear_all_jobs()
            box.deleteLater()

        box.finished.connect(finished)
        box.open()

    def remove_selected(self) -> None:
        model = self._view.queue_model()
        model.queue.remove(self._view.selected_experiments(model.first_queued_row))

    def _mover(self, move: Callable) -> Callable[[], None]:
        def move_selected() -> None:
            model = self._view.queue_model()
            move(model.queue, self._view.selected_experiments(model.first_queued_row))

        return move_selected

    def requeue_selected(self) -> None:
        model = self._view.queue_model()
        for exp in self._view.selected_experiments(0, model.history_size):
            if exp.status.is_terminal:
                model.queue.requeue(exp)

    def copy_selected(self) -> None:
        """Copy one entry per selected experiment: its title, then its result or traceback."""
        entries = []
        for exp in self._view.selected_experiments():
            if exp.status is ExpStatus.FAILED and exp.traceback:
                entries.append(f"{exp.title}\n{exp.traceback.rstrip()}")
            else:
                outcome = outcome_text(exp, detailed=True)
                entries.append(f"{exp.title}\t{outcome}" if outcome else exp.title)
        QGuiApplication.clipboard().setText("\n".join(entries))


def _set_tip(action: QAction, tip: str) -> None:
    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip} ({keys})")
    action.setStatusTip(tip)
