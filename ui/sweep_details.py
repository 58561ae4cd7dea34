"""SweepDetails: the details pane's page for a sweep's row (see :mod:`ui.sweep_rows`)."""

from __future__ import annotations

import shlex
from operator import attrgetter

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from labqueue.core import Experiment, ExpStatus
from labqueue.core.runs import command_of

from .display_text import format_duration, format_time, outcome_text
from .sweep_rows import SweepRow
from .theme import paused_color, paused_icon, status_color, status_icon

__all__ = ["SweepDetails"]

_status_of = attrgetter("status")
_PROGRESS_STEPS = 1000


class SweepDetails(QWidget):
    """A sweep: its title, kind, counts per status, progress and time left, whether it is
    held, how many of its runs go at once, a multirun's folder and command, and the
    first failed run's error with a button that selects that run.

    Read from the :class:`SweepRow` the table keeps (as of its last sync), never from
    the runs one by one at each refresh: :meth:`refresh` compares what it shows with a
    few numbers of the row, and looks for the first failed run only when the sweep's
    count of failed runs (or its list of runs) changed, so a sweep of 20,000 runs costs
    nothing per frame while it stands still.

    Signals:
        run_chosen(Experiment): "Show this run" was clicked on the first failed run.
    """

    run_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sweep-details")
        self._sweep: SweepRow | None = None
        self._shown: tuple | None = None
        self._failed_key: tuple | None = None
        self._times_key: tuple | None = None
        self._started = ""
        self.first_failed: Experiment | None = None

        self._icon, self.title, heading = heading_row()
        self.title.setObjectName("sweep-title")

        self.progress = QProgressBar()
        self.progress.setObjectName("sweep-progress")
        self.progress.setRange(0, _PROGRESS_STEPS)
        self.fields: dict[str, QLabel] = {}
        # What it is and how far it got; then, below its first failed run, where it runs.
        forms = (QFormLayout(), QFormLayout())
        names = (("Kind", "Status", "Runs", "Progress", "Time left", "Held", "At once"),
                 ("Folder", "Command", "Queued", "Started", "Id"))  # fmt: skip
        for form, part in zip(forms, names, strict=True):
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setHorizontalSpacing(12)
            for name in part:
                value = QLabel()
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                value.setWordWrap(True)
                self.fields[name] = value
                if name == "Progress":
                    row = QHBoxLayout()
                    row.addWidget(self.progress, 1)
                    row.addWidget(value)
                    form.addRow("Progress:", row)
                else:
                    form.addRow(f"{name}:", value)
        self._form = forms[1]

        self.failed_heading = QLabel("First failed run:")
        bold = self.failed_heading.font()
        bold.setBold(True)
        self.failed_heading.setFont(bold)
        self.failed_run = QLabel()
        self.failed_run.setObjectName("sweep-first-failed")
        self.failed_run.setWordWrap(True)
        self.failed_run.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.failed_error = QLabel()
        self.failed_error.setObjectName("sweep-first-failed-error")
        self.failed_error.setWordWrap(True)
        self.failed_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.show_failed = QPushButton("Show this run")
        self.show_failed.setObjectName("sweep-show-first-failed")
        self.show_failed.setToolTip("Select the run in the table, its traceback in the details")
        self.show_failed.clicked.connect(self._choose_failed)
        self._failed_box = QWidget()
        failed = QVBoxLayout(self._failed_box)
        failed.setContentsMargins(0, 8, 0, 0)
        self.failed_error.setMaximumHeight(self.fontMetrics().lineSpacing() * 4)  # a long error: its start
        failed.addWidget(self.failed_heading)
        failed.addWidget(self.failed_run)
        failed.addWidget(self.failed_error)
        failed.addWidget(self.show_failed, 0, Qt.AlignmentFlag.AlignLeft)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addLayout(heading)
        layout.addLayout(forms[0])
        layout.addWidget(self._failed_box)
        layout.addSpacing(8)
        layout.addLayout(forms[1])
        layout.addStretch(1)

    @property
    def sweep(self) -> SweepRow | None:
        return self._sweep

    def show_sweep(self, sweep: SweepRow | None) -> None:
        if sweep is self._sweep:
            return
        self._sweep = sweep
        self.forget_shown()
        self.refresh()

    def forget_shown(self) -> None:
        self._shown = self._failed_key = self._times_key = None

    def refresh(self) -> None:
        """Update what changed since the last call (cheap when nothing did)."""
        sweep = self._sweep
        if sweep is None:
            return
        time_left = f"≈ {format_duration(sweep.time_left)}" if sweep.time_left else ""
        shown = (sweep.group, tuple(sweep.counts.items()), sweep.total, sweep.held, time_left)
        if shown == self._shown:
            return
        self._shown = shown
        self._show_fields(sweep, time_left)
        failed_key = (sweep.counts[ExpStatus.FAILED], id(sweep.latest), sweep.total)
        if failed_key != self._failed_key:
            self._failed_key = failed_key
            self._show_first_failed(sweep)

    def _show_fields(self, sweep: SweepRow, time_left: str) -> None:
        palette = self.palette()
        group = sweep.group
        icon = paused_icon(palette) if sweep.waits_held else status_icon(sweep.status, palette)
        self._icon.setPixmap(icon.pixmap(24, 24))
        self.title.setText(sweep.title)
        kind = group.kind if group is not None else "sweep"
        self.fields["Kind"].setText(
            "multirun (a command per set of parameters)" if kind == "multirun" else "sweep (a Python function)"
        )
        colour = paused_color(palette) if sweep.waits_held else status_color(sweep.status, palette)
        self.fields["Status"].setText(sweep.status_text)
        self.fields["Status"].setStyleSheet(f"color: {colour.name()}; font-weight: bold")
        counts = sweep.counts_text().removeprefix("held · ")
        self.fields["Runs"].setText(f"{sweep.total:,} in all: {counts}" if counts else f"{sweep.total:,}")
        self.progress.setValue(round(sweep.fraction * _PROGRESS_STEPS))
        self.fields["Progress"].setText(f"{sweep.ended:,} of {sweep.total:,} ended")
        self.fields["Time left"].setText(time_left or ("none" if not sweep.is_active else "not known yet"))
        self.fields["Held"].setText("yes: its queued runs wait for Resume sweep" if sweep.held else "no")
        max_parallel = group.max_parallel if group is not None else None
        self.fields["At once"].setText(
            f"at most {max_parallel} of its runs" if max_parallel else "as many as the lane has slots"
        )
        folder = group.output_path if group is not None else None
        self.fields["Folder"].setText(folder or "")
        self._form.setRowVisible(self.fields["Folder"], bool(folder))
        call = command_of(sweep.latest[0]) if sweep.latest else None
        command = "" if call is None else call.cmd if call.shell else shlex.join(call.cmd)
        self.fields["Command"].setText(command)
        self._form.setRowVisible(self.fields["Command"], bool(command))
        self.fields["Id"].setText(sweep.group_id)
        # A step per run: only when runs came or went, or until the first one started.
        times_key = (sweep.group_id, len(sweep.members))
        if times_key != self._times_key or not self._started:
            self._times_key = times_key
            self._started = format_time(sweep.first_time("started_at"))
            self.fields["Queued"].setText(format_time(sweep.first_time("queued_at")))
            self.fields["Started"].setText(self._started or "not yet")

    def _show_first_failed(self, sweep: SweepRow) -> None:
        first = None
        if sweep.counts[ExpStatus.FAILED]:
            statuses = list(map(_status_of, sweep.latest))  # read in C: no Python step per run
            if ExpStatus.FAILED in statuses:
                first = sweep.latest[statuses.index(ExpStatus.FAILED)]
        self.first_failed = first
        self._failed_box.setVisible(first is not None)
        if first is not None:
            self.failed_run.setText(first.title)
            self.failed_error.setText(outcome_text(first))
            self.failed_error.setStyleSheet(f"color: {status_color(ExpStatus.FAILED, self.palette()).name()}")

    def _choose_failed(self) -> None:
        if self.first_failed is not None:
            self.run_chosen.emit(self.first_failed)

    def set_palette(self, palette: QPalette) -> None:
        self.forget_shown()
        self.refresh()


def heading_row() -> tuple[QLabel, QLabel, QHBoxLayout]:
    """The heading of a details page: an icon beside a bold, selectable, wrapped title."""
    icon = QLabel()
    icon.setFixedSize(24, 24)
    title = QLabel()
    title.setWordWrap(True)
    title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    title_font = title.font()
    title_font.setBold(True)
    title_font.setPointSizeF(title_font.pointSizeF() * 1.15)
    title.setFont(title_font)
    heading = QHBoxLayout()
    heading.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
    heading.addWidget(title, 1)
    return icon, title, heading
