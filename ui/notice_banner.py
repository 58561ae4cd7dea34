"""NoticeBanner: one line above the queue table saying why the queue is not running.

The window works out, once per frame, which :class:`Notice` is true now (a failure
paused the queue, the running experiment went quiet, the worker died, work came back
from the journal) and hands it to the banner, or None; the banner shows it, with its
buttons, and hides when nothing needs saying. A notice is rebuilt only when its
``key`` changes, so an unchanged one costs nothing per frame.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from .theme import themed_color

__all__ = ["Notice", "NoticeBanner", "NoticeKind", "bold"]


class NoticeKind(enum.Enum):
    """What the notice is about; each has its own colour."""

    FAILURE = "failure"
    STALL = "stall"
    DEAD_WORKER = "dead-worker"
    RESTORED = "restored"


# (light palette, dark palette) accent and background of each kind.
_COLORS = {
    NoticeKind.FAILURE: (("#d22f27", "#ff6f61"), ("#fdecea", "#4a2220")),
    NoticeKind.DEAD_WORKER: (("#a0121b", "#ff4d6a"), ("#fbe3e5", "#4d1a22")),
    NoticeKind.STALL: (("#a86400", "#f0b429"), ("#fff4dc", "#453513")),
    NoticeKind.RESTORED: (("#1a6dd6", "#5ea8ff"), ("#e6f0fc", "#1d3350")),
}


@dataclass(frozen=True)
class NoticeButton:
    text: str
    tooltip: str
    slot: Callable[[], None] = field(compare=False)


@dataclass(frozen=True)
class Notice:
    """A message (rich text, escape what users wrote with :func:`bold` or ``html.escape``)
    with its buttons. ``key`` says when two notices are the same one."""

    kind: NoticeKind
    text: str
    buttons: tuple[NoticeButton, ...]
    key: tuple


def bold(text: str) -> str:
    """``text`` escaped for the banner's rich text, in bold."""
    return f"<b>{escape(text)}</b>"


class NoticeBanner(QFrame):
    """Shows one :class:`Notice` above the table, or hides."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice-banner")
        self.notice: Notice | None = None
        self.message = QLabel()
        self.message.setObjectName("notice-text")
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(12, 6, 8, 6)
        self._layout.addWidget(self.message, 1)
        self.buttons: list[QPushButton] = []
        self._palette_key: int | None = None
        self.hide()

    def show_notice(self, notice: Notice | None, palette: QPalette) -> None:
        """Show ``notice`` (None hides the banner); nothing happens if it is already shown."""
        if notice is not None and self.notice is not None and notice.key == self.notice.key:
            if palette.cacheKey() != self._palette_key:
                self._color(notice.kind, palette)
            return
        self.notice = notice
        for button in self.buttons:
            self._layout.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        if notice is None:
            self.hide()
            return
        self.message.setText(notice.text)
        for spec in notice.buttons:
            button = QPushButton(spec.text)
            button.setToolTip(spec.tooltip)
            button.clicked.connect(spec.slot)
            self._layout.addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
            self.buttons.append(button)
        self._color(notice.kind, palette)
        self.show()

    def _color(self, kind: NoticeKind, palette: QPalette) -> None:
        self._palette_key = palette.cacheKey()
        accent, background = (themed_color(pair, palette).name() for pair in _COLORS[kind])
        text = palette.color(QPalette.ColorRole.WindowText).name()
        self.setStyleSheet(
            f"#notice-banner {{ background: {background}; border-left: 4px solid {accent}; }}"
            f"#notice-text {{ color: {text}; }}"
        )
