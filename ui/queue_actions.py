"""The queue's actions: each one toolbar button, menu entry, shortcut and tooltip,
enabled only where it applies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QPalette
from PySide6.QtWidgets import QMessageBox, QWidget

from labqueue.core import Experiment, ExpStatus, Manager, WorkerState
from labqueue.core.runs import SWEEP_FILE, MultirunError, ParallelLocalRunner, SweepChanged, restart_multirun

from . import reordering
from .display_text import outcome_text
from .experiment_form import DialogMode, ExperimentDialog
from .queue_view import QueueView
from .sweep_rows import REQUEUED_STATUSES, SweepRow
from .theme import action_icon

__all__ = ["ABORT_KEYS", "PAUSE_AFTER_KEYS", "PAUSE_KEYS", "QueueActions"]

#: The run controls work from anywhere in the window, the console included, so their
#: keys are ones the console does not use: IPython's Ctrl+P (previous line) and
#: qtconsole's Ctrl+Shift+A (select all) and Ctrl+Shift+P (print) stay the console's.
PAUSE_KEYS = "F8"
PAUSE_AFTER_KEYS = "Shift+F8"
ABORT_KEYS = "Ctrl+Shift+X"
#: Shortcuts that edit the queue act only while the queue table has the focus: the same
#: keys (Delete, Ctrl+R, Ctrl+C, ...) mean something else in the console and the panes.
_IN_THE_TABLE = Qt.ShortcutContext.WidgetWithChildrenShortcut
_IN_THE_WINDOW = Qt.ShortcutContext.WindowShortcut

# What each pause does, in the tooltips (the toolbar says "Pause"; menus say which).
_PAUSE_NOW_TIP = "Pause now: the running experiment waits at its next checkpoint(), and no other starts"
_PAUSE_AFTER_TIP = "Pause after this experiment: the running experiment runs to its end, and no other starts"
_PAUSE_NOW_INSTEAD_TIP = "Pause now instead: the running experiment waits at its next checkpoint()"
_RESUME_TIP = "Resume: run the queued experiments (and let a paused one go on)"
_ABORT_TIP = "Abort the running experiment"
_PAUSE_SWEEP_TIP = "Pause the selected sweeps: no more of their runs start (running ones go on), also after a restart"
_RESUME_SWEEP_TIP = "Resume the selected sweeps: their queued runs start again"
_REQUEUE_TIP = "Queue the selected ended experiments again"
_FORCE_ABORT_TIP = "It has not stopped yet: raise Aborted inside it now"


class QueueActions(QObject):
    """Pause now/Resume, Pause after this experiment, Abort (Force abort while
    aborting), Clear, Add experiment, Add sweep, Edit, Remove, Move
    up/down/top/bottom, Requeue and Copy; for sweeps, Pause/Resume sweep, Abort
    selected and Restart sweep.

    On a sweep's row, Remove, the moves and Requeue act on its runs (its queued ones;
    for Requeue, those that did not finish); on a run shown under it, on that run.

    :meth:`refresh` (called on every selection change and every frame in which the
    queue changed) enables each action from the selection and the worker's state.
    """

    def __init__(self, manager: Manager, view: QueueView, window: QWidget) -> None:
        super().__init__(window)
        self._manager = manager
        self._view = view
        self._window = window
        self._palette = window.palette()
        self._shown_pause: tuple[bool, bool] | None = None
        self._shown_forcing = False
        self._enabled: dict[QAction, bool] = {}
        self._icons: dict[QAction, str] = {}
        self.pause_resume = self._make(
            "Pause now", "pause", PAUSE_KEYS, _PAUSE_NOW_TIP, self.toggle_pause, _IN_THE_WINDOW
        )
        self.pause_after = self._make(
            "Pause after this experiment",
            "pause-after",
            PAUSE_AFTER_KEYS,
            _PAUSE_AFTER_TIP,
            self.switch_pause_after,
            _IN_THE_WINDOW,
        )
        self.abort = self._make("Abort", "abort", ABORT_KEYS, _ABORT_TIP, self.abort_running, _IN_THE_WINDOW)
        self.add_experiment = self._make(
            "Add experiment…",
            "add",
            "Ctrl+N",
            "Queue a call of a function decorated with queued_exec, filled in on a form",
            lambda: self.open_dialog(DialogMode.ADD),
        )
        self.add_sweep = self._make(
            "Add sweep…",
            "sweep",
            "Ctrl+Shift+N",
            "Queue one call per value of a parameter (a range, or a list of values)",
            lambda: self.open_dialog(DialogMode.SWEEP),
        )
        self.edit = self._make(
            "Edit…",
            "edit",
            "Ctrl+E",
            "Edit the selected queued experiment in its place, or queue an edited copy of an ended one",
            self.edit_selected,
        )
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
            _REQUEUE_TIP,
            self.requeue_selected,
        )
        self.copy = self._make(
            "Copy",
            "copy",
            QKeySequence.StandardKey.Copy,
            "Copy the title and the result or traceback of the selected experiments",
            self.copy_selected,
        )
        self.pause_sweep = self._make("Pause sweep", "pause", "Ctrl+Shift+H", _PAUSE_SWEEP_TIP, self.toggle_sweep_hold)
        self.abort_selected = self._make(
            "Abort selected",
            "abort",
            "Ctrl+Shift+K",
            "Abort the selected sweeps (their queued runs are cancelled) or the selected runs and experiments",
            self.abort_selection,
        )
        self.restart_sweep = self._make(
            "Restart sweep…",
            "requeue",
            "Ctrl+Shift+R",
            "Run the selected sweep's folder again: finished runs are skipped, partial output moves to attempt-N/",
            self.restart_selected_sweep,
        )
        self._shown_sweep_hold = False
        self._shown_requeue: tuple | None = None
        view.selectionModel().selectionChanged.connect(self.refresh)
        self.refresh()  # the window calls set_palette as soon as it is built

    def _make(
        self,
        text: str,
        icon: str,
        shortcut,
        tip: str,
        slot: Callable[[], None],
        context: Qt.ShortcutContext = _IN_THE_TABLE,
    ) -> QAction:
        action = QAction(text, self)
        action.setObjectName(f"action-{icon}")
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(context)
        _set_tip(action, tip)
        action.triggered.connect(slot)
        self._icons[action] = icon
        return action

    @property
    def groups(self) -> list[list[QAction]]:
        """The actions in the groups the toolbar, menu and context menu show them in."""
        return [
            [self.pause_resume, self.pause_after, self.abort, self.clear],
            [self.add_experiment, self.add_sweep, self.edit],
            [self.remove, self.move_up, self.move_down, self.move_top, self.move_bottom],
            [self.requeue, self.copy],
            self.sweep_group,
        ]

    @property
    def sweep_group(self) -> list[QAction]:
        """The actions on sweeps: in the menu and the context menu, not the toolbar."""
        return [self.pause_sweep, self.abort_selected, self.restart_sweep]

    def set_palette(self, palette: QPalette) -> None:
        """Redraw the icons in ``palette``'s text colour."""
        self._palette = palette
        self._shown_pause = None
        for action, icon in self._icons.items():
            if action not in (self.pause_resume, self.pause_after, self.pause_sweep):
                action.setIcon(action_icon(icon, palette))
        self.pause_sweep.setIcon(action_icon("resume" if self._shown_sweep_hold else "pause", palette))
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
        running = self._manager.job_queue.running_experiment is not None
        self._enable(self.pause_resume, state is not WorkerState.STOPPED)
        self._enable(self.pause_after, running and state is not WorkerState.STOPPED)
        # A job paused at its checkpoint can be aborted too: the abort ends its wait;
        # while it is aborting, the same action forces it.
        self._enable(self.abort, running and state in (WorkerState.RUNNING, WorkerState.PAUSED, WorkerState.ABORTING))
        self._show_abort_kind(state is WorkerState.ABORTING)
        self._enable(self.clear, rows > first_queued and state is not WorkerState.STOPPED)
        can_remove = bool(queued_runs)
        can_requeue = any(top < model.history_size for top, _ in runs)
        one = len(runs) == 1 and runs[0][0] == runs[0][1] and runs[0][0] != model.running_row
        if one:  # a process lane's running run is no running_row, and cannot be edited either
            chosen = model.experiment(runs[0][0])
            one = chosen is not None and chosen.status is not ExpStatus.RUNNING
        requeued: Counter[ExpStatus] | None = None
        if model.grouped:
            sweeps, under = self._view.selected_sweeps(), self._view.selected_runs_under_sweeps()
            # Rows in the queued part may be ended runs shown under their sweep: only
            # rows with a place in the queue (or a sweep with queued runs) can move or go.
            can_remove = any(model.has_queued_row(top, bottom) for top, bottom in runs)
            can_remove = can_remove or any(sweep.counts[ExpStatus.QUEUED] for sweep in sweeps)
            # Ended rows are experiments or runs, but for the rows of ended sweeps.
            can_requeue = model.ended_experiment_rows(runs) > 0 or any(exp.status.is_terminal for exp in under)
            if sweeps:
                requeued = self._requeued_counts(sweeps)
                can_requeue = can_requeue or sum(requeued.values()) > 0
            self._refresh_sweep_actions(sweeps, under)
        else:
            for action in self.sweep_group:
                self._enable(action, False)
        self._show_requeue_counts(requeued)
        self._enable(self.remove, can_remove)
        for action in (self.move_up, self.move_top):
            self._enable(action, can_remove and not at_top)
        for action in (self.move_down, self.move_bottom):
            self._enable(action, can_remove and not at_bottom)
        self._enable(self.requeue, can_requeue)
        self._enable(self.add_experiment, state is not WorkerState.STOPPED)
        self._enable(self.add_sweep, state is not WorkerState.STOPPED)
        self._enable(self.edit, one and state is not WorkerState.STOPPED)
        self._enable(self.copy, bool(runs))
        self._show_pause_state()

    def _requeued_counts(self, sweeps: list[SweepRow]) -> Counter[ExpStatus]:
        """What Requeue would queue again, by status: the selected sweeps' runs that did
        not finish (read from their counts) and the other selected ended experiments."""
        requeued: Counter[ExpStatus] = Counter()
        for sweep in sweeps:
            requeued.update({status: sweep.counts[status] for status in REQUEUED_STATUSES})
        in_sweeps = {sweep.group_id for sweep in sweeps}
        for exp in self._view.selected_experiments():
            status = exp.status
            if status.is_terminal and not (exp.group_id in in_sweeps and status in REQUEUED_STATUSES):
                requeued[status] += 1
        return +requeued

    def _show_requeue_counts(self, requeued: Counter[ExpStatus] | None) -> None:
        """``Requeue 3 runs (2 failed, 1 cancelled)`` while sweeps are selected, else ``Requeue``."""
        shown = tuple(requeued.items()) if requeued else None
        if shown == self._shown_requeue:
            return
        self._shown_requeue = shown
        if not requeued:
            _show(self.requeue, "Requeue", "Requeue")
            _set_tip(self.requeue, _REQUEUE_TIP)
            return
        total = sum(requeued.values())
        parts = ", ".join(f"{count:,} {status.label.lower()}" for status, count in requeued.most_common())
        text = f"Requeue {total:,} run{'s' if total != 1 else ''} ({parts})"
        _show(self.requeue, text, "Requeue")
        _set_tip(self.requeue, f"{text}: the selected sweeps' runs that did not finish, cancelled ones too")

    def _refresh_sweep_actions(self, sweeps: list[SweepRow], under: list[Experiment]) -> None:
        targets = self._target_sweeps(sweeps, under)
        active = [sweep for sweep in targets if sweep.is_active]
        self._enable(self.pause_sweep, bool(active))
        resume = bool(active) and all(sweep.held for sweep in active)
        if resume is not self._shown_sweep_hold:
            self._shown_sweep_hold = resume
            self.pause_sweep.setText("Resume sweep" if resume else "Pause sweep")
            _set_tip(self.pause_sweep, _RESUME_SWEEP_TIP if resume else _PAUSE_SWEEP_TIP)
            self.pause_sweep.setIcon(action_icon("resume" if resume else "pause", self._palette))
        model = self._view.queue_model()
        running_rows = self._view.selected_experiments(model.history_size, model.first_queued_row)
        self._enable(
            self.abort_selected,
            any(sweep.is_active for sweep in sweeps)
            or any(exp.status in (ExpStatus.QUEUED, ExpStatus.RUNNING) for exp in (*under, *running_rows)),
        )
        self._enable(self.restart_sweep, self._restartable(targets) is not None)

    def _target_sweeps(self, sweeps: list[SweepRow], under: list[Experiment]) -> list[SweepRow]:
        """The selected sweeps and those of the selected runs shown under theirs."""
        model = self._view.queue_model()
        found = {sweep.group_id: sweep for sweep in sweeps}
        for exp in under:
            parent = model.sweep_of(exp)
            if parent is not None:
                found.setdefault(parent.group_id, parent)
        return list(found.values())

    @staticmethod
    def _restartable(targets: list[SweepRow]) -> SweepRow | None:
        """The one sweep of the selection when it is a multirun that has ended and whose folder is there."""
        if len(targets) != 1:
            return None
        sweep = targets[0]
        group = sweep.group
        if sweep.is_active or group is None or group.kind != "multirun" or not group.output_path:
            return None
        return sweep if (Path(group.output_path) / SWEEP_FILE).is_file() else None

    def _enable(self, action: QAction, enabled: bool) -> None:
        # Compared here, not in Qt: see QueueStatusBar._set.
        if self._enabled.get(action) != enabled:
            self._enabled[action] = enabled
            action.setEnabled(enabled)

    def _show_pause_state(self) -> None:
        manager = self._manager
        shown = (manager.paused, manager.pausing_after_current)
        if shown == self._shown_pause:
            return
        self._shown_pause = shown
        paused, pausing_after = shown
        _show(self.pause_resume, "Resume" if paused else "Pause now", "Resume" if paused else "Pause")
        _set_tip(self.pause_resume, _RESUME_TIP if paused else _PAUSE_NOW_TIP)
        self.pause_resume.setIcon(action_icon("resume" if paused else "pause", self._palette))
        # The second pause offers the other kind: after this experiment, or now instead.
        if pausing_after:
            _show(self.pause_after, "Pause now instead", "Pause now")
            _set_tip(self.pause_after, _PAUSE_NOW_INSTEAD_TIP)
            self.pause_after.setIcon(action_icon("pause", self._palette))
        else:
            _show(self.pause_after, "Pause after this experiment", "Pause after this")
            _set_tip(self.pause_after, _PAUSE_AFTER_TIP)
            self.pause_after.setIcon(action_icon("pause-after", self._palette))

    def _show_abort_kind(self, forcing: bool) -> None:
        if forcing is self._shown_forcing:
            return
        self._shown_forcing = forcing
        self.abort.setText("Force abort" if forcing else "Abort")
        _set_tip(self.abort, _FORCE_ABORT_TIP if forcing else _ABORT_TIP)

    # -- what they do ------------------------------------------------------------------

    def toggle_pause(self) -> None:
        """Resume when paused, else pause now (at the running experiment's next checkpoint)."""
        if self._manager.paused:
            self._manager.resume_worker()
        else:
            self._manager.pause_worker()
        self._show_pause_state()

    def switch_pause_after(self) -> None:
        """Pause after the running experiment; when already doing that, pause now instead."""
        self._manager.pause_worker(after_current=not self._manager.pausing_after_current)
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
        question = f"Cancel all {count:,} queued {noun}?"
        box = QMessageBox(QMessageBox.Icon.Question, "Clear the queue", question, parent=self._window)
        box.setObjectName("confirm-clear")
        box.setInformativeText("They will not run. The running experiment is not affected.")
        clear = box.addButton(f"Cancel {count:,} {noun}", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep them", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)

        def finished() -> None:
            if box.clickedButton() is clear:
                self._manager.clear_all_jobs()
            box.deleteLater()

        box.finished.connect(finished)
        box.open()

    def open_dialog(
        self, mode: DialogMode, experiment: Experiment | None = None, function: str | None = None
    ) -> ExperimentDialog:
        """Open the form to add an experiment or a sweep (``function`` chosen first), or
        to edit ``experiment``; returns the dialog (it is window-modal)."""
        functions = self._manager.queued_functions
        dialog = ExperimentDialog(self._manager.job_queue, mode, functions, experiment, self._window)
        if function is not None:
            dialog.function.setCurrentIndex(dialog.function.findText(function))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def edit_selected(self) -> ExperimentDialog | None:
        """Edit the one selected experiment: in place if queued, as a new copy if ended."""
        chosen = self._view.selected_experiments()
        if len(chosen) != 1 or chosen[0].status is ExpStatus.RUNNING:
            return None
        exp = chosen[0]
        return self.open_dialog(DialogMode.EDIT if exp.status is ExpStatus.QUEUED else DialogMode.REQUEUE, exp)

    def remove_selected(self) -> None:
        model = self._view.queue_model()
        model.queue.remove(self._selected_queued())

    def _mover(self, move: Callable) -> Callable[[], None]:
        def move_selected() -> None:
            move(self._view.queue_model().queue, self._selected_queued())

        return move_selected

    def _selected_queued(self) -> list[Experiment]:
        """The selected queued experiments, the queued runs of selected sweeps among them,
        in row order (others may be among them: the queue passes over those)."""
        model = self._view.queue_model()
        if not model.grouped:
            return self._view.selected_experiments(model.first_queued_row)
        # From the running rows on: a running sweep's queued runs are shown under it there.
        chosen = self._view.selected_experiments(model.history_size)
        for sweep in self._view.selected_sweeps():
            chosen += sweep.queued_members()
        return list(dict.fromkeys(chosen))

    def requeue_selected(self) -> None:
        model = self._view.queue_model()
        if not model.grouped:
            chosen = self._view.selected_experiments(0, model.history_size)
        else:  # ended runs are shown under running and queued sweeps too
            chosen = self._view.selected_experiments()
            for sweep in self._view.selected_sweeps():
                chosen += sweep.requeueable_members()
        for exp in dict.fromkeys(chosen):
            if exp.status.is_terminal:
                model.queue.requeue(exp)

    # -- sweeps ------------------------------------------------------------------------

    def toggle_sweep_hold(self) -> None:
        """Hold the selected sweeps (no more of their runs start), or resume them when all are held."""
        targets = [sweep for sweep in self._selected_target_sweeps() if sweep.is_active]
        resume = bool(targets) and all(sweep.held for sweep in targets)
        for sweep in targets:
            if resume:
                self._manager.resume_group(sweep.group_id)
            else:
                self._manager.pause_group(sweep.group_id)
        self._view.queue_model().sync()
        self.refresh()

    def abort_selection(self) -> None:
        """Abort the selected sweeps whole, and the selected runs and experiments on any lane."""
        model = self._view.queue_model()
        for sweep in self._view.selected_sweeps():
            self._manager.abort_group(sweep.group_id)
        rows = self._view.selected_experiments(model.history_size, model.first_queued_row)
        for exp in dict.fromkeys([*rows, *self._view.selected_runs_under_sweeps()]):
            if exp.status in (ExpStatus.QUEUED, ExpStatus.RUNNING):
                self._manager.abort_experiment(exp)

    def _selected_target_sweeps(self) -> list[SweepRow]:
        return self._target_sweeps(self._view.selected_sweeps(), self._view.selected_runs_under_sweeps())

    def restart_selected_sweep(self, force: bool = False) -> QMessageBox | None:
        """Restart the selected multirun sweep from its folder. A refusal (an input
        changed) or an error is shown in a dialog, returned; a refusal's offers to force it."""
        sweep = self._restartable(self._selected_target_sweeps())
        if sweep is None or sweep.group is None or sweep.group.output_path is None:
            return None
        folder = sweep.group.output_path
        runner = ParallelLocalRunner(max_parallel=sweep.group.max_parallel or 4, manager=self._manager)
        try:
            restart_multirun(folder, runner=runner, force=force, wait=False)
        except SweepChanged as refused:
            return self._offer_forced_restart(refused)
        except (MultirunError, OSError, TypeError) as exc:
            problem = f"Cannot restart the sweep in {folder}."
            box = QMessageBox(QMessageBox.Icon.Critical, "Restart sweep", problem, parent=self._window)
            box.setObjectName("restart-sweep-failed")
            box.setInformativeText(str(exc))
            box.finished.connect(box.deleteLater)
            box.open()
            return box
        self._view.queue_model().sync()
        return None

    def _offer_forced_restart(self, refused: SweepChanged) -> QMessageBox:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Restart sweep",
            f"The sweep in {refused.folder} was started with different settings.",
            parent=self._window,
        )
        box.setObjectName("restart-sweep-changed")
        box.setInformativeText(
            "What changed since:\n" + "\n".join(f"• {change}" for change in refused.changes) + "\n\n"
            "Restart anyway runs it with the settings as they are now: runs whose parameters "
            "changed run again even if they had finished."
        )
        force = box.addButton("Restart anyway", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)

        def finished() -> None:
            if box.clickedButton() is force:
                self.restart_selected_sweep(force=True)
            box.deleteLater()

        box.finished.connect(finished)
        box.open()
        return box

    def copy_selected(self) -> None:
        """Copy one entry per selected experiment: its title, then its result or traceback."""
        entries = []
        for exp in self._view.selected_items():
            if type(exp) is SweepRow:
                entries.append(f"{exp.title}\t{exp.counts_text()}")
            elif exp.status is ExpStatus.FAILED and exp.traceback:
                entries.append(f"{exp.title}\n{exp.traceback.rstrip()}")
            else:
                outcome = outcome_text(exp, detailed=True)
                entries.append(f"{exp.title}\t{outcome}" if outcome else exp.title)
        QGuiApplication.clipboard().setText("\n".join(entries))


def _show(action: QAction, text: str, short_text: str) -> None:
    """``text`` in menus, ``short_text`` on the toolbar button."""
    action.setText(text)
    action.setIconText(short_text)


def _set_tip(action: QAction, tip: str) -> None:
    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{tip} ({keys})")
    action.setStatusTip(tip)
