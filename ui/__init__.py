"""labqueue's window: Qt widgets and item models over the engine in ``core`` (never the reverse)."""

import os
import sys

# PySide6 makes most of its Qt classes on first use, which is not safe while another
# thread imports Qt code (pyqtgraph, qtconsole, see background_work): made all at
# import instead (0.1 s more), when PySide6 is imported after this.
QT_TYPES_EAGER = "PySide6" not in sys.modules or os.environ.get("PYSIDE6_OPTION_LAZY") == "0"
os.environ.setdefault("PYSIDE6_OPTION_LAZY", "0")
