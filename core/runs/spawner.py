"""Starting runs in process groups of their own, stopping them, and waiting for them.

Runs are started from labqueue itself (Python's vfork: cheap even from a big process)
and reported to the run watchdog (``watchdog.py``), which kills them if labqueue dies.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["RunProcess", "RunSupervisor", "SpawnError"]

logger = logging.getLogger("labqueue")

WATCHDOG_SCRIPT = Path(__file__).with_name("watchdog.py")


class SpawnError(OSError):
    """A run could not start: its command is missing or not executable, or its folder
    cannot be used. ``errno`` and ``filename`` as the OSError had them."""


class RunProcess:
    """One run: the leader of its own process group."""

    def __init__(self, popen: subprocess.Popen, supervisor: RunSupervisor) -> None:
        self._popen = popen
        self._supervisor = supervisor
        self.pid = popen.pid
        self.returncode: int | None = None
        # Held while the group may be signalled: the leader is reaped only under it, and
        # until it is reaped its group id cannot be reused by another process.
        self._lock = threading.Lock()
        self._pidfd = os.pidfd_open(popen.pid)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status (negative: killed by that signal), or None if ``timeout``
        passed first. When the leader has exited, what is left of its group is killed
        (a grandchild that ignored SIGTERM, a forgotten background job) before it is
        reaped. Only one thread may wait."""
        if self.returncode is not None:
            return self.returncode
        ready, _, _ = select.select([self._pidfd], [], [], timeout)
        if not ready:
            return None
        with self._lock:
            self._signal_group(signal.SIGKILL)
            self.returncode = self._popen.wait()
            os.close(self._pidfd)
        self._supervisor._forget(self.pid)
        return self.returncode

    def terminate(self, grace: float) -> None:
        """SIGTERM to the run's whole process group, SIGKILL after ``grace`` seconds if
        the run is still there. Returns at once; harmless once the run has ended."""
        with self._lock:
            if self.returncode is not None:
                return
            self._signal_group(signal.SIGTERM)
        killer = threading.Timer(grace, self.kill)
        killer.daemon = True
        killer.start()

    def kill(self) -> None:
        """SIGKILL to the run's whole process group (if it has not been reaped)."""
        with self._lock:
            if self.returncode is None:
                self._signal_group(signal.SIGKILL)

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:  # every member has exited already
            pass


class RunSupervisor:
    """Starts runs and keeps the watchdog that outlives none of them; thread-safe.

    :meth:`close` kills what still runs and ends the watchdog.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchdog: subprocess.Popen | None = None
        self._live: set[int] = set()

    def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path,
        env: Mapping[str, str],
        stdout: str | Path,
        stderr: str | Path,
        pass_fd: int | None = None,
        fd_env: str | None = None,
    ) -> RunProcess:
        """Start ``argv`` in a session of its own in ``cwd``, output to the files
        ``stdout`` and ``stderr`` (created or truncated). The run inherits ``pass_fd``,
        named in its environment variable ``fd_env``.

        Raises :class:`SpawnError` when it cannot start.
        """
        if pass_fd is not None and fd_env is not None:
            env = {**env, fd_env: str(pass_fd)}
        try:
            with open(stdout, "wb") as out, open(stderr, "wb") as err:
                popen = subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    pass_fds=(pass_fd,) if pass_fd is not None else (),
                )
        except OSError as exc:
            raise SpawnError(exc.errno, exc.strerror or str(exc), exc.filename) from exc
        except (ValueError, TypeError) as exc:  # a NUL in an argument, say
            raise SpawnError(None, f"{type(exc).__name__}: {exc}") from exc
        self._track(popen.pid)
        return RunProcess(popen, self)

    def close(self) -> None:
        """Kill every run still going (with its group) and end the watchdog."""
        with self._lock:
            live, self._live = list(self._live), set()
            watchdog, self._watchdog = self._watchdog, None
        for group in live:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if watchdog is not None:
            watchdog.stdin.close()
            watchdog.wait()

    def _track(self, group: int) -> None:
        with self._lock:
            self._live.add(group)
            self._tell(f"+{group}\n")

    def _forget(self, group: int) -> None:
        with self._lock:
            self._live.discard(group)
            self._tell(f"-{group}\n")

    def _tell(self, line: str) -> None:
        """Write to the watchdog (under the lock), starting a new one if it is gone."""
        for _ in range(2):
            if self._watchdog is None:
                self._watchdog = self._start_watchdog()
                if self._watchdog is None:
                    return
            try:
                self._watchdog.stdin.write(line.encode())
                self._watchdog.stdin.flush()
                return
            except OSError:  # it died: the next one learns every live run
                logger.error("The run watchdog died; starting another.")
                self._watchdog.stdin.close()
                self._watchdog.wait()
                self._watchdog = None
                line = "".join(f"+{group}\n" for group in self._live)

    def _start_watchdog(self) -> subprocess.Popen | None:
        try:
            return subprocess.Popen(
                [sys.executable, "-I", os.fspath(WATCHDOG_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                bufsize=0,
            )
        except OSError as exc:
            logger.error("Cannot start the run watchdog (%s); runs may outlive labqueue if it is killed.", exc)
            return None
