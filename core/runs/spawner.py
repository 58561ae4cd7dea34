"""Starting runs in process groups of their own, stopping them, and waiting for them.

Runs are started from labqueue itself (Python's vfork: cheap even from a big process)
and written into the table of the run watchdog (``watchdog.py``), which kills them if labqueue dies.
"""

from __future__ import annotations

import array
import itertools
import logging
import mmap
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

    def __init__(self, popen: subprocess.Popen, supervisor: RunSupervisor, ticket: int) -> None:
        self._popen = popen
        self._supervisor = supervisor
        self._ticket = ticket  # its entry among the supervisor's live runs
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
            # Out of the watchdog's table before it is reaped: until then no other
            # process can get its pid, so the table never names somebody else's group.
            self._supervisor._forget(self._ticket)
            self.returncode = self._popen.wait()
            os.close(self._pidfd)
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


def _environment() -> dict[bytes, bytes]:
    """labqueue's environment as it is now (the console may have set a variable), as bytes.

    Copied from the bytes dict behind ``os.environ`` when CPython has it there (one C
    call): copying ``os.environ`` itself decodes each entry in Python, and Popen then
    encodes it again, a tenth of a trivial command's cost.
    """
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environb)


class RunSupervisor:
    """Starts runs and keeps the watchdog that outlives none of them; thread-safe.

    The live runs' groups are in a table shared with the watchdog (see ``watchdog.py``):
    a slot each, written when a run starts and cleared when it is reaped.
    :meth:`close` kills what still runs and ends the watchdog.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchdog: subprocess.Popen | None = None
        self._table: _GroupTable | None = None
        self._tickets = itertools.count()
        # ticket -> (the run's group, its slot in the table, or None if it has none)
        self._live: dict[int, tuple[int, int | None]] = {}

    def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path,
        extra_env: Mapping[str, str] | None = None,
        stdout: str | Path,
        stderr: str | Path,
        pass_fd: int | None = None,
        fd_env: str | None = None,
    ) -> RunProcess:
        """Start ``argv`` in a session of its own in ``cwd``, with labqueue's environment
        plus ``extra_env``, output to the files ``stdout`` and ``stderr`` (created or
        truncated). The run inherits ``pass_fd``, named in its environment variable ``fd_env``.

        Raises :class:`SpawnError` when it cannot start.
        """
        if pass_fd is not None and fd_env is not None:
            extra_env = {**(extra_env or {}), fd_env: str(pass_fd)}
        env = _environment()
        for name, value in (extra_env or {}).items():
            env[os.fsencode(name)] = os.fsencode(value)
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
        return RunProcess(popen, self, self._track(popen.pid))

    def close(self) -> None:
        """Kill every run still going (with its group) and end the watchdog."""
        with self._lock:
            live, self._live = [group for group, _ in self._live.values()], {}
            watchdog, self._watchdog = self._watchdog, None
            table, self._table = self._table, None
        for group in live:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if table is not None:
            table.clear()  # before the watchdog reads it: these groups are dealt with
        if watchdog is not None:
            watchdog.stdin.close()
            watchdog.wait()
        if table is not None:
            table.close()

    def _track(self, group: int) -> int:
        """Note the started run's ``group`` (in the watchdog's table too); returns its ticket. Never raises."""
        with self._lock:
            ticket = next(self._tickets)
            self._live[ticket] = (group, self._protect(group))
            return ticket

    def _protect(self, group: int) -> int | None:
        """Under the lock: ``group``'s slot in the watchdog's table, the watchdog started
        (again) if it is not running; None, and an error logged, when that fails: the run
        goes on, as it would without a watchdog."""
        try:
            if self._table is None:
                self._table = _GroupTable()
            self._keep_watchdog()
            return self._table.add(group)
        except OSError as exc:
            logger.error("Cannot tell the run watchdog about a run (%s); it may outlive labqueue if it is killed.", exc)
            return None

    def _forget(self, ticket: int) -> None:
        with self._lock:
            _, slot = self._live.pop(ticket, (None, None))
            if slot is not None and self._table is not None:
                self._table.remove(slot)
            if self._live and self._table is not None:
                self._keep_watchdog()  # a dead one is noticed at each start and end, as it used to be

    def _keep_watchdog(self) -> None:
        """Under the lock: start a watchdog on the table if none runs."""
        if self._watchdog is not None and self._watchdog.poll() is None:
            return
        if self._watchdog is not None:
            logger.error("The run watchdog died; starting another.")
        self._watchdog = self._start_watchdog(self._table)

    @staticmethod
    def _start_watchdog(table: _GroupTable) -> subprocess.Popen | None:
        try:
            return subprocess.Popen(
                [sys.executable, "-I", os.fspath(WATCHDOG_SCRIPT), str(table.fd)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                pass_fds=(table.fd,),
            )
        except OSError as exc:
            logger.error("Cannot start the run watchdog (%s); runs may outlive labqueue if it is killed.", exc)
            return None


class _GroupTable:
    """The live runs' process groups, in a memory file mapped here and read by the
    watchdog: one native int a slot, 0 when free. Grows by doubling; used under the
    supervisor's lock."""

    SLOTS = 1024

    def __init__(self) -> None:
        self.fd = os.memfd_create("labqueue-runs", os.MFD_CLOEXEC)
        try:
            self._memory, self._slots = self._mapped(self.SLOTS)
        except OSError:
            os.close(self.fd)
            raise
        self._free: list[int] = []
        self._used = 0

    def _mapped(self, slots: int) -> tuple[mmap.mmap, memoryview]:
        """The file grown to ``slots`` slots (keeping those it has), and mapped."""
        os.ftruncate(self.fd, slots * _SLOT.itemsize)
        memory = mmap.mmap(self.fd, slots * _SLOT.itemsize)
        return memory, memoryview(memory).cast(_SLOT.typecode)

    def add(self, group: int) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            if self._used == len(self._slots):
                grown = self._mapped(2 * len(self._slots))  # an OSError leaves the table as it was
                self._slots.release()
                self._memory.close()
                self._memory, self._slots = grown
            slot, self._used = self._used, self._used + 1
        self._slots[slot] = group
        return slot

    def remove(self, slot: int) -> None:
        self._slots[slot] = 0
        self._free.append(slot)

    def clear(self) -> None:
        for slot in range(self._used):
            self._slots[slot] = 0

    def close(self) -> None:
        self._slots.release()
        self._memory.close()
        os.close(self.fd)


_SLOT = array.array("i")
