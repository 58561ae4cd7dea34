"""Experiment: one queued Python call, and a real :class:`concurrent.futures.Future`.

An :class:`Experiment` subclasses ``Future`` so that ``concurrent.futures.wait``,
``as_completed`` and ``asyncio.wrap_future`` accept it. Its :class:`ExpStatus` is
derived from the future's own state (plus the outcome chosen when it completes), so
``status`` and ``done()`` can never disagree, whichever thread asks.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import CancelledError, Future
from concurrent.futures._base import (  # the states Future itself uses
    CANCELLED,
    CANCELLED_AND_NOTIFIED,
    FINISHED,
    PENDING,
    RUNNING,
)
from typing import Any, NamedTuple

from .bounded_text import make_bounded_repr, short_repr

__all__ = [
    "INSTRUMENT_LANE",
    "DASK_LANE",
    "PROCESS_LANE",
    "Aborted",
    "ExpStatus",
    "Experiment",
    "Interrupted",
    "StoredOutcome",
    "refuse_generator_function",
]

#: The lane of the worker thread: one job at a time, beside the instruments.
INSTRUMENT_LANE = "instrument"
#: The lane of command runs and isolated calls, each in a process of its own.
PROCESS_LANE = "process"
#: The lane of calls and commands run as tasks on a Dask cluster.
DASK_LANE = "dask"

#: Captured log records kept per experiment; older ones are dropped (and counted).
MAX_LOG_RECORDS = 5000


class Aborted(Exception):
    """Raised by :meth:`Manager.checkpoint` inside a job when an abort was requested."""


class Interrupted(CancelledError):
    """The experiment was running when the program died; it never produced a result."""


class ExpStatus(enum.Enum):
    """Life cycle of an :class:`Experiment`.

    QUEUED -> RUNNING -> FINISHED | FAILED | ABORTED, or QUEUED -> CANCELLED when
    removed before it ran. INTERRUPTED marks a job that was running when the process
    died (restored from the journal).
    """

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    ABORTED = "aborted"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_terminal(self) -> bool:
        return self not in (ExpStatus.QUEUED, ExpStatus.RUNNING)

    @property
    def label(self) -> str:
        return self.name.capitalize()


#: Statuses from which :meth:`ExperimentQueue.requeue` may start a fresh copy.
REQUEUEABLE = frozenset(
    {
        ExpStatus.FINISHED,
        ExpStatus.FAILED,
        ExpStatus.ABORTED,
        ExpStatus.CANCELLED,
        ExpStatus.INTERRUPTED,
    }
)


def refuse_generator_function(func: Callable) -> None:
    """Raise TypeError if calling ``func`` would only make a generator (or an async
    generator): queued, it would run nothing and "finish" at once."""
    code = getattr(func, "__code__", None)  # functions and bound methods; the quick check
    if code is not None:
        flags = code.co_flags
        generator = bool(flags & inspect.CO_GENERATOR)
        async_generator = bool(flags & inspect.CO_ASYNC_GENERATOR)
    else:  # functools.partial and the like
        generator = inspect.isgeneratorfunction(func)
        async_generator = inspect.isasyncgenfunction(func)
    if generator or async_generator:
        kind = "an async generator function" if async_generator else "a generator function"
        name = getattr(func, "__qualname__", None) or short_repr(func)
        raise TypeError(
            f"{name} is {kind}: calling it only makes a generator, so queued it runs nothing. "
            "Queue a function that does the work instead (for example one that loops over the generator)."
        )


def record_message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, or the message and its arguments as reprs and why they
    did not format: a record whose message or arguments cannot be turned into text
    (bad %-arguments, an offline instrument's ``__str__``) must not break, nor be
    lost by, whoever stores, shows or emails it. Never raises."""
    try:
        return record.getMessage()
    except Exception as exc:
        text = _repr_or_note(record.msg)
        args = record.args
        if isinstance(args, tuple) and args:  # item by item: one broken repr spoils only itself
            args_text = ", ".join(_repr_or_note(arg) for arg in args)
            text = f"{text} % ({args_text}{',' if len(args) == 1 else ''})"
        elif args:
            text = f"{text} % {_repr_or_note(args)}"
        return f"{text} (cannot be formatted: {short_repr(exc)})"


#: Arguments of a log record whose message cannot be made: enough to read, never a payload whole.
_LOG_ARGUMENT = make_bounded_repr(maxstring=4000, maxother=4000, maxitems=20, maxlevel=3)


