"""The layers hold: core/ imports no Qt and nothing of ui/ or app/, and no module outside
one of core's subpackages reaches into that subpackage's private modules."""

import ast
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import labqueue.core

ROOT = Path(__file__).resolve().parents[2]
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy", "pyqtgraph", "qtconsole")
#: The repository folders and the package each maps to.
FOLDERS = {"labqueue": "labqueue", "app": "labqueue.app", "core": "labqueue.core", "ui": "labqueue.ui",
           "resources": "labqueue.resources"}  # fmt: skip
SUBPACKAGES = sorted(p.parent.name for p in (ROOT / "core").glob("*/__init__.py"))


def _module_name(path: Path) -> str:
    """The dotted name a source file of ours is imported under (tests and bench by path)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = FOLDERS.get(parts[0])
    dotted = [package, *parts[1:]] if package else list(parts)
    return ".".join(dotted[:-1] if dotted[-1] == "__init__" else dotted)


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, ``from X import module`` included."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _our_sources():
    for folder in (*FOLDERS, "tests", "bench"):
        yield from (p for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)


def test_core_imports_no_qt_in_a_fresh_interpreter():
    modules = [m.name for m in pkgutil.walk_packages(labqueue.core.__path__, "labqueue.core.")]
    assert len(modules) >= 20
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_core_sources_never_import_ui_or_app():
    for path in (ROOT / "core").rglob("*.py"):
        bad = {m for m in _imported_modules(path) if m.startswith(("labqueue.ui", "labqueue.app"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_core_subpackages_are_the_expected_parts():
    assert {"engine", "journal", "notify", "config"} <= set(SUBPACKAGES)


def test_nothing_outside_a_subpackage_reaches_into_its_private_modules():
    """A subpackage's own modules and its own tests (tests/core/<part>/) may; nobody else."""
    offences = []
    for path in _our_sources():
        where = path.relative_to(ROOT).parts
        for module in _imported_modules(path):
            parts = module.split(".")
            if parts[:2] != ["labqueue", "core"] or len(parts) < 4 or parts[2] not in SUBPACKAGES:
                continue
            part = parts[2]
            if not (ROOT / "core" / part / f"{parts[3]}.py").is_file():
                continue  # a public name of the subpackage, not one of its modules
            inside = where[:2] == ("core", part) or where[:3] == ("tests", "core", part)
            if not inside:
                offences.append(f"{'/'.join(where)} imports {module}")
    assert not offences, "\n".join(offences)


def test_every_public_name_of_a_subpackage_exists():
    for part in SUBPACKAGES:
        module = __import__(f"labqueue.core.{part}", fromlist=["__all__"])
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"labqueue.core.{part} lists {missing} but has no such names"
        assert module.__doc__, f"labqueue.core.{part} says nothing of what it is"


OLD_IMPORT = re.compile(r"""(?:^|["'\s])(?:from|import) (?:core|ui|app|resources)(?:[\s.]|$)""", re.M)


def test_no_source_test_benchmark_or_readme_imports_the_old_top_level_names():
    """Also inside strings: code that tests run in child processes."""
    paths = [*_our_sources(), ROOT / "README.md"]
    stale = [str(p.relative_to(ROOT)) for p in paths if p != Path(__file__) and OLD_IMPORT.search(p.read_text())]
    assert not stale, f"still importing core/ui/app/resources by their old names: {stale}"
