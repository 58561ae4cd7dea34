"""labqueue installs as one package: the wheel holds ``labqueue`` and nothing else, and a
scientist's own ``core.py``, ``ui.py`` or ``app.py`` beside a script shadows nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

import labqueue

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("labqueue", "app", "core", "ui", "resources")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources with the project's own build backend."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCE_FOLDERS:
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    out = work / "dist"
    build = f"from setuptools import build_meta; print(build_meta.build_wheel({str(out)!r}))"
    done = subprocess.run([sys.executable, "-c", build], cwd=source, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture
def shadowing_folder(tmp_path) -> Path:
    """A scientist's folder with modules named like labqueue's parts used to be."""
    folder = tmp_path / "my_measurements"
    folder.mkdir()
    for name in ("core", "ui", "app", "resources"):
        (folder / f"{name}.py").write_text(f"raise RuntimeError('the scientist\\'s own {name}.py was imported')\n")
    return folder


def test_the_wheel_holds_labqueue_and_nothing_else(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"labqueue"}
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert "labqueue = labqueue.app.main:main" in archive.read(entry_points).decode()


def test_the_wheel_holds_every_source_file_and_resource(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = set()
    for folder in SOURCE_FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".svg", ".desktop"} and "__pycache__" not in path.parts:
                inside = path.relative_to(ROOT / folder).as_posix()
                expected.add(f"labqueue/{inside}" if folder == "labqueue" else f"labqueue/{folder}/{inside}")
    assert expected - names == set()


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {f: ("labqueue" if f == "labqueue" else f"labqueue.{f}") for f in SOURCE_FOLDERS}
    found = set()
    for folder, package in folders.items():
        assert config["package-dir"][package] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            inside = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join([package, *inside]))
    assert found == listed


def _run_in(folder: Path, code: str, *, path_first: Path | None = None) -> subprocess.CompletedProcess:
    """``python -c code`` started in ``folder`` (first on sys.path, as a script's folder is)."""
    prelude = f"import sys; sys.path.insert(1, {str(path_first)!r})\n" if path_first else ""
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


SMOKE = """
    import sys
    import labqueue
    from labqueue import Manager
    import labqueue.app.main, labqueue.core.journal, labqueue.core.notify, labqueue.ui
    manager = Manager()
    print(manager.queued_exec(lambda x: x * 2)(21).result(timeout=30))
    manager.shutdown()
    print(sorted(m for m in ("core", "ui", "app", "resources") if m in sys.modules))
    print(labqueue.__file__)
"""


def test_the_installed_wheel_is_not_shadowed_by_a_scientists_modules(wheel, shadowing_folder, tmp_path):
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:  # a pure-Python wheel installs by unpacking
        archive.extractall(target)
    done = _run_in(shadowing_folder, SMOKE, path_first=target)
    assert done.returncode == 0, done.stderr
    answer, shadowed, where = done.stdout.split("\n")[:3]
    assert (answer, shadowed) == ("42", "[]")
    assert Path(where).is_relative_to(target)


def test_the_editable_install_is_not_shadowed_by_a_scientists_modules(shadowing_folder):
    done = _run_in(shadowing_folder, SMOKE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["42", "[]"]


def test_version_and_python_dash_m(shadowing_folder):
    for command in (["-m", "labqueue", "--version"], ["-m", "labqueue.app.main", "--version"]):
        done = subprocess.run([sys.executable, *command], cwd=shadowing_folder, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"labqueue {labqueue.__version__}"
    assert labqueue.__version__[0].isdigit()
