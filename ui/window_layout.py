"""Saving and restoring the window's geometry, docks and column widths.

They live in ``window.ini`` in the config directory (``labqueue.core.config.config_dir``), a
file of their own so that nothing else there can be disturbed by a window closing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QHeaderView, QMainWindow

__all__ = ["LAYOUT_FILE", "WindowLayout"]

logger = logging.getLogger("labqueue.ui")

LAYOUT_FILE = "window.ini"
#: Bumped when the docks change so much that an old saved state would misplace them.
_STATE_VERSION = 1


class WindowLayout:
    """The saved layout of a main window and its queue table's header."""

    def __init__(self, config_dir: Path) -> None:
        self.path = Path(config_dir) / LAYOUT_FILE
        self._saved_state: QByteArray | None = None

    def save(self, window: QMainWindow, header: QHeaderView) -> None:
        """Write the layout; a failure is logged, never raised (closing must go on)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            logger.warning("Could not save the window layout in %s: %s", self.path.parent, exc)
            return
        settings = QSettings(str(self.path), QSettings.Format.IniFormat)
        settings.setValue("window/geometry", window.saveGeometry())
        settings.setValue("window/state", window.saveState(_STATE_VERSION))
        settings.setValue("queue/header", header.saveState())
        settings.sync()
        if settings.status() != QSettings.Status.NoError:
            logger.warning("Could not save the window layout to %s (%s)", self.path, settings.status().name)

    def restore(self, window: QMainWindow, header: QHeaderView) -> bool:
        """Apply the saved layout, if there is a valid one; True if there was."""
        if not self.path.is_file():
            return False
        settings = QSettings(str(self.path), QSettings.Format.IniFormat)
        geometry = settings.value("window/geometry")
        state = settings.value("window/state")
        header_state = settings.value("queue/header")
        restored = False
        if isinstance(geometry, QByteArray):
            restored = window.restoreGeometry(geometry)
        if isinstance(state, QByteArray) and window.restoreState(state, _STATE_VERSION):
            self._saved_state = state
            restored = True
        if isinstance(header_state, QByteArray):
            header.restoreState(header_state)
        if not restored:
            logger.warning("Ignored the window layout in %s: it is not one labqueue can read", self.path)
        return restored

    def restore_dock(self, window: QMainWindow, dock) -> bool:
        """Put a dock added after :meth:`restore` where the saved layout had it."""
        return self._saved_state is not None and window.restoreDockWidget(dock)
