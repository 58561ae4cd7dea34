"""core/ is the Qt-free engine: importing all of it in a fresh interpreter loads no Qt."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[2]
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy", "pyqtgraph", "qtconsole")


def test_core_imports_no_qt_in_a_fresh_interpreter():
    modules = [f"core.{m.name}" for m in pkgutil.iter_modules(core.__path__)]
    assert len(modules) >= 5
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_core_sources_never_import_ui_or_app():
    for path in (ROOT / "core").rglob("*.py"):
        text = path.read_text()
        for forbidden in ("import ui", "from ui", "import app", "from app"):
            assert forbidden not in text, f"{path.name} contains {forbidden!r}"
