"""DetailsPane: everything about one experiment, for the selected row."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QPalette
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from labqueue.core import Experiment, ExpStatus
from labqueue.core.runs import command_of, tail_lines

from .display_text import arguments_text, format_duration, format_time, outcome_text
from .theme import status_color, status_icon

__all__ = ["DetailsPane"]

#: Captured log lines shown at most (the newest); the log pane and files have them all.
MAX_LOG_LINES = 1000
#: Lines of a command's stdout and of its stderr shown at most (the last ones, read
#: from the end of the file: a run's output may be gigabytes).
OUTPUT_LINES = 200


class DetailsPane(QWidget):
    """Title, arguments, status, times, result, traceback, log lines, journal state,
    and for a command the tail of its stdout and stderr, live while it runs.

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

        self._icon = QLabel()
        self._icon.setFixedSize(24, 24)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        title_font = self.title.font()
        title_font.setBold(True)
        title_font.setPointSizeF(title_font.pointSizeF() * 1.15)
        self.title.setFont(title_font)
        heading = QHBoxLayout()
        heading.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        heading.addWidget(self.title, 1)

        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(12)
        for name in ("Status", "Queued", "Started", "Finished", "Duration", "Journal", "Id"):
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            self.fields[name] = value
            form.addRow(f"{name}:", value)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.texts: dict[str, QPlainTextEdit] = {}
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        for name in ("Arguments", "Result", "Traceback", "Log", "Output"):
            text = QPlainTextEdit()
            text.setReadOnly(True)
            text.setFont(fixed)
            text.setLineWrapMode(
                QPlainTextEdit.LineWrapMode.NoWrap
                if name in ("Traceback", "Log", "Output")
                else QPlainTextEdit.LineWrapMode.WidgetWidth
            )
            self.texts[name] = text
            self.tabs.addTab(text, name)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.addLayout(heading)
        layout.addLayout(form)
        layout.addWidget(self.tabs, 1)
        self._stack = QStackedWidget()
        self._stack.addWidget(self._empty)
        self._stack.addWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._stack)

    @property
    def experiment(self) -> Experiment | None:
        return self._experiment

    def show_experiment(self, exp: Experiment | None) -> None:
        """Show ``exp`` (None: nothing selected)."""
        if exp is self._experiment:
            return
        self._experiment = exp
        self._stack.setCurrentIndex(0 if exp is None else 1)
        self._forget_shown()
        if exp is not None:
            # A new experiment starts on its most telling tab.
            self.tabs.setCurrentWidget(self.texts["Traceback" if exp.traceback else "Result"])
        self.refresh()

    def set_palette(self, palette: QPalette) -> None:
        self._forget_shown()
        self.refresh()

    def refresh(self) -> None:
        """Update what changed since the last call."""
        exp = self._experiment
        if exp is None:
            return
        status = exp.status
        duration = format_duration(exp.duration) or "not started"
        if duration != self._duration_shown:  # compared here: a call into Qt costs even when equal
            self._duration_shown = duration
            self.fields["Duration"].setText(duration)
        fields = (status, exp.stored, exp.traceback is not None)
        if fields != self._fields_shown:
            self._fields_shown = fields
            self._show_fields(exp, status)
        result = (status, exp.progress)
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

    def _show_fields(self, exp: Experiment, status: ExpStatus) -> None:
        palette = self.palette()
        self._icon.setPixmap(status_icon(status, palette).pixmap(24, 24))
        self.title.setText(exp.title)
        self.fields["Status"].setText(status.label)
        self.fields["Status"].setStyleSheet(f"color: {status_color(status, palette).name()}; font-weight: bold")
        self.fields["Queued"].setText(format_time(exp.queued_at))
        self.fields["Started"].setText(format_time(exp.started_at) or "not yet")
        self.fields["Finished"].setText(
            format_time(exp.finished_at) or ("running" if status is ExpStatus.RUNNING else "not yet")
        )
        self.fields["Journal"].setText(_journal_text(exp))
        requeued = f" (requeue of {exp.requeued_from})" if exp.requeued_from else ""
        self.fields["Id"].setText(exp.id + requeued)
        self._set_text("Arguments", arguments_text(exp))
        self._set_text("Traceback", exp.traceback or "")
        self.tabs.setTabEnabled(self.tabs.indexOf(self.texts["Traceback"]), bool(exp.traceback))
        self.tabs.setTabEnabled(self.tabs.indexOf(self.texts["Output"]), command_of(exp) is not None)
        if command_of(exp) is None:
            self._set_text("Output", "")

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
        return f"running… {percent}{message}".rstrip()
    if status is ExpStatus.QUEUED:
        return "not run yet"
    return outcome_text(exp, detailed=True)
