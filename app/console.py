"""The window's console, wired to the program's manager."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget

from labqueue.core import Manager
from labqueue.ui.console import LabConsole

from .headless import console_namespace


def create_console(
    manager: Manager,
    data_dir: str | Path | None = None,
    startup_file: str | Path | None = None,
    parent: QWidget | None = None,
    *,
    start: bool = True,
) -> LabConsole:
    """An IPython console on ``manager``, ready to dock into the window.

    Its namespace holds ``manager``, the public core names and ``wait``. Create it
    after the window is first shown: importing and starting the kernel takes about
    a second (the program loads it in steps, see ``console_loader``). ``data_dir`` is
    the ``--data-dir`` value as given (None: the environment variable or the
    platform's folders), as for ``start_services``: the history goes to the data
    directory, ``startup.py`` is looked for in the config directory.
    ``startup_file`` replaces that ``startup.py``; an error in it is shown in the
    console, not raised. Raises RuntimeError if a console is still open in this
    process. With ``start=False`` the kernel is not started yet: run
    ``console.start_steps()`` (see :class:`~labqueue.app.console_loader.ConsoleLoader`).
    """
    namespace = console_namespace(manager)
    return LabConsole(namespace, data_dir=data_dir, startup_file=startup_file, parent=parent, start=start)
