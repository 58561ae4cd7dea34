"""The process of one isolated call (``Experiment(..., isolate=True)``), started by the process lane.

Usage: ``python isolated_child.py``, with ``LABQUEUE_CHANNEL_FD`` naming a stream
socket to labqueue, in frames
of a 4-byte length and a cloudpickle (see ``isolated.py``). labqueue sends the call
first, then ``("pause",)`` and ``("resume",)`` as the queue is paused and resumed. This
process sends back ``progress``, ``publish`` and ``log`` frames while the call runs,
and one last ``result`` or ``error`` frame.

Inside the call, ``checkpoint()``, ``publish()``, ``set_progress()`` and the manager a
call refers to reach labqueue. SIGTERM (labqueue's abort) makes the next
``checkpoint()`` raise :class:`Aborted`; a call that never reaches one is killed
after the grace period.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import struct
import sys
import threading
import traceback

import cloudpickle

_HEADER = struct.Struct(">I")


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("labqueue closed the channel")
        data += chunk
    return bytes(data)


class Channel:
    """Frames to and from labqueue; sending is thread-safe."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._send_lock = threading.Lock()

    def send(self, message: tuple) -> None:
        data = cloudpickle.dumps(message)
        with self._send_lock:
            self.sock.sendall(_HEADER.pack(len(data)) + data)

    def receive(self):
        (size,) = _HEADER.unpack(_read_exactly(self.sock, _HEADER.size))
        return cloudpickle.loads(_read_exactly(self.sock, size))


class ChildManager:
    """Stands in for labqueue's Manager inside the isolated process."""

    def __init__(self, channel: Channel, paused: bool, aborted_error: type[Exception]) -> None:
        self._channel = channel
        self._changed = threading.Condition(threading.RLock())  # re-entrant: the SIGTERM handler notifies it
        self._paused = paused
        self._aborted = False
        self._aborted_error = aborted_error

    @property
    def aborted(self) -> bool:
        return self._aborted

    def abort_requested(self, *_: object) -> None:
        with self._changed:
            self._aborted = True
            self._changed.notify_all()

    def follow(self) -> None:
        """Apply labqueue's pause and resume until the channel closes (a thread of its own)."""
        try:
            while True:
                (what,) = self._channel.receive()
                with self._changed:
                    self._paused = what == "pause"
                    self._changed.notify_all()
        except (EOFError, OSError):
            return

    def checkpoint(self) -> None:
        with self._changed:
            while True:
                if self._aborted:
                    raise self._aborted_error("aborted by request")
                if not self._paused:
                    return
                self._changed.wait()

    def set_progress(self, fraction: float | None, message: str = "") -> None:
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        self._channel.send(("progress", fraction, str(message)))

    def publish(self, series: str, x, y) -> None:
        self._channel.send(("publish", str(series), x, y))


class ForwardingHandler(logging.Handler):
    """Sends every record to labqueue, which files it under the experiment."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            self._channel.send(("log", record.created, record.levelno, record.name, message))
        except Exception:
            self.handleError(record)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped by labqueue alone
    channel = Channel(socket.socket(fileno=int(os.environ.pop("LABQUEUE_CHANNEL_FD"))))
    sys_path, levels, paused, payload = channel.receive()
    sys.path[:] = sys_path  # the parent's, so the call's modules import as they did there
    from labqueue.core.engine import Aborted, running_as

    manager = ChildManager(channel, paused, Aborted)
    signal.signal(signal.SIGTERM, manager.abort_requested)
    threading.Thread(target=manager.follow, name="labqueue-isolated-control", daemon=True).start()
    root = logging.getLogger()
    root.addHandler(ForwardingHandler(channel))
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)
    try:
        with running_as(None, manager):  # the manager a stored call refers to is this one
            func, args, kwargs = cloudpickle.loads(payload)
            result = func(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 (everything goes back to labqueue, as on the worker)
        text = "".join(traceback.format_exception(exc))
        try:
            sent_exception = cloudpickle.loads(cloudpickle.dumps(exc))
        except Exception:
            sent_exception = None
        channel.send(("error", sent_exception, text, isinstance(exc, Aborted) or manager.aborted))
    else:
        try:
            channel.send(("result", result))
        except Exception as exc:  # a result that cannot be pickled
            text = f"the result of the isolated call cannot be sent back to labqueue: {type(exc).__name__}: {exc}"
            channel.send(("error", None, text, manager.aborted))
    channel.sock.shutdown(socket.SHUT_WR)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no interpreter teardown: threads of the call may still run


if __name__ == "__main__":
    main()