def _repr_or_note(value: Any) -> str:
    """A bounded repr of ``value``, or a placeholder naming why its repr failed."""
    return _LOG_ARGUMENT.safe(value)


def call_title(func: Callable, args: tuple, kwargs: dict) -> str:
    """``measure(field=3.2, n=10)``: the call with its arguments bound to the signature."""
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if name is None:
        name = type(func).__name__
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except (TypeError, ValueError):  # builtins without signature, or arguments that do not bind
        parts = [short_repr(a) for a in args]
        parts += [f"{k}={short_repr(v)}" for k, v in kwargs.items()]
    else:
        parts = []
        for param_name, value in bound.arguments.items():
            kind = bound.signature.parameters[param_name].kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                parts += [short_repr(v) for v in value]
            elif kind is inspect.Parameter.VAR_KEYWORD:
                parts += [f"{k}={short_repr(v)}" for k, v in value.items()]
            else:
                parts.append(f"{param_name}={short_repr(value)}")
    return f"{name}({', '.join(parts)})"


class Experiment(Future):
    """A scheduled call of ``func(*args, **kwargs)`` that keeps its status and result.

    It is a :class:`concurrent.futures.Future`: :meth:`result` waits for the outcome
    and raises :class:`TimeoutError` when ``timeout`` passes first,
    :class:`~concurrent.futures.CancelledError` when the experiment was cancelled,
    aborted or interrupted (as CustomXepr's did for aborted ones), and re-raises the
    call's own exception (with its traceback) when it failed. What an aborted call
    returned (the data measured before the abort) is :attr:`partial_result`. For
    aborted and interrupted experiments ``exception()`` returns that CancelledError
    (``cancelled()`` is True only for CANCELLED ones, which never ran), as
    ``asyncio.wrap_future`` and ``concurrent.futures.wait`` expect of a finished future.

    An experiment read back from the journal loads its outcome (result, exception,
    traceback, log lines) on first use, so a history of big results costs nothing
    until one is looked at.

    Attributes:
        id: stable unique identifier (hex string), kept by the journal across restarts.
        func, args, kwargs: the call.
        queued_at, started_at, finished_at: POSIX timestamps, or None.
        traceback: formatted traceback text of a failed or aborted call, or None.
        partial_result: what an ABORTED call returned, or None.
        progress: ``(fraction or None, message)`` as last reported by the job.
        paused_seconds: time the call spent waiting in ``checkpoint()`` while the
            queue was paused (ended pauses only; see :attr:`paused`). Not run time:
            :attr:`duration` leaves it out.
        log_records: :class:`logging.LogRecord` objects emitted on the worker thread
            while the call ran.
        stored: True when the journal holds the call, False when it could not be
            stored (see ``store_error``), None when there is no journal.
        requeued_from: id of the experiment this one repeats, or None.
        published: the series the call published (a
            :class:`~core.engine.published.PublishedData`), or None; for an experiment
            read back from the journal, ask :meth:`Manager.published_data`.
        links: its upstreams (:class:`~core.engine.chains.Link`), empty for most.
        retry: its :class:`~core.engine.chains.RetryPolicy`, or None; ``attempt`` is
            1 for the first run, 2 for the first retry, and so on.
        not_before: POSIX time before which it may not start (a retry's delay), or None.
        cancel_reason: why it was cancelled when it was not by hand ("upstream X failed").
        study_id: the study (or, for a plain chain, the first upstream) it belongs to.
        repeated_by: the copy that requeued it (a retry or a requeue), or None.
        lane: where it runs: :data:`INSTRUMENT_LANE` (the worker thread, the default)
            or :data:`PROCESS_LANE` (a process of its own: ``isolate=True``, or a
            call that names its lane in a ``labqueue_lane`` attribute, as a command does)
            or :data:`DASK_LANE` (a task on a Dask cluster).
        group_id: id of the sweep it belongs to, or None.
        cleanup: ``cleanup(experiment)``, called on the worker when the call ends
            ABORTED or FAILED (before that outcome is recorded, so while the status is
            still RUNNING), and at the next start when the experiment comes back
            INTERRUPTED from the journal; or None. See :meth:`Manager.on_abort`.

    Raises TypeError (from the constructor) when ``func`` or ``cleanup`` is not callable.
    """

    # Chain attributes as class defaults: most experiments have none, and a put of
    # 100,000 of them should not pay for them.
    links: tuple = ()
    retry = None
    attempt = 1
    not_before: float | None = None
    cancel_reason: str | None = None
    study_id: str | None = None
    repeated_by: Experiment | None = None
    _downstreams: list | None = None
    _has_outside_callbacks = False

    def __init__(
        self,
        func: Callable,
        args: tuple | list = (),
        kwargs: dict | None = None,
        *,
        title: str | None = None,
        after: Iterable[Any] = (),
        inputs: Mapping[str, Experiment] | None = None,
        on_failure: str = "skip",
        retries: int = 0,
        retry_delay: float = 0.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        isolate: bool = False,
        lane: str | None = None,
        group_id: str | None = None,
        cleanup: Callable[[Experiment], Any] | None = None,
    ) -> None:
        """``after``: experiments (or Links) to wait for; ``inputs``: upstreams whose
        results are passed as these keyword arguments; ``on_failure``: what happens to
        this one when one of them does not finish ("skip", "continue" or "stop_study",
        see :mod:`core.engine.chains`); ``retries`` more runs, ``retry_delay`` seconds
        apart, when the call raises one of ``retry_on``.

        Raises TypeError if ``func`` is not callable or an upstream not an Experiment,
        ValueError for an unknown ``on_failure`` or negative retries or delay.
        """
        if not callable(func):
            raise TypeError(f"an experiment needs a callable, got {type(func).__name__}: {short_repr(func)}")
        if cleanup is not None and not callable(cleanup):
            raise TypeError(f"cleanup must be callable, got {type(cleanup).__name__}: {short_repr(cleanup)}")
        super().__init__()
        self.func = func
        self.args = tuple(args)
        self.kwargs = dict(kwargs) if kwargs else {}
        self.id = new_experiment_id()
        self._title = title
        self.queued_at: float | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.progress: tuple[float | None, str] = (None, "")
        if cleanup is not None:
            self.cleanup = cleanup
        self._final_status = ExpStatus.FINISHED
        self._queue = None  # the ExperimentQueue holding it, set by ExperimentQueue.put
        if after or inputs or retries:
            from . import chains  # chains builds on Experiment

            retry = chains.RetryPolicy(retries, retry_delay, tuple(retry_on)) if retries else None
            chains.configure(self, after, inputs, on_failure, retry)
        if lane is None:
            lane = PROCESS_LANE if isolate else getattr(func, "labqueue_lane", INSTRUMENT_LANE)
        self.lane: str = lane
        if group_id is not None:
            self.group_id = group_id

    # Class defaults, so that the many experiments that never need them carry no
    # instance attribute for them (a queued experiment is kept small: CPython shares
    # the keys of instance dictionaries only up to 30 attributes).
    paused_seconds = 0.0
    _paused_since: float | None = None
    published = None  # PublishedData once the call publishes (or the journal gives it back)
    _log_records: list[logging.LogRecord] | None = None  # created on the first record
    dropped_log_records = 0
    warnings_logged = 0  # captured records at WARNING, dropped ones included
    errors_logged = 0  # ... at ERROR and above
    stored: bool | None = None
    store_error: str | None = None
    requeued_from: str | None = None
    cleanup: Callable[[Experiment], Any] | None = None
    group_id: str | None = None
    _traceback: str | None = None
    _partial_result: Any = None
    #: ``load(experiment)`` reads the stored outcome of one restored from the journal, until first used.
    _pending_outcome: Callable[[Experiment], StoredOutcome] | None = None

    # -- descriptive -------------------------------------------------------------------

    @property
    def title(self) -> str:
        """Readable call, e.g. ``measure(field=3.2, n=10)``; computed once, on first use."""
        if self._title is None:
            self._title = call_title(self.func, self.args, self.kwargs)
        return self._title

    @property
    def func_name(self) -> str:
        """Qualified name of the called function, used to estimate durations."""
        return getattr(self.func, "__qualname__", None) or type(self.func).__name__

    @property
    def status(self) -> ExpStatus:
        """Current :class:`ExpStatus`, consistent with :meth:`done` and :meth:`running`."""
        state = self._state
        if state == PENDING:
            return ExpStatus.QUEUED
        if state == RUNNING:
            return ExpStatus.RUNNING
        if state in (CANCELLED, CANCELLED_AND_NOTIFIED):
            return ExpStatus.CANCELLED
        return self._final_status

    @property
    def paused(self) -> bool:
        """True while the running call waits in ``checkpoint()`` because the queue is paused."""
        return self._paused_since is not None

    @property
    def duration(self) -> float | None:
        """Seconds run so far (live while running), paused time left out, or None if it
        never started."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else time.time()
        paused_since = self._paused_since
        pausing = max(0.0, end - paused_since) if paused_since is not None else 0.0
        return max(0.0, end - self.started_at - self.paused_seconds - pausing)

    @property
    def time_paused(self) -> float:
        """Seconds spent waiting paused in ``checkpoint()``, the current pause included."""
        paused_since = self._paused_since
        current = max(0.0, time.time() - paused_since) if paused_since is not None else 0.0
        return self.paused_seconds + current

    def _pause_began(self, now: float) -> None:
        self._paused_since = now

    def _pause_ended(self, now: float) -> None:
        paused_since = self._paused_since
        if paused_since is not None:
            self.paused_seconds += max(0.0, now - paused_since)
            self._paused_since = None

    @property
    def traceback(self) -> str | None:
        """Formatted traceback text of a failed or aborted call, or None."""
        if self._pending_outcome is not None:
            self._load_outcome()
        return self._traceback

    @traceback.setter
    def traceback(self, text: str | None) -> None:
        self._traceback = text

    @property
    def partial_result(self) -> Any:
        """What an ABORTED call returned (the data measured before the abort), or None.

        Its :meth:`result` raises CancelledError, as CustomXepr's did."""
        if self._pending_outcome is not None:
            self._load_outcome()
        return self._partial_result

    def _records(self) -> list[logging.LogRecord] | None:
        if self._pending_outcome is not None:
            self._load_outcome()
        return self._log_records

    @property
    def log_records(self) -> list[logging.LogRecord]:
        """Log records emitted on the worker thread while the call ran (oldest dropped
        beyond MAX_LOG_RECORDS, counted in ``dropped_log_records``)."""
        return list(self._records() or ())

    @property
    def last_log_at(self) -> float | None:
        """When the newest captured record was made, or None."""
        records = self._records()
        return records[-1].created if records else None

    @property
    def log_count(self) -> int:
        """Records captured so far, dropped ones included: grows with every record."""
        return len(self._records() or ()) + self.dropped_log_records

    def add_log_record(self, record: logging.LogRecord) -> None:
        self._count_level(record.levelno or 0)
        records = self._log_records
        if records is None:
            records = self._log_records = []
        elif len(records) >= MAX_LOG_RECORDS:
            del records[0]
            self.dropped_log_records += 1
        records.append(record)

    def set_log_records(self, records: list[logging.LogRecord]) -> None:
        """Replace the captured records (the journal restoring them) and their counts."""
        self._log_records = list(records) or None
        self.warnings_logged = self.errors_logged = 0
        for record in records:
            self._count_level(record.levelno or 0)

    def _count_level(self, levelno: int) -> None:
        if levelno >= logging.ERROR:
            self.errors_logged += 1
        elif levelno >= logging.WARNING:
            self.warnings_logged += 1

    def log_lines(self, last: int | None = None) -> list[str]:
        """The captured log records as text lines (only the ``last`` ones, if given)."""
        records = self._records() or []
        if last is not None:
            records = records[-last:] if last > 0 else []
        return [_format_line(r) for r in records]

    def __repr__(self) -> str:
        return f"<Experiment {self.id[:8]} {self.status.name} {self.title}>"

    # -- chains ------------------------------------------------------------------------

    def then(self, func: Callable, *args: Any, **kwargs: Any) -> Experiment:
        """Queue ``func(this experiment's result, *args, **kwargs)`` to run once this one
        has finished; returns the new experiment.

        The keywords ``on_failure``, ``retries``, ``retry_delay``, ``retry_on`` and
        ``title`` are options of the new experiment (see :class:`Experiment`), not
        arguments of ``func``. Raises RuntimeError if this experiment is not queued.
        """
        from . import chains

        options = {key: kwargs.pop(key) for key in _CHAIN_OPTIONS if key in kwargs}
        return chains.then(self, func, args, kwargs, **options)

    def may_start(self) -> bool:
        """True unless an upstream holds it back or its retry delay has not passed."""
        if self.not_before is not None and time.time() < self.not_before:
            return False
        if not self.links:
            return True
        from .chains import link_satisfied

        return all(link_satisfied(link) for link in self.links)

    @property
    def waiting_for(self) -> Experiment | None:
        """The first upstream that holds this queued experiment back, or None."""
        if self.status is not ExpStatus.QUEUED:
            return None
        from .chains import link_satisfied

        return next((link.current for link in self.links if not link_satisfied(link)), None)

    def retry_pending(self, exception: BaseException | None) -> bool:
        """True if this experiment, failing with ``exception``, will be run again."""
        return self.retry is not None and self.repeated_by is None and self.retry.applies(self.attempt, exception)

    def repeat(self) -> Experiment:
        """A new QUEUED experiment with the same call, title, lane, sweep, cleanup, links and retry policy;
        this one's downstreams wait for the copy from now on."""
        from .chains import carry_over

        again = Experiment(
            self.func,
            self.args,
            self.kwargs,
            title=self._title,
            lane=self.lane,
            group_id=self.group_id,
            cleanup=self.cleanup,
        )
        again.requeued_from = self.id
        carry_over(self, again)
        return again

    # -- future API --------------------------------------------------------------------

    def result(self, timeout: float | None = None) -> Any:
        """The call's return value, waiting up to ``timeout`` seconds for it.

        Raises TimeoutError when ``timeout`` passes first, CancelledError when the
        experiment was cancelled, aborted (see :attr:`partial_result`) or interrupted,
        and the call's own exception when it failed."""
        if self._pending_outcome is not None:
            self._load_outcome()
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The exception :meth:`result` would raise (None if it returns), waiting up to
        ``timeout`` seconds; raises TimeoutError when it passes first, CancelledError
        for a CANCELLED experiment."""
        if self._pending_outcome is not None:
            self._load_outcome()
        return super().exception(timeout)

    def add_done_callback(self, fn: Callable[[Future], Any]) -> None:
        """As ``Future.add_done_callback``, except that a callback raising SystemExit or
        KeyboardInterrupt off the main thread (on the worker, usually) is logged instead
        of ending that thread; ``Future`` itself only survives an ``Exception``."""
        # It runs on the thread that ran the experiment, and may wait for another one:
        # a lane then hands the freed slot to another of its threads (see lane_job_done).
        self._has_outside_callbacks = True
        super().add_done_callback(_GuardedCallback(fn))

    def add_own_done_callback(self, fn: Callable[[Future], Any]) -> None:
        """:meth:`add_done_callback` for labqueue's own bookkeeping, which never waits
        for another experiment."""
        super().add_done_callback(_GuardedCallback(fn))

    def cancel(self) -> bool:
        """Cancel the experiment if it is still queued; True if it is now cancelled.

        A queued experiment is taken out of its queue (it becomes CANCELLED and its
        future completes); a running or finished one cannot be cancelled. Like
        ``Future.cancel()`` it answers True again for one already cancelled, and
        never raises.
        """
        queue = self._queue
        if queue is not None:
            return queue.cancel_experiment(self)
        return self._complete_cancelled()

    # -- completion, called by the queue and the journal ---------------------------------

    def _complete_cancelled(self) -> bool:
        with self._condition:  # one of two racing cancels notifies, the other sees it done
            if self._state in (CANCELLED, CANCELLED_AND_NOTIFIED):
                return True
            if not Future.cancel(self):
                return False
            self.finished_at = self.finished_at or time.time()
            # Moves CANCELLED to CANCELLED_AND_NOTIFIED, which wakes concurrent.futures.wait().
            self.set_running_or_notify_cancel()
        return True

    def _settle(
        self, status: ExpStatus, result: Any, exception: BaseException | None
    ) -> tuple[Any, BaseException | None]:
        """The future's (result, exception) for the outcome ``status``; keeps what an
        aborted call returned as its partial result."""
        if status is ExpStatus.FINISHED:
            return result, None
        if status is ExpStatus.FAILED:
            return None, exception if exception is not None else RuntimeError("experiment failed")
        if status is ExpStatus.ABORTED:
            if result is not None:
                self._partial_result = result
            cancelled = CancelledError(f"{self.title} was aborted")
            cancelled.__cause__ = exception
            return None, cancelled
        if status is ExpStatus.INTERRUPTED:
            if isinstance(exception, Interrupted):  # a lane says what stopped it (a lost cluster)
                return None, exception
            return None, Interrupted(f"{self.title} was running when the program stopped")
        raise ValueError(f"{status} is not an outcome")

    def _complete(self, status: ExpStatus, result: Any = None, exception: BaseException | None = None) -> None:
        """Finish with ``status``; ``exception`` is the call's, when it raised.
        ValueError if ``status`` is not an outcome."""
        self.finished_at = self.finished_at or time.time()  # the queue may have set it (and journaled it)
        self._final_status = status
        if status is ExpStatus.FINISHED:  # the common case, without the general one's call
            self.set_result(result)
            return
        value, error = self._settle(status, result, exception)
        if error is None:
            self.set_result(value)
        else:
            self.set_exception(error)

    def _complete_later(self, status: ExpStatus, load: Callable[[Experiment], StoredOutcome]) -> None:
        """Finish with ``status`` now and read the outcome with ``load(self)`` on first
        use (for an experiment restored from the journal: nobody waits on it yet).
        ``load`` must not raise: an outcome it cannot read, it describes."""
        self._final_status = status
        self._pending_outcome = load
        with self._condition:
            self._state = FINISHED

    def _load_outcome(self) -> None:
        with self._condition:  # a second thread asking meanwhile waits for the same load
            load = self._pending_outcome
            if load is None:
                return
            self._pending_outcome = None
            stored = load(self)
            self._traceback = stored.traceback
            self._log_records = stored.log_records or None
            self._result, self._exception = self._settle(self._final_status, stored.result, stored.exception)


class StoredOutcome(NamedTuple):
    """The outcome of an ended call as the journal gives it back."""

    result: Any
    exception: BaseException | None
    traceback: str | None
    log_records: list[logging.LogRecord]


_CHAIN_OPTIONS = ("on_failure", "retries", "retry_delay", "retry_on", "title")


def new_experiment_id() -> str:
    """A new globally unique experiment id: 128 random bits as 32 hex digits."""
    # os.urandom directly: as unique as uuid4 at a fifth of its cost on the put path.
    return os.urandom(16).hex()


_LINE_FORMATTER = logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s")


def _format_line(record: logging.LogRecord) -> str:
    try:
        return _LINE_FORMATTER.format(record)
    except Exception:  # its message cannot be made: show the rest of the line
        created = _LINE_FORMATTER.formatTime(record)
        return f"{created} {record.levelname:<8} {record.name}: {record_message(record)}"


class _GuardedCallback:
    """A done-callback that cannot end the thread completing the future (see
    :meth:`Experiment.add_done_callback`)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Future], Any]) -> None:
        self.fn = fn

    def __call__(self, future: Future) -> None:
        try:
            self.fn(future)
        except Exception:
            raise  # Future logs these itself
        except BaseException:
            if threading.current_thread() is threading.main_thread():
                raise  # Ctrl-C or sys.exit() meant for the program
            logging.getLogger("labqueue").exception("A done-callback of %r raised; ignored", future)


