"""Isolated calls: a Python call run in a fresh process, so that abort can kill it.

The call goes to the process (``isolated_child.py``) with cloudpickle; its
``set_progress``, ``publish`` and log records come back while it runs, relayed to
the manager as if the call ran on the worker; its result or exception comes back at
the end. Frames are a 4-byte length and a cloudpickle, over a stream socket.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

import cloudpickle

from ..engine import Aborted, Experiment
from .command import RunControl
from .run_files import STDERR_FILE, STDOUT_FILE, tail_lines
from .spawner import RunSupervisor, SpawnError

__all__ = ["IsolatedCallFailed", "IsolatedRun", "Relay"]

CHILD_SCRIPT = Path(__file__).with_name("isolated_child.py")
#: Names the child's end of the channel in its environment.
CHANNEL_ENV = "LABQUEUE_CHANNEL_FD"
_HEADER = struct.Struct(">I")
#: Lines of the process's stderr quoted when it dies without an outcome.
STDERR_LINES_IN_ERROR = 10


class IsolatedCallFailed(RuntimeError):
    """An isolated call could not be sent, its process died without an outcome, or its
    exception could not be sent back (the message then carries its traceback)."""


class Relay(Protocol):
    """Where an isolated call's live reports go (the manager)."""

    def relay_progress(self, experiment: Experiment, fraction: float | None, message: str) -> None: ...

    def relay_data(
        self, experiment: Experiment, series: str, x: Any, y: Any, x_label=None, y_label=None, units=None
    ) -> None: ...

    def relay_log(self, experiment: Experiment, record: logging.LogRecord) -> None: ...


class IsolatedRun:
    """One isolated call of ``experiment``; its output files go to ``folder``."""

    def __init__(self, experiment: Experiment, folder: Path, relay: Relay) -> None:
        self.experiment = experiment
        self.folder = folder
        self._relay = relay
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()

    @property
    def stdout_path(self) -> Path:
        return self.folder / STDOUT_FILE

    @property
    def stderr_path(self) -> Path:
        return self.folder / STDERR_FILE

    def run(self, supervisor: RunSupervisor, control: RunControl, paused: bool) -> Any:
        """Run the call to its end in the calling thread and return its result.

        Raises the call's own exception when it raised, :class:`Aborted` when
        ``control`` was aborted, and :class:`IsolatedCallFailed` when the call cannot
        be pickled, its process cannot start or dies without an outcome.
        """
        exp = self.experiment
        try:
            payload = cloudpickle.dumps((exp.func, exp.args, exp.kwargs))
        except Exception as exc:
            raise IsolatedCallFailed(
                f"{exp.title} cannot be sent to a process of its own: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IsolatedCallFailed(f"cannot create {self.folder} for {exp.title}: {exc.strerror}") from exc
        if control.aborted:
            raise Aborted(f"{exp.title} was aborted before it started")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = supervisor.spawn(
                [sys.executable, os.fspath(CHILD_SCRIPT)],
                cwd=os.getcwd(),
                stdout=self.stdout_path,
                stderr=self.stderr_path,
                pass_fd=theirs.fileno(),
                fd_env=CHANNEL_ENV,
            )
        except SpawnError as exc:
            ours.close()
            raise IsolatedCallFailed(f"{exp.title}: cannot start its process: {exc.strerror}") from exc
        finally:
            theirs.close()  # the child has its own copy, so its death ends our reads
        self._sock = ours
        try:
            control.attach(process)
            self._send((list(sys.path), _configured_levels(), paused, payload))
            outcome = self._follow()
            returncode = process.wait()
        finally:
            control.detach()
            self._sock = None
            ours.close()
        return self._result(outcome, returncode, control)

    def set_paused(self, paused: bool) -> None:
        """Tell the call's ``checkpoint()`` to wait (or go on); harmless once it ended."""
        try:
            self._send(("pause" if paused else "resume",))
        except OSError:
            pass

    def _send(self, message: tuple) -> None:
        sock = self._sock
        if sock is None:
            return
        data = cloudpickle.dumps(message)
        with self._send_lock:
            sock.sendall(_HEADER.pack(len(data)) + data)

    def _follow(self) -> tuple | None:
        """Relay the live frames; returns the last (result or error) frame, or None if the process died first."""
        exp, relay = self.experiment, self._relay
        reader = self._sock.makefile("rb")
        try:
            while True:
                try:
                    header = reader.read(_HEADER.size)
                    (size,) = _HEADER.unpack(header) if len(header) == _HEADER.size else (None,)
                    data = reader.read(size) if size is not None else b""
                except OSError:  # reset: the process died
                    return None
                if size is None or len(data) < size:
                    return None
                try:
                    message = cloudpickle.loads(data)
                except Exception as exc:
                    message = (
                        "error",
                        None,
                        f"the outcome could not be loaded here: {type(exc).__name__}: {exc}",
                        False,
                    )
                kind = message[0]
                if kind == "progress":
                    relay.relay_progress(exp, message[1], message[2])
                elif kind == "publish":
                    relay.relay_data(exp, *message[1:])
                elif kind == "log":
                    _, created, levelno, name, text = message
                    relay.relay_log(exp, _record(created, levelno, name, text))
                else:
                    return message
        finally:
            reader.close()

    def _result(self, outcome: tuple | None, returncode: int, control: RunControl) -> Any:
        exp = self.experiment
        if outcome is not None and outcome[0] == "result" and not control.aborted:
            return outcome[1]
        if control.aborted or (outcome is not None and outcome[3]):
            raise Aborted(f"{exp.title} was aborted")
        if outcome is None:
            how = f"was killed by signal {-returncode}" if returncode < 0 else f"exited with status {returncode}"
            stderr_tail = tail_lines(self.stderr_path, STDERR_LINES_IN_ERROR)
            detail = (":\n" + "\n".join(stderr_tail)) if stderr_tail else ""
            raise IsolatedCallFailed(f"the process of {exp.title} {how} before it returned{detail}")
        _, exception, traceback_text, _ = outcome
        exp.traceback = traceback_text
        if isinstance(exception, BaseException):
            raise exception
        raise IsolatedCallFailed(traceback_text)


def _configured_levels() -> dict[str, int]:
    """The levels set on this process's loggers, so the call logs what it would log here."""
    levels = {"": logging.getLogger().level}
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels[name] = logger.level
    return levels


def _record(created: float, levelno: int, name: str, message: str) -> logging.LogRecord:
    return logging.makeLogRecord(
        {
            "created": created,
            "msecs": int((created - int(created)) * 1000) + 0.0,
            "levelno": levelno,
            "levelname": logging.getLevelName(levelno),
            "name": name,
            "msg": message,
        }
    )
