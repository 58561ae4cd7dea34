"""What runs on a Dask worker for one experiment of the Dask lane.

The lane sends :func:`run_dask_task` a :class:`TaskSpec`: the call (cloudpickled, so
that it is loaded inside the task, where ``checkpoint()`` and the manager a call refers
to reach this task's stand-in) or the command. The task relays ``set_progress``,
``publish`` and log records to labqueue as worker events on the lane's topic
(``Worker.log_event``; labqueue subscribes to it), and returns its outcome pickled, so
that an outcome that cannot be sent is an error named here rather than a task error
of Dask's. ``checkpoint()`` reads two :class:`distributed.Event`: the experiment's
abort event (set: raise Aborted) and the lane's go event (clear: wait, paused).

Imported on the workers, which need labqueue installed (as the calls' own modules).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import cloudpickle

from ..engine import Aborted, running_as
from .command import CommandCall, RunControl
from .spawner import RunSupervisor

__all__ = ["TaskSpec", "abort_event_name", "run_dask_task"]

#: Seconds between two looks at the abort event by ``checkpoint()`` (each is a round
#: trip to the scheduler; a loop calling it often must not make thousands).
CHECKPOINT_INTERVAL_S = 0.1
#: Seconds a paused ``checkpoint()`` or a command's abort watcher waits between looks.
WAIT_STEP_S = 0.5
#: Largest pickled outcome sent back as a worker event (the scheduler keeps the last
#: thousand events of a topic: a few MB at most); a bigger one is the task's result.
OUTCOME_IN_EVENT_BYTES = 16 * 1024


@dataclass(frozen=True)
class TaskSpec:
    """One experiment as a Dask task: ``payload`` is ``cloudpickle.dumps((func, args,
    kwargs))`` for a Python call, ``command`` the command otherwise."""

    experiment_id: str
    title: str
    payload: bytes | None
    command: CommandCall | None
    topic: str
    go_event: str
    kill_grace: float
    levels: dict[str, int]


def abort_event_name(experiment_id: str) -> str:
    return f"labqueue-abort-{experiment_id}"


class _TaskReports:
    """Stands in for labqueue's Manager inside one task: checkpoint, progress, data."""

    def __init__(self, spec: TaskSpec) -> None:
        from distributed import get_worker

        self._spec = spec
        self._worker = get_worker()
        self._events = None
        self._lock = threading.Lock()
        self.sent = 0
        self._next_look = 0.0
        self.aborted = False

    def send(self, message: tuple) -> None:
        data = cloudpickle.dumps(message)
        with self._lock:
            self.sent += 1
        self._worker.log_event(self._spec.topic, {"id": self._spec.experiment_id, "data": data})

    def send_outcome(self, data: bytes) -> None:
        self._worker.log_event(self._spec.topic, {"id": self._spec.experiment_id, "outcome": data})

    def _abort_and_go(self):
        """The abort and go events, made at the first checkpoint (most tasks never ask)."""
        if self._events is None:
            from distributed import Event, get_client

            client = get_client()  # in the task's thread: others have no worker context
            self._events = (
                Event(abort_event_name(self._spec.experiment_id), client),
                Event(self._spec.go_event, client),
            )
        return self._events

    def abort_requested(self) -> bool:
        if not self.aborted and self._abort_and_go()[0].is_set():
            self.aborted = True
        return self.aborted

    def checkpoint(self) -> None:
        now = time.monotonic()
        if now < self._next_look:
            return
        self._next_look = now + CHECKPOINT_INTERVAL_S
        while True:
            if self.abort_requested():
                raise Aborted("aborted by request")
            go = self._abort_and_go()[1]
            if go.is_set() or go.wait(WAIT_STEP_S):
                if self.abort_requested():
                    raise Aborted("aborted by request")
                return

    def set_progress(self, fraction: float | None, message: str = "") -> None:
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        self.send(("progress", fraction, str(message)))

    def publish(self, series: str, x, y, *, x_label=None, y_label=None, units=None) -> None:
        self.send(("publish", str(series), x, y, x_label, y_label, units))

    def watch_abort(self, control: RunControl, ended: threading.Event) -> None:
        """A command's watcher (a thread of its own): abort the command when asked. It
        looks rather than waits on the scheduler, so that no wait is left pending there
        when the command ends (or the client closes)."""
        while not ended.wait(WAIT_STEP_S):
            if self.abort_requested():
                control.abort()
                return