# -- the experiment running on the current thread --------------------------------------

_context = threading.local()


def current_experiment() -> Experiment | None:
    """The experiment whose call is running on this thread, if any."""
    return getattr(_context, "experiment", None)


def current_manager():
    """The manager whose worker is running on this thread, if any."""
    return getattr(_context, "manager", None)


def _set_current(experiment: Experiment | None, manager) -> None:
    _context.experiment = experiment
    _context.manager = manager


@contextlib.contextmanager
def running_as(experiment: Experiment | None, manager) -> Iterator[None]:
    """Within the block, :func:`current_experiment` and :func:`current_manager` on this
    thread are these (as on the worker during a job), so ``checkpoint()``,
    ``publish()``, ``set_progress()`` and log capture reach them; restored after."""
    previous = (current_experiment(), current_manager())
    _set_current(experiment, manager)
    try:
        yield
    finally:
        _set_current(*previous)


class ExperimentContextFilter(logging.Filter):
    """Adds ``experiment_id`` (short, or ``-``) and ``experiment_title`` (or ``""``) to
    every record, for log file formats and the window's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        experiment = getattr(_context, "experiment", None)
        if not hasattr(record, "experiment_id"):
            record.experiment_id = experiment.id[:8] if experiment is not None else "-"
        if not hasattr(record, "experiment_title"):
            record.experiment_title = experiment.title if experiment is not None else ""
        return True


_capture_lock = threading.Lock()
_capture_installed = False


def install_log_capture() -> None:
    """File every log record made during a job under the experiment running on its thread.

    Installed once per process as a log record factory wrapping the one in place, not
    as a handler: labqueue is a library and adds no handler anywhere, so Python's last
    resort still prints warnings in a plain script and a later ``logging.basicConfig()``
    still configures the root logger.
    """
    global _capture_installed
    with _capture_lock:
        if _capture_installed:
            return
        make_record = logging.getLogRecordFactory()

        def capturing_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            experiment = getattr(_context, "experiment", None)
            # logging.makeLogRecord() passes name None: a copy being rebuilt, not a new line.
            if experiment is not None and record.name is not None:
                experiment.add_log_record(record)
            return record

        logging.setLogRecordFactory(capturing_record_factory)
        _capture_installed = True
