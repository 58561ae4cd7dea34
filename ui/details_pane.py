"""DetailsPane: everything about one experiment, or one sweep, for the selected row."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from labqueue.core import Experiment, ExpStatus
from labqueue.core.runs import command_of, tail_lines

from .display_text import arguments_text, chain_text, format_duration, format_time, outcome_text, status_label
from .sweep_details import SweepDetails, heading_row
from .sweep_rows import SweepRow
from .theme import experiment_color, experiment_icon
from .traceback_text import is_plain_abort, readable_traceback

__all__ = ["DetailsPane"]

#: Captured log lines shown at most (the newest); the log pane and files have them all.
MAX_LOG_LINES = 1000
#: Lines of a command's stdout and of its stderr shown at most (the last ones, read
#: from the end of the file: a run's output may be gigabytes).
OUTPUT_LINES = 200


class DetailsPane(QWidget):
    """Title, arguments, status, times, result, traceback, log lines, journal state,
    and for a command the tail of its stdout and stderr, live while it runs; for a
    sweep's row, the sweep (:class:`~ui.sweep_details.SweepDetails`, whose
    ``run_chosen`` signal asks for one of its runs to be selected).

    :meth:`refresh` is cheap when nothing changed: texts are rebuilt only when the
    experiment's status, log or progress moved on, and results are shown through a
    bounded repr, so a huge result cannot freeze the window.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("details-pane")
        self._experiment: Experiment | None = None
        # What the panes last showed, so each is rebuilt only when its own part changed.
        self._fields_shown: tuple | None = None
        self._result_shown: tuple | None = None
        self._log_shown: int | None = None
        self._output_shown: tuple | None = None
        self._duration_shown = ""

        self._empty = QLabel("Select an experiment to see its details.")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self._empty.setEnabled(False)

        self._icon, self.title, heading = heading_row()

        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(12)
        for name in ("Status", "Chain", "Queued", "Started", "Finished", "Duration", "Journal", "Id"):
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            self.fields[name] = value
            form.addRow(f"{name}:", value)
        self._form = form

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.texts: dict[str, QPlainTextEdit] = {}
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        # The system's fixed font is often smaller than the text around it.
        fixed.setPointSizeF(max(fixed.pointSizeF(), self.font().pointSizeF()))
        for name in ("Arguments", "Result", "Traceback", "Log", "Output"):
            text = QPlainTextEdit()
            text.setObjectName(f"details-{name.lower()}")
            text.setReadOnly(True)
            text.setFont(fixed)
            # Wrapped, so a long error or path reads without scrolling sideways; the
            # log keeps one record per line, a command's output its own lines.
            text.setLineWrapMode(
                QPlainTextEdit.LineWrapMode.NoWrap
                if name in ("Log", "Output")
                else QPlainTextEdit.LineWrapMode.WidgetWidth
            )
            self.texts[name] = text
            self.tabs.addTab(self._traceback_tab(text) if name == "Traceback" else text, name)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addLayout(heading)
        layout.addLayout(form)
        layout.addWidget(self.tabs, 1)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._empty)
        self._stack.addWidget(content)
        self.sweep_page = SweepDetails()
        sweep_scroll = QScrollArea()  # a low dock scrolls rather than squeezes its wrapped lines
        sweep_scroll.setWidgetResizable(True)
        sweep_scroll.setFrameShape(QFrame.Shape.NoFrame)
        sweep_scroll.setWidget(self.sweep_page)
        self._sweep_scroll = sweep_scroll
        self._stack.addWidget(sweep_scroll)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._stack)

    def _traceback_tab(self, text: QPlainTextEdit) -> QWidget:
        self.show_labqueue_frames = QCheckBox("Show labqueue's own frames")
        self.show_labqueue_frames.setObjectName("show-labqueue-frames")
        self.show_labqueue_frames.setToolTip("The worker that called the experiment, checkpoint() and the like")
        self.show_labqueue_frames.toggled.connect(self._show_traceback)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.show_labqueue_frames)
        layout.addWidget(text, 1)
        self.traceback_page = tab
        return tab

    @property
    def experiment(self) -> Experiment | None:
        return self._experiment

    @property
    def sweep(self) -> SweepRow | None:
        return self.sweep_page.sweep

    def show_sweep(self, sweep: SweepRow) -> None:
        """Show the sweep of a sweep's row."""
        self._experiment = None
        self.sweep_page.show_sweep(sweep)
        self._stack.setCurrentWidget(self._sweep_scroll)

    def show_experiment(self, exp: Experiment | None) -> None:
        """Show ``exp`` (None: nothing selected)."""
        if self.sweep_page.sweep is not None:
            self.sweep_page.show_sweep(None)
        elif exp is self._experiment:
            return
        self._experiment = exp
        self._stack.setCurrentIndex(0 if exp is None else 1)
        self._forget_shown()
        if exp is not None:
            # A new experiment starts on its most telling tab.
            self.show_tab("Traceback" if _shown_traceback(exp) else "Result")
        self.refresh()

    def show_tab(self, name: str) -> None:
        """Bring the tab ``name`` ("Arguments", "Result", "Traceback", "Log", "Output") to the front."""
        self.tabs.setCurrentIndex(self.tabs.indexOf(self._page(name)))

    def _page(self, name: str) -> QWidget:
        return self.traceback_page if name == "Traceback" else self.texts[name]

    def set_palette(self, palette: QPalette) -> None:
        self._forget_shown()
        self.sweep_page.set_palette(palette)
        self.refresh()

    def refresh(self) -> None:
        """Update what changed since the last call."""
        exp = self._experiment
        if exp is None:
            self.sweep_page.refresh()
            return
        status = exp.status
        duration = format_duration(exp.duration) or "not started"
        paused = exp.time_paused
        if paused >= 0.01:
            duration += f" (and {format_duration(paused)} paused)"
        if duration != self._duration_shown:  # compared here: a call into Qt costs even when equal
            self._duration_shown = duration
            self.fields["Duration"].setText(duration)
        chain = chain_text(exp) if exp.links or exp.retry is not None or exp.attempt > 1 else ""
        fields = (status, exp.paused, exp.stored, exp.traceback is not None, chain)
        if fields != self._fields_shown:
            self._fields_shown = fields
            self._show_fields(exp, status, chain)
        result = (status, exp.paused, exp.progress)
        if result != self._result_shown:
            self._result_shown = result
            self._set_text("Result", _result_text(exp))
        if exp.log_count != self._log_shown:
            self._log_shown = exp.log_count
            self._show_log(exp)
        call = command_of(exp)
        if call is not None:
            files = (call.stdout_path, call.stderr_path)
            sizes = tuple(_size(path) for path in files)  # two stats a frame, no reading while nothing grows
            if sizes != self._output_shown:
                self._output_shown = sizes
                self._show_output(files)

    def _forget_shown(self) -> None:
        self._fields_shown = self._result_shown = self._log_shown = self._output_shown = None

    def _show_fields(self, exp: Experiment, status: ExpStatus, chain: str) -> None:
        palette = self.palette()
        self._icon.setPixmap(experiment_icon(exp, palette).pixmap(24, 24))
        self.title.setText(exp.title)
        waiting = " — waits at its checkpoint() until Resume" if exp.paused else ""
        self.fields["Status"].setText(status_label(exp) + waiting)
        self.fields["Status"].setStyleSheet(f"color: {experiment_color(exp, palette).name()}; font-weight: bold")
        self.fields["Chain"].setText(chain)
        self._form.setRowVisible(self.fields["Chain"], bool(chain))  # most experiments are in no chain
        self.fields["Queued"].setText(format_time(exp.queued_at))
        self.fields["Started"].setText(format_time(exp.started_at) or "not yet")
        self.fields["Finished"].setText(
            format_time(exp.finished_at) or ("running" if status is ExpStatus.RUNNING else "not yet")
        )
        self.fields["Journal"].setText(_journal_text(exp))
        requeued = f" (requeue of {exp.requeued_from})" if exp.requeued_from else ""
        self.fields["Id"].setText(exp.id + requeued)
        self._set_text("Arguments", arguments_text(exp))
        self._show_traceback()
        self.tabs.setTabEnabled(self.tabs.indexOf(self.traceback_page), _shown_traceback(exp))
        self.tabs.setTabEnabled(self.tabs.indexOf(self.texts["Output"]), command_of(exp) is not None)
        if command_of(exp) is None:
            self._set_text("Output", "")

    def _show_traceback(self) -> None:
        exp = self._experiment
        if exp is None or not _shown_traceback(exp):
            self._set_text("Traceback", "")
            return
        text, folded = readable_traceback(exp.traceback, fold=not self.show_labqueue_frames.isChecked())
        if not self.show_labqueue_frames.isChecked():
            self.show_labqueue_frames.setText(f"Show labqueue's own frames ({folded} folded)")
        self.show_labqueue_frames.setEnabled(bool(folded) or self.show_labqueue_frames.isChecked())
        self._set_text("Traceback", text)

    def _show_output(self, files: tuple) -> None:
        parts = []
        for path in files:
            lines = tail_lines(path, OUTPUT_LINES)
            parts.append(f"── {path} (last {len(lines)} lines) ──" if lines else f"── {path}: nothing yet ──")
            parts += lines
        self._set_text("Output", "\n".join(parts))

    def _show_log(self, exp: Experiment) -> None:
        shown = exp.log_lines(last=MAX_LOG_LINES)  # formatting all 5,000 kept records costs a frame
        total = exp.log_count
        hidden = total - len(shown)
        if hidden > 0:
            shown.insert(0, f"({hidden} earlier lines are in the log pane and the log files)")
        self._set_text("Log", "\n".join(shown))
        self.tabs.setTabText(self.tabs.indexOf(self.texts["Log"]), f"Log ({total})" if total else "Log")

    def _set_text(self, tab: str, text: str) -> None:
        widget = self.texts[tab]
        if widget.toPlainText() != text:  # keeps the reader's scroll position otherwise
            widget.setPlainText(text)


def _shown_traceback(exp: Experiment) -> bool:
    """A traceback worth showing: any but that of a plain abort at a checkpoint()."""
    return bool(exp.traceback) and not is_plain_abort(exp.traceback)


def _size(path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _journal_text(exp: Experiment) -> str:
    if exp.stored is None:
        return "no journal: kept in memory only"
    if exp.stored:
        return "stored"
    return f"not stored: {exp.store_error or 'unknown error'}"


def _result_text(exp: Experiment) -> str:
    status = exp.status
    if status is ExpStatus.RUNNING:
        fraction, message = exp.progress
        percent = f"{fraction:.0%} " if fraction is not None else ""
        doing = "paused at" if exp.paused else "running…"
        return f"{doing} {percent}{message}".rstrip()
    if status is ExpStatus.QUEUED:
        return "not run yet"
    if status is ExpStatus.ABORTED and is_plain_abort(exp.traceback):
        return "Aborted at its checkpoint(), as asked"
    return outcome_text(exp, detailed=True)
