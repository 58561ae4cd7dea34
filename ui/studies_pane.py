"""StudiesPane: the studies of a StudyManager as a tree (study, step, run) with counts
per status, and the Cancel study and Restart study actions."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QToolBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labqueue.core import ExpStatus, WorkerState
from labqueue.core.engine import INTERNAL_PRIORITY
from labqueue.core.journal import JournalError
from labqueue.core.studies import SpecChanged, SpecError, StudyManager, StudyNotFoundError, StudyRecord

from .display_text import format_duration
from .theme import status_color

__all__ = ["CancelStudyDialog", "StudiesPane"]

#: How often the pane looks whether the core announced a change (it redraws only then).
REFRESH_MS = 200
#: The statuses counted per step, in the order of their columns.
COUNTED = (
    ExpStatus.QUEUED,
    ExpStatus.RUNNING,
    ExpStatus.FINISHED,
    ExpStatus.FAILED,
    ExpStatus.ABORTED,
    ExpStatus.CANCELLED,
    ExpStatus.INTERRUPTED,
)
NAME, STATUS = 0, 1
FIRST_COUNT = 2
TIME = FIRST_COUNT + len(COUNTED)
NOTE = TIME + 1
HEADERS = ["Study / step / run", "Status", *(s.label for s in COUNTED), "Time", "Note"]
_STUDY_ID = Qt.ItemDataRole.UserRole


class CancelStudyDialog(QDialog):
    """Asks before cancelling a study, with the three things cancel can do as check
    boxes, all on by default (as ``StudyManager.cancel``)."""

    def __init__(self, study: StudyRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cancel-study")
        self.setWindowTitle("Cancel study")
        self.study = study
        self.stop_workers = QCheckBox("Abort its running step")
        self.purge_queues = QCheckBox("Remove its queued runs from the queue")
        self.mark_runs_cancelled = QCheckBox("Mark its unfinished runs cancelled in the journal")
        buttons = QDialogButtonBox()
        self.cancel_button = buttons.addButton("Cancel study", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton("Keep it", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Cancel the study <b>{study.name}</b>?"))
        for box in (self.stop_workers, self.purge_queues, self.mark_runs_cancelled):
            box.setChecked(True)
            layout.addWidget(box)
        layout.addWidget(buttons)

    def choices(self) -> dict[str, bool]:
        """The keyword arguments of ``StudyManager.cancel`` as ticked."""
        return {
            "stop_workers": self.stop_workers.isChecked(),
            "purge_queues": self.purge_queues.isChecked(),
            "mark_runs_cancelled": self.mark_runs_cancelled.isChecked(),
        }


class StudiesPane(QWidget):
    """The studies of ``studies``, kept up to date.

    The core's signals (any thread) only raise a flag; a timer on the GUI thread
    rebuilds the counts when it finds the flag raised, so a study of a thousand runs
    costs one read per refresh, however fast its runs end.
    """

    def __init__(self, studies: StudyManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("studies-pane")
        self.studies = studies
        self._changed = True  # the first refresh shows what is already stored
        self._study_items: dict[str, QTreeWidgetItem] = {}
        self._step_items: dict[tuple[str, str], QTreeWidgetItem] = {}
        self._run_items: dict[str, QTreeWidgetItem] = {}
        self.cancel_dialog: CancelStudyDialog | None = None

        self.tree = QTreeWidget()
        self.tree.setObjectName("studies-tree")
        self.tree.setColumnCount(len(HEADERS))
        self.tree.setHeaderLabels(HEADERS)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        # Rows of bare text sit tight at the default height; a little air makes long
        # columns of counts easier to follow across.
        self.tree.setStyleSheet("QTreeWidget::item { padding-top: 3px; padding-bottom: 3px; }")
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(NAME, 240)
        header.resizeSection(STATUS, 90)
        for column in range(FIRST_COUNT, NOTE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
            self.tree.headerItem().setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.cancel_action = QAction("Cancel study…", self)
        self.cancel_action.setObjectName("action-cancel-study")
        self.cancel_action.setStatusTip("Stop the selected study: abort, remove and mark its runs, as you choose")
        self.cancel_action.triggered.connect(self.ask_cancel)
        self.restart_action = QAction("Restart study", self)
        self.restart_action.setObjectName("action-restart-study")
        self.restart_action.setStatusTip("Queue again the runs of the selected study that did not finish")
        self.restart_action.triggered.connect(lambda: self.restart_selected())  # not with triggered's bool
        toolbar = QToolBar("Studies")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addActions([self.cancel_action, self.restart_action])
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.tree.addActions([self.cancel_action, self.restart_action])
        self.message = QLabel()
        self.message.setObjectName("studies-message")
        self.message.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(toolbar)
        layout.addWidget(self.tree)
        layout.addWidget(self.message)

        # psygnal holds these slots weakly: the pane may go with its window.
        studies.records_changed_signal.connect(self._on_changed, priority=INTERNAL_PRIORITY)
        studies.manager.job_queue.status_changed_signal.connect(self._on_changed, priority=INTERNAL_PRIORITY)
        self.tree.itemSelectionChanged.connect(self._update_actions)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.apply_pending)
        self._timer.start()
        self.apply_pending()

    # -- slots: any thread -------------------------------------------------------------

    def _on_changed(self, *_: Any) -> None:
        self._changed = True

    # -- the GUI thread ----------------------------------------------------------------

    def apply_pending(self) -> None:
        """Refresh the tree if the core announced a change since the last look."""
        if not self._changed or self.studies.manager.state is WorkerState.STOPPED:
            return
        self._changed = False  # before reading: a change meanwhile raises it again
        try:
            self.refresh()
        except JournalError as exc:
            self.message.setText(f"Cannot read the studies: {exc}")

    def refresh(self) -> None:
        """Read every study and its runs and bring the tree up to date in place
        (expanded branches and the selection stay)."""
        running = self.studies.manager.job_queue.running_experiment
        running_id = running.id if running is not None else None
        seen_studies: set[str] = set()
        for study in self.studies.studies.get_all():
            seen_studies.add(study.id)
            self._show_study(study, running_id)
        for study_id in set(self._study_items) - seen_studies:
            self._drop_study(study_id)
        if not self._study_items:
            self.message.setText(
                "No study yet: run one with 'labqueue study run SPEC', or StudyManager.run(spec) in the console."
            )
        self._update_actions()

    def _show_study(self, study: StudyRecord, running_id: str | None) -> None:
        status = self.studies.status(study)  # counts per step; "finished" or "incomplete" once every run ended
        study_item = self._item(self._study_items, study.id, self.tree.invisibleRootItem(), study.id)
        totals = dict.fromkeys(COUNTED, 0)
        runs_by_step: dict[str, list] = {}
        runs = self.studies.runs.get_all({"study_id": study.id})
        for run in sorted(runs, key=lambda run: run.additional_data.get("series", 0)):  # rows in sample order
            runs_by_step.setdefault(run.step, []).append(run)
        for step in status.steps:
            step_item = self._item(self._step_items, (study.id, step.step), study_item, study.id)
            counts = {ExpStatus(name): count for name, count in step.counts.items()}
            for run in runs_by_step.get(step.step, []):
                shown = ExpStatus.RUNNING if run.experiment_id == running_id and run.status == "queued" else None
                if shown is ExpStatus.RUNNING:
                    counts[ExpStatus.QUEUED] -= 1
                    counts[ExpStatus.RUNNING] = counts.get(ExpStatus.RUNNING, 0) + 1
                self._show_run(self._item(self._run_items, run.id, step_item, study.id), run, shown)
            for key, count in counts.items():
                totals[key] += count
            self._show_counts(step_item, counts)
            step_item.setText(NAME, step.step)
            timing = format_duration(step.mean_s)
            if counts.get(ExpStatus.FINISHED, 0) > 1:  # one run has no spread to show
                timing += f" ± {format_duration(step.stdev_s)}"
            step_item.setText(TIME, timing)
            step_item.setToolTip(TIME, "mean ± spread of the finished runs' time")
            step_item.setText(NOTE, f"{sum(counts.values())} run(s)")
        study_item.setText(NAME, study.name)
        self._show_study_status(study_item, status.study.status, totals)
        self._show_counts(study_item, totals)
        study_item.setText(NOTE, str(study.workspace or ""))

    def _item(self, items: dict, key: Any, parent: QTreeWidgetItem, study_id: str) -> QTreeWidgetItem:
        item = items.get(key)
        if item is None:
            item = QTreeWidgetItem(parent)
            item.setData(NAME, _STUDY_ID, study_id)
            for column in range(FIRST_COUNT, TIME + 1):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            items[key] = item
            if parent is self.tree.invisibleRootItem():
                item.setExpanded(True)  # a new study shows its steps; runs stay folded
        return item

    def _show_counts(self, item: QTreeWidgetItem, counts: dict[ExpStatus, int]) -> None:
        palette = self.palette()
        for offset, status in enumerate(COUNTED):
            count = counts.get(status, 0)
            item.setText(FIRST_COUNT + offset, str(count) if count else "")  # blanks keep the eye on what is there
            item.setForeground(FIRST_COUNT + offset, status_color(status, palette))

    def _show_status(self, item: QTreeWidgetItem, status_name: str) -> None:
        item.setText(STATUS, status_name.capitalize())
        try:
            item.setForeground(STATUS, status_color(ExpStatus(status_name), self.palette()))
        except ValueError:  # a study's own statuses ("running", "incomplete") are no ExpStatus
            item.setForeground(STATUS, self.palette().color(QPalette.ColorRole.Text))

    def _show_study_status(self, item: QTreeWidgetItem, status_name: str, totals: dict[ExpStatus, int]) -> None:
        if status_name != "incomplete":
            self._show_status(item, status_name)
            return
        # Every run ended, not all finished: in the colour of the worst of them.
        worst = next(s for s in (ExpStatus.FAILED, ExpStatus.INTERRUPTED, ExpStatus.ABORTED, ExpStatus.CANCELLED)
                     if totals[s])  # fmt: skip
        item.setText(STATUS, "Incomplete")
        item.setForeground(STATUS, status_color(worst, self.palette()))
        item.setToolTip(STATUS, "Every run ended, not all of them finished")

    def _show_run(self, item: QTreeWidgetItem, run, shown: ExpStatus | None) -> None:
        series = run.additional_data.get("series", 0)
        parameters = ", ".join(f"{key}={value!r}" for key, value in run.parameters.items())
        item.setText(NAME, f"{series}: {parameters}" if parameters else str(series))
        item.setToolTip(NAME, run.workspace)
        self._show_status(item, (shown or ExpStatus(run.status)).value)
        item.setText(TIME, format_duration(run.duration) if run.duration is not None else "")
        item.setText(NOTE, run.reason or "")
        item.setToolTip(NOTE, run.reason or "")

    def _drop_study(self, study_id: str) -> None:
        item = self._study_items.pop(study_id)
        self.tree.invisibleRootItem().removeChild(item)
        for items in (self._step_items, self._run_items):
            for key in [key for key, child in items.items() if child.data(NAME, _STUDY_ID) == study_id]:
                del items[key]

    # -- actions -----------------------------------------------------------------------

    def selected_study(self) -> StudyRecord | None:
        """The study of the selected row (a study, one of its steps or runs), or None."""
        items = self.tree.selectedItems()
        if not items:
            return None
        try:
            return self.studies.studies.get(items[0].data(NAME, _STUDY_ID))
        except StudyNotFoundError:
            return None

    def select_study(self, name: str) -> None:
        """Select the row of the study called ``name``."""
        for item in self._study_items.values():
            if item.text(NAME) == name:
                self.tree.setCurrentItem(item)
                return
        raise LookupError(f"no study {name!r} in the pane")

    def _update_actions(self) -> None:
        selected = bool(self.tree.selectedItems())
        self.cancel_action.setEnabled(selected)
        self.restart_action.setEnabled(selected)

    def ask_cancel(self) -> CancelStudyDialog | None:
        """Ask, then cancel the selected study as ticked; returns the open dialog."""
        study = self.selected_study()
        if study is None:
            return None
        dialog = CancelStudyDialog(study, self)
        self.cancel_dialog = dialog

        def finished(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                done = self.studies.cancel(study, **dialog.choices())
                self.message.setText(
                    f"{study.name}: {done['stopped']} running step aborted, {done['purged']} queued run(s) "
                    f"removed, {done['marked']} run(s) marked cancelled."
                )
            self.cancel_dialog = None
            dialog.deleteLater()

        dialog.finished.connect(finished)
        dialog.open()
        return dialog

    def restart_selected(self, force: bool = False) -> None:
        """Queue again what did not finish in the selected study; asks before running a
        spec that changed since the study ran."""
        study = self.selected_study()
        if study is None:
            return
        try:
            self.studies.restart(study.workspace, force=force)
        except SpecChanged as exc:
            self._ask_force(study, str(exc))
        except (SpecError, StudyNotFoundError, JournalError, OSError) as exc:
            self._tell("restart-failed", f"Cannot restart {study.name}", str(exc))
        else:
            self.message.setText(f"{study.name}: restarted; runs that finished earlier are skipped.")

    def _ask_force(self, study: StudyRecord, reason: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Question, "Restart study", "The spec changed since the study ran.", parent=self
        )
        box.setObjectName("restart-spec-changed")
        box.setInformativeText(f"{reason}.\nRun the new spec on the same workspace?")
        run_new = box.addButton("Run the new spec", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)

        def finished() -> None:
            if box.clickedButton() is run_new:
                self.restart_selected(force=True)
            box.deleteLater()

        box.finished.connect(finished)
        box.open()

    def _tell(self, name: str, text: str, details: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Studies", text, parent=self)
        box.setObjectName(name)
        box.setInformativeText(details)
        box.finished.connect(box.deleteLater)
        box.open()
