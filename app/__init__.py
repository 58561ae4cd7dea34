"""The labqueue program: command line, startup and wiring of core to the window."""

import labqueue.ui  # noqa: F401 (first, before any PySide6 import: see labqueue.ui)
