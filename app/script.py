"""Running a user's script the way ``python FILE`` does, with clear errors.

``load_script`` reads and compiles the file (every problem a :class:`ScriptError`
with one clear message), so a script that cannot run is refused before anything
else is opened; ``script_environment`` gives it the ``sys.path``, ``sys.argv`` and
``__main__`` module that ``python FILE`` would; ``run_script`` runs it; and
``script_traceback`` shows an error in it with the script's own frames only.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["Script", "ScriptError", "load_script", "run_script", "script_environment", "script_traceback"]


class ScriptError(Exception):
    """The script cannot be run; the message says why, ready for the terminal."""


class Script:
    """A compiled script: ``path`` as given on the command line, ``file`` its absolute
    path (``__file__``, the name in its tracebacks) and ``code`` its code object."""

    def __init__(self, path: Path, file: Path, code: types.CodeType) -> None:
        self.path = path
        self.file = file
        self.code = code


def load_script(path: Path) -> Script:
    """Read and compile ``path``. Raises :class:`ScriptError` when it is missing, a
    folder, unreadable or does not compile (then the message shows the file, line,
    source line and caret as Python does)."""
    file = Path(path).absolute()
    if not file.exists():
        raise ScriptError(f"cannot run {path}: no such file")
    if file.is_dir():
        raise ScriptError(f"cannot run {path}: it is a folder, not a Python file")
    try:
        source = file.read_bytes()
    except OSError as exc:
        raise ScriptError(f"cannot run {path}: {exc.strerror or exc}") from exc
    try:
        # Bytes, not text: compile() honours the file's coding declaration as python does.
        code = compile(source, str(file), "exec", dont_inherit=True)
    except SyntaxError as exc:  # also a file that is not valid in its encoding
        shown = "".join(traceback.format_exception_only(exc)).rstrip()
        raise ScriptError(f"cannot run {path}: it does not compile\n{shown}") from None
    except ValueError as exc:  # null bytes (Python 3.11 raises ValueError for those)
        raise ScriptError(f"cannot run {path}: it is not a Python source file ({exc})") from None
    return Script(Path(path), file, code)


@contextlib.contextmanager
def script_environment(script: Script, args: Sequence[str]) -> Iterator[types.ModuleType]:
    """While inside: ``sys.argv`` is ``[path as given, *args]``, the script's folder
    (symlinks resolved, as python does) is first on ``sys.path``, and a fresh
    ``__main__`` module is in ``sys.modules``. Yields that module; everything is put
    back on exit."""
    module = types.ModuleType("__main__")
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    saved_main = sys.modules.get("__main__")
    sys.argv[:] = [str(script.path), *args]
    sys.path.insert(0, str(script.file.resolve().parent))
    sys.modules["__main__"] = module
    try:
        yield module
    finally:
        sys.argv[:] = saved_argv
        sys.path[:] = saved_path
        if saved_main is not None:
            sys.modules["__main__"] = saved_main
        else:
            del sys.modules["__main__"]


def run_script(script: Script, module: types.ModuleType, names: dict) -> None:
    """Run the script in ``module`` (from :func:`script_environment`) with ``names``
    defined, as ``__main__`` with ``__file__`` set. Its exceptions propagate."""
    namespace = module.__dict__
    namespace.update(names)
    namespace.update(__name__="__main__", __file__=str(script.file))
    exec(script.code, namespace)


def script_traceback(exc: BaseException, script: Script) -> str:
    """The traceback of ``exc`` from the first frame in the script on: labqueue's own
    frames, which only called the script, are left out, as python shows only the user's."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != str(script.file):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__)).rstrip()
