"""Checking the data directory before the program opens its journal there, so that a
wrong ``--data-dir`` gets one line that says what is wrong with it."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

__all__ = ["UnusableDataDir", "check_data_dir"]

_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


class UnusableDataDir(Exception):
    """The data directory cannot be used; the message says why."""


def check_data_dir(directory: Path) -> None:
    """Make ``directory`` if it is missing and check that files can be made in it.

    Raises :class:`UnusableDataDir` when it is a file, cannot be made, or is read-only.
    """
    try:
        exists = directory.exists()
    except OSError as exc:  # a folder on the way that we may not look into
        raise UnusableDataDir(f"cannot use the data directory {directory}: {exc.strerror or exc}") from None
    if exists and not directory.is_dir():
        raise UnusableDataDir(f"the data directory {directory} is not a directory (it is a file)")
    if not exists:
        _make(directory)
    try:
        # Creating a file is the one test that tells the truth: permission bits,
        # ACLs and read-only mounts (which bind root too) all refuse it.
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        if exc.errno in _NOT_WRITABLE:
            raise UnusableDataDir(f"the data directory {directory} is read-only ({exc.strerror})") from None
        raise UnusableDataDir(f"cannot write in the data directory {directory}: {exc.strerror or exc}") from None


def _make(directory: Path) -> None:
    existing = next(parent for parent in directory.absolute().parents if parent.exists())
    if not existing.is_dir():
        raise UnusableDataDir(f"cannot create the data directory {directory}: {existing} is a file, not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = f"{existing} is read-only" if exc.errno in _NOT_WRITABLE else exc.strerror or str(exc)
        raise UnusableDataDir(f"cannot create the data directory {directory}: {reason}") from None
