"""Helpers of the run tests: the child command, named pipes to hear from it, waiting for pids."""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path

CHILD = Path(__file__).with_name("child.py")


def child(*options: str) -> list[str]:
    """The command line of the test child with these options."""
    return [sys.executable, str(CHILD), *options]


class Pipe:
    """A named pipe a child writes ``--tell`` lines to; read them with a timeout."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        # Read and write: opening never blocks, and the pipe never reads as ended
        # between two children.
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        self._buffer = b""

    def line(self, timeout: float = 30) -> str:
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                raise TimeoutError(f"nothing on {self.path} within {timeout} s")
            self._buffer += os.read(self._fd, 4096)
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def pids(self, timeout: float = 30) -> tuple[int, int]:
        """(the child's pid, its grandchild's or 0) from its next line."""
        pid, grandchild = self.line(timeout).split()
        return int(pid), int(grandchild)

    def close(self) -> None:
        os.close(self._fd)


def wait_gone(pid: int, timeout: float) -> bool:
    """True once process ``pid`` (not necessarily our child) has exited, False past ``timeout``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)
