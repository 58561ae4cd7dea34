"""Colours and icons that follow the system palette (light or dark).

Icons are the SVG files in ``resources/icons``; ``currentColor`` in them is replaced
by the colour asked for, so one drawing serves both palettes and every status colour.
"""

from __future__ import annotations

import logging
from functools import cache, lru_cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from labqueue.core import Experiment, ExpStatus
from labqueue.resources import resource_path

__all__ = [
    "action_icon",
    "app_icon",
    "experiment_color",
    "experiment_icon",
    "is_dark",
    "level_color",
    "paused_color",
    "paused_icon",
    "status_color",
    "status_icon",
]

#: Pixel sizes rendered into each icon; Qt picks the nearest for toolbars, menus and cells.
_ICON_SIZES = (16, 20, 24, 32, 48, 64)

# (light palette, dark palette): saturated enough to read on white, bright enough on grey.
_STATUS_COLORS = {
    ExpStatus.QUEUED: ("#5f6b7a", "#a3aebb"),
    ExpStatus.RUNNING: ("#1a6dd6", "#5ea8ff"),
    ExpStatus.FINISHED: ("#1b8a3c", "#4cc46d"),
    ExpStatus.FAILED: ("#d22f27", "#ff6f61"),
    ExpStatus.ABORTED: ("#d9730d", "#ffa04d"),
    ExpStatus.CANCELLED: ("#8a9099", "#8f969e"),
    ExpStatus.INTERRUPTED: ("#8e3fbf", "#c792f5"),
}

#: A running experiment that waits in checkpoint() while the queue is paused.
_PAUSED_COLOR = ("#a86400", "#f0b429")

_LEVEL_COLORS = {
    logging.DEBUG: ("#8a9099", "#8f969e"),
    logging.WARNING: ("#b35c00", "#ffb454"),
    logging.ERROR: ("#d22f27", "#ff6f61"),
    logging.CRITICAL: ("#a0121b", "#ff4d6a"),
}


def is_dark(palette: QPalette) -> bool:
    """True when the palette's window background is dark."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def themed_color(light_and_dark: tuple[str, str], palette: QPalette) -> QColor:
    """The light or the dark colour of a pair, whichever reads well on ``palette``."""
    light, dark = light_and_dark
    return QColor(dark if is_dark(palette) else light)


def status_color(status: ExpStatus, palette: QPalette) -> QColor:
    """The colour of ``status`` that reads well on ``palette``."""
    return themed_color(_STATUS_COLORS[status], palette)


def experiment_color(exp: Experiment, palette: QPalette) -> QColor:
    """The colour of what ``exp`` is doing: its status, or paused while it waits in checkpoint()."""
    return paused_color(palette) if exp.paused else status_color(exp.status, palette)


def experiment_icon(exp: Experiment, palette: QPalette) -> QIcon:
    """The icon of what ``exp`` is doing: its status, or paused while it waits in checkpoint()."""
    return paused_icon(palette) if exp.paused else status_icon(exp.status, palette)


def paused_color(palette: QPalette) -> QColor:
    """The colour of a paused experiment or a held sweep."""
    return themed_color(_PAUSED_COLOR, palette)


def paused_icon(palette: QPalette) -> QIcon:
    """The icon of a paused experiment or a held sweep."""
    return _tinted_icon("icons/status-paused.svg", paused_color(palette).name())


def level_color(levelno: int, palette: QPalette) -> QColor | None:
    """Text colour for a log level; None for INFO (the palette's own text colour)."""
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING):
        if levelno >= threshold:
            return themed_color(_LEVEL_COLORS[threshold], palette)
    if levelno <= logging.DEBUG:
        return themed_color(_LEVEL_COLORS[logging.DEBUG], palette)
    return None


def status_icon(status: ExpStatus, palette: QPalette) -> QIcon:
    """The icon of ``status`` in its palette colour."""
    return _tinted_icon(f"icons/status-{status.value}.svg", status_color(status, palette).name())


def action_icon(name: str, palette: QPalette) -> QIcon:
    """Toolbar and menu icon ``name`` (a file ``resources/icons/NAME.svg``) in the text colour."""
    return _tinted_icon(f"icons/{name}.svg", palette.color(QPalette.ColorRole.WindowText).name())


@lru_cache(maxsize=1)
def app_icon() -> QIcon:
    """The application icon (``resources/labqueue.svg``)."""
    return _icon_from_svg(resource_path("labqueue.svg").read_bytes())


@cache
def _svg_source(name: str) -> str:
    return resource_path(name).read_text(encoding="utf-8")


@lru_cache(maxsize=512)
def _tinted_icon(name: str, color_name: str) -> QIcon:
    return _icon_from_svg(_svg_source(name).replace("currentColor", color_name).encode())


def _icon_from_svg(svg: bytes) -> QIcon:
    renderer = QSvgRenderer(QByteArray(svg))
    if not renderer.isValid():
        raise ValueError("labqueue icon is not valid SVG")
    icon = QIcon()
    for size in _ICON_SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        icon.addPixmap(pixmap)
    return icon
