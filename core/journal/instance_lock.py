"""InstanceLock: one labqueue program per data directory.

The lock is an operating-system lock on ``DIR/labqueue.lock`` (``flock`` on POSIX,
``msvcrt.locking`` on Windows), so it dies with its process: a lock left by a killed
program is free and simply taken over. The file also names the holder (process id,
host, command, start time) so that a refused program can say who is in the way.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

__all__ = ["LOCK_FILE", "DataDirectoryInUse", "InstanceLock"]

logger = logging.getLogger("labqueue")

LOCK_FILE = "labqueue.lock"

if sys.platform == "win32":
    import msvcrt

    # Windows forbids reading locked bytes, so the lock covers one byte far past the
    # holder's description, which stays readable.
    _LOCK_OFFSET = 1 << 20

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class DataDirectoryInUse(RuntimeError):
    """Another labqueue program holds the data directory; the message names it."""


class InstanceLock:
    """The lock on a data directory, held from :meth:`acquire` to :meth:`release`.

    Two locks on one directory conflict even within one process.
    """

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise.

        Raises:
            DataDirectoryInUse: another program (or manager) holds it; the message
                gives its process id, host, command and start time.
            OSError: the lock file cannot be created (missing or read-only directory).
        """
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirectoryInUse(
                f"The data directory {self.path.parent} is in use by another labqueue "
                f"({holder or 'a process that is still starting'}). "
                "Close that program, or start this one with another --data-dir."
            )
        previous = _read_holder(fd)
        if previous is not None:
            # A clean release empties the file: a description left here is a program that died.
            logger.warning(
                "Taking over the lock of %s, left by %s, which is no longer running.", self.path.parent, previous
            )
        try:
            _write_holder(fd)
        except OSError:
            _unlock(fd)
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (emptying the file first). Releasing twice is harmless."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            _unlock(fd)
            os.close(fd)


def _write_holder(fd: int) -> None:
    description = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv) or sys.executable,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    data = json.dumps(description).encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)


def _read_holder(fd: int) -> str | None:
    """'process 1234 on host (command), since time', or None if the file names nobody."""
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        raw = os.read(fd, 64 * 1024)
    except OSError:
        return None
    if not raw.strip():
        return None
    try:
        info = json.loads(raw)
        return f"process {info['pid']} on {info['host']} ({info['command']}), since {info['started']}"
    except (ValueError, KeyError, TypeError):
        return f"unreadable lock description {raw[:80]!r}"
