"""labqueue's side of the run supervisor (``supervisor.py``): start runs, signal them, wait for them."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["RunProcess", "RunSupervisor", "SpawnError"]

logger = logging.getLogger("labqueue")

SUPERVISOR_SCRIPT = Path(__file__).with_name("supervisor.py")
_MAX_EVENT = 1 << 16


class SpawnError(OSError):
    """A run could not start: its command is missing or not executable, its folder is
    missing, or the supervisor is gone. ``errno`` and ``filename`` as the OSError had them."""


class RunProcess:
    """One run started by the supervisor: its pid, and its exit status once it ended."""

    def __init__(self, supervisor: RunSupervisor, run_id: int) -> None:
        self._supervisor = supervisor
        self.run_id = run_id
        self.pid: int | None = None
        self.returncode: int | None = None
        self.error: SpawnError | None = None
        self._started = threading.Event()
        self._ended = threading.Event()

    def wait_started(self) -> None:
        """Wait until the run has started; raises :class:`SpawnError` if it could not."""
        self._started.wait()
        if self.error is not None:
            raise self.error

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status (negative: killed by that signal), or None if ``timeout`` passed first.

        Raises :class:`SpawnError` when the run never started or the supervisor died.
        """
        if not self._ended.wait(timeout):
            return None
        if self.error is not None:
            raise self.error
        return self.returncode

    def terminate(self, grace: float) -> None:
        """SIGTERM to the run's whole process group, SIGKILL after ``grace`` seconds
        if the run is still there. Returns at once; harmless once the run has ended."""
        self._supervisor.signal(self.run_id, signal.SIGTERM, grace)

    def kill(self) -> None:
        """SIGKILL to the run's whole process group."""
        self._supervisor.signal(self.run_id, signal.SIGKILL, None)

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    # -- called by the supervisor's reader ---------------------------------------------

    def _set_started(self, pid: int) -> None:
        self.pid = pid
        self._started.set()

    def _set_failed(self, error: SpawnError) -> None:
        self.error = error
        self._started.set()
        self._ended.set()

    def _set_exited(self, returncode: int) -> None:
        self.returncode = returncode
        self._ended.set()


class RunSupervisor:
    """Starts the supervising process on first use and keeps it; thread-safe.

    :meth:`close` ends it, which kills every run it still has (so does the death of
    this process, by any means).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen | None = None
        self._runs: dict[int, RunProcess] = {}
        self._ids = itertools.count(1)

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
        """Start ``argv`` in its own session in ``cwd``, output to the files ``stdout``
        and ``stderr`` (created or truncated). The run inherits ``pass_fd``, under the
        number given in its environment variable ``fd_env``.

        Returns at once; :meth:`RunProcess.wait_started` raises :class:`SpawnError` if
        the run could not start. Raises SpawnError itself when the supervisor cannot be
        started or reached.
        """
        request = {
            "op": "spawn",
            "argv": [os.fspath(a) for a in argv],
            "cwd": os.fspath(cwd),
            "env": dict(env),
            "stdout": os.fspath(stdout),
            "stderr": os.fspath(stderr),
            "fd_env": fd_env,
        }
        with self._lock:
            sock = self._ensure_started()
            run = RunProcess(self, next(self._ids))
            request["id"] = run.run_id
            self._runs[run.run_id] = run
            try:
                socket.send_fds(sock, [json.dumps(request).encode()], [pass_fd] if pass_fd is not None else [])
            except OSError as exc:
                del self._runs[run.run_id]
                raise SpawnError(exc.errno, f"the run supervisor cannot be reached: {exc.strerror or exc}") from exc
        return run

    def signal(self, run_id: int, signum: int, kill_after: float | None) -> None:
        with self._lock:
            if self._sock is None or run_id not in self._runs:
                return
            message = {"op": "signal", "id": run_id, "signal": int(signum), "kill_after": kill_after}
            try:
                self._sock.send(json.dumps(message).encode())
            except OSError:
                pass  # the supervisor is gone, and its runs with it

    def close(self) -> None:
        """End the supervisor; every run still going is killed with its group."""
        with self._lock:
            sock, process = self._sock, self._process
            self._sock = self._process = None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)  # wakes the reader, and the supervisor sees end-of-file
            sock.close()
        if process is not None:
            process.wait()

    # -- inside ------------------------------------------------------------------------

    def _ensure_started(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = subprocess.Popen(
                [sys.executable, "-I", os.fspath(SUPERVISOR_SCRIPT), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except OSError as exc:
            ours.close()
            raise SpawnError(exc.errno, f"cannot start the run supervisor: {exc.strerror or exc}") from exc
        finally:
            theirs.close()
        self._sock, self._process = ours, process
        threading.Thread(target=self._read_events, args=(ours,), name="labqueue-run-events", daemon=True).start()
        return ours

    def _read_events(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(_MAX_EVENT)
            except OSError:
                data = b""
            if not data:
                break
            event = json.loads(data)
            with self._lock:
                run = self._runs.get(event["id"])
                if event["event"] != "started":
                    self._runs.pop(event["id"], None)
            if run is None:
                continue
            if event["event"] == "started":
                run._set_started(event["pid"])
            elif event["event"] == "exited":
                run._set_exited(event["returncode"])
            else:
                run._set_failed(SpawnError(event["errno"], event["error"], event["filename"]))
        self._lose_runs(sock)

    def _lose_runs(self, sock: socket.socket) -> None:
        """The supervisor is gone (closed, or it died): its runs died with it."""
        with self._lock:
            lost = list(self._runs.values())
            self._runs.clear()
            if self._sock is sock:  # it died: the next spawn starts a new one
                self._sock = None
                sock.close()
                process, self._process = self._process, None
                if process is not None:
                    process.wait()
                logger.error("The run supervisor died; its %d run(s) were killed with it.", len(lost))
        for run in lost:
            run._set_failed(SpawnError(None, "the run supervisor ended while the run was going"))
