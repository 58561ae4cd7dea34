"""QueueStatusBar: the worker's state, counts per status, the time left, and the Dask cluster once used."""

from __future__ import annotations

import time
from datetime import datetime

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from labqueue.core import ExpStatus, WorkerState

from .display_text import format_duration
from .queue_stats import QueueStats
from .theme import action_icon, status_icon

__all__ = ["QueueStatusBar"]

# The icon shown beside each worker state.
_STATE_ICONS = {
    WorkerState.RUNNING: ExpStatus.RUNNING,
    WorkerState.PAUSED: "pause",
    WorkerState.IDLE: ExpStatus.FINISHED,
    WorkerState.ABORTING: ExpStatus.ABORTED,
    WorkerState.STOPPED: ExpStatus.CANCELLED,
    WorkerState.DEAD: ExpStatus.FAILED,
}


class QueueStatusBar(QStatusBar):
    """``● Running | 12 queued · 1 running · 340 finished | ≈ 3 min 20 s to empty``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("status-bar")
        self.state_icon = QLabel()
        self.state_label = QLabel()
        self.state_label.setObjectName("worker-state")
        self.counts_label = QLabel()
        self.counts_label.setObjectName("status-counts")
        self.eta_label = QLabel()
        self.eta_label.setObjectName("time-left")
        self.cluster_label = QLabel()
        self.cluster_label.setObjectName("dask-cluster")
        self.cluster_label.setToolTip("The Dask lane's cluster: its workers, their threads and memory")
        self.cluster_label.setContentsMargins(16, 0, 4, 0)
        self.cluster_label.hide()  # until the Dask lane is used
        self.state_label.setToolTip("What the worker is doing")
        self.counts_label.setToolTip("Experiments per status")
        self.eta_label.setToolTip(
            "Time until the queue is empty and the clock time it will be, from earlier runs "
            "of the same calls (else the same functions)"
        )
        self.addWidget(self.state_icon)
        self.addWidget(self.state_label)
        self.addPermanentWidget(self.counts_label)
        self.addPermanentWidget(self.eta_label)
        self.addPermanentWidget(self.cluster_label)
        self.eta_label.setContentsMargins(16, 0, 4, 0)  # apart from the counts: they are two things
        self._shown_state: tuple | None = None
        self._texts: dict[QLabel, str] = {}

    def show_status(
        self,
        state: WorkerState,
        stats: QueueStats,
        palette: QPalette,
        *,
        detail: str = "",
        paused: bool = False,
        waits_for_you: bool = False,
    ) -> None:
        """Show ``state`` (or ``detail``, which says more) and what ``stats`` says; with
        ``paused`` the time left says the clock stands still, with ``waits_for_you`` that
        what is queued waits for a human (a held sweep). Touches only the labels whose
        text changed."""
        counts = stats.counts
        seconds, unknown = stats.time_left()
        if (state, palette.cacheKey()) != self._shown_state:
            self._shown_state = (state, palette.cacheKey())
            icon = _STATE_ICONS.get(state, ExpStatus.FAILED)  # a state this table does not know: a failure
            icon = status_icon(icon, palette) if isinstance(icon, ExpStatus) else action_icon(icon, palette)
            self.state_icon.setPixmap(icon.pixmap(16, 16))
        waiting = counts.get(ExpStatus.QUEUED, 0) + counts.get(ExpStatus.RUNNING, 0)
        paused_mid_run = stats.running_paused  # it is RUNNING, waiting in checkpoint(): say what one sees
        parts = [
            f"{count:,} {'paused' if status is ExpStatus.RUNNING and paused_mid_run else status.name.lower()}"
            for status, count in counts.items()
        ]
        self._set(self.state_label, detail or state.value)
        self._set(self.counts_label, " · ".join(parts) if parts else "Queue empty")
        self._set(self.eta_label, _time_left_text(waiting, seconds, unknown, paused, waits_for_you=waits_for_you))

    def show_cluster(self, text: str) -> None:
        """Show the Dask cluster (``""``: the lane is not in use, nothing shown)."""
        if self._texts.get(self.cluster_label) != text:
            self.cluster_label.setVisible(bool(text))
        self._set(self.cluster_label, text)

    def show_note(self, text: str) -> None:
        """Say ``text`` in place of the worker's state, until the next :meth:`show_status`
        (a message of its own would be painted over the labels, see QStatusBar)."""
        self._set(self.state_label, text)

    def _set(self, label: QLabel, text: str) -> None:
        # Compared here: each call into Qt waits for the interpreter lock while the
        # worker runs Python, even when the text is the same.
        if self._texts.get(label) != text:
            self._texts[label] = text
            label.setText(text)


def _time_left_text(
    waiting: int, seconds: float, unknown: int, paused: bool, now: float | None = None, *, waits_for_you: bool = False
) -> str:
    """``≈ 3 min 20 s to empty · done ≈ 03:40``; while paused, or while what is queued
    waits for a human, the clock stands still, and it says so."""
    if not waiting:
        return ""
    stopped = "paused" if paused else "waiting for you" if waits_for_you else ""
    if unknown == waiting:
        return f"time left: {stopped}" if stopped else "time left: no estimate yet"
    if stopped:
        text = f"{stopped} · ≈ {format_duration(seconds)} of work left"
    else:
        done = datetime.fromtimestamp((time.time() if now is None else now) + seconds)
        text = f"≈ {format_duration(seconds)} to empty · done ≈ {_clock_text(done, now)}"
    return f"{text} (+{unknown:,} without estimate)" if unknown else text


def _clock_text(moment: datetime, now: float | None) -> str:
    """``03:40``, or ``Tue 03:40`` beyond today."""
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    return moment.strftime("%H:%M") if moment.date() == today else moment.strftime("%a %H:%M")