_local = threading.local()
_install_lock = threading.Lock()
_supervisor: RunSupervisor | None = None


class _ForwardingHandler(logging.Handler):
    """On the worker's root logger: sends the records of a task's own thread to labqueue."""

    def emit(self, record: logging.LogRecord) -> None:
        reports = getattr(_local, "reports", None)
        if reports is None or getattr(_local, "sending", False):
            return
        _local.sending = True  # sending may log (the worker's comms): not relayed again
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            reports.send(("log", record.created, record.levelno, record.name, message))
        except Exception:
            self.handleError(record)
        finally:
            _local.sending = False


def _prepare_process(levels: dict[str, int]) -> RunSupervisor:
    """Once per worker process: the forwarding handler and the command supervisor; every
    time: the levels labqueue's loggers have, so the call logs what it would log there."""
    global _supervisor
    with _install_lock:
        if _supervisor is None:
            logging.getLogger().addHandler(_ForwardingHandler())
            _supervisor = RunSupervisor()
    for name, level in levels.items():
        logger = logging.getLogger(name or None)
        if logger.level != level:  # setLevel clears the cache of every logger: not once per task
            logger.setLevel(level)
    return _supervisor


def run_dask_task(spec: TaskSpec) -> bytes | None:
    """Run one experiment on this worker. Its pickled outcome, ``("result", value, sent)``
    or ``("error", exception or None, traceback, aborted, sent)`` (``sent``: how many
    reports it relayed, which labqueue waits for), goes back as a worker event when it
    is small (then this returns None: labqueue gathers no result, a round trip saved per
    task) and as the task's result otherwise."""
    supervisor = _prepare_process(spec.levels)
    reports = _TaskReports(spec)
    _local.reports = reports
    try:
        with running_as(None, reports):  # the manager a stored call refers to is this stand-in
            outcome = _outcome(spec, reports, supervisor)
    finally:
        _local.reports = None
    if len(outcome) > OUTCOME_IN_EVENT_BYTES:
        return outcome
    reports.send_outcome(outcome)
    return None


def _outcome(spec: TaskSpec, reports: _TaskReports, supervisor: RunSupervisor) -> bytes:
    try:
        result = _run(spec, reports, supervisor)
    except BaseException as exc:  # noqa: BLE001 (everything goes back to labqueue, as on the worker)
        text = "".join(traceback.format_exception(exc))
        aborted = isinstance(exc, Aborted) or reports.aborted
        try:
            return cloudpickle.dumps(("error", exc, text, aborted, reports.sent))
        except Exception:
            return cloudpickle.dumps(("error", None, text, aborted, reports.sent))
    try:
        return cloudpickle.dumps(("result", result, reports.sent))
    except Exception as exc:
        text = f"the result of {spec.title} cannot be sent back to labqueue: {type(exc).__name__}: {exc}"
        return cloudpickle.dumps(("error", None, text, reports.aborted, reports.sent))


def _run(spec: TaskSpec, reports: _TaskReports, supervisor: RunSupervisor) -> Any:
    if spec.command is None:
        func, args, kwargs = cloudpickle.loads(spec.payload)
        return func(*args, **kwargs)
    reports._abort_and_go()  # now, in the task's thread, for the watcher's
    control = RunControl(spec.kill_grace)
    ended = threading.Event()
    watcher = threading.Thread(
        target=reports.watch_abort, args=(control, ended), name="labqueue-dask-abort", daemon=True
    )
    watcher.start()
    try:
        return spec.command.run(spec.experiment_id, supervisor, control)
    finally:
        ended.set()
