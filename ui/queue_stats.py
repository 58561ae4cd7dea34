"""Counts per status, duration estimates and the time left, kept up to date cheaply.

The ended experiments of an :class:`~core.ExperimentQueue` (its history and the
cancelled ones) only ever grow at their end, so each update looks only at the
experiments that joined them since the last one: the cost follows the number of
changes, not the size of the queue.
"""

from __future__ import annotations

import inspect
import weakref
from collections import Counter, deque
from collections.abc import Callable, Hashable
from itertools import compress, repeat
from operator import attrgetter, is_
from statistics import median
from typing import Any

from labqueue.core import Experiment, ExpStatus
from labqueue.core.engine import QueueSnapshot

__all__ = ["DurationEstimator", "QueueStats", "argument_key"]

_func_of = attrgetter("func")


_status_of = attrgetter("status")
#: New experiments taken in per update (a few milliseconds of work).
_CHUNK = 10_000
#: Finished runs learned from per function and update.
_LEARNED_PER_UPDATE = 200
_ENDED = [status for status in ExpStatus if status.is_terminal]


class _Shape:
    """A function's parameter names and defaults, when they are plain (no ``*args``,
    ``**kwargs`` or positional-only ones): enough to bind a call quickly."""

    def __init__(self, names: tuple[str, ...], defaults: tuple[Any, ...]) -> None:
        self.names = names
        self.defaults = defaults
        self.name_set = frozenset(names)
        # (name, default) of the parameters after the first i, for each i.
        self.rest = [tuple(zip(names[i:], defaults[i:], strict=True)) for i in range(len(names) + 1)]


_UNKNOWN = object()

#: Looked up once per function (None: not plain, or no signature).
_shapes: weakref.WeakKeyDictionary[Callable, _Shape | None] = weakref.WeakKeyDictionary()


def _shape(func: Callable) -> _Shape | None:
    try:
        return _shapes[func]
    except (KeyError, TypeError):  # not seen yet, or not weakly referable
        pass
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        shape = None
    else:
        plain = all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters)
        shape = _Shape(tuple(p.name for p in parameters), tuple(p.default for p in parameters)) if plain else None
    try:
        _shapes[func] = shape
    except TypeError:
        pass
    return shape


def argument_key(exp: Experiment, shape: _Shape | None | object = _UNKNOWN) -> Hashable | None:
    """The call's argument values as a dict key, or None when they cannot be one (a
    list, an array: unhashable). Equal values give equal keys however they were
    passed: ``measure(3.2)``, ``measure(field=3.2)`` and ``measure(3.2, n=10)`` (10
    being ``n``'s default) are one call. ``shape``: the function's, if known."""
    args, kwargs = exp.args, exp.kwargs
    if shape is _UNKNOWN:
        shape = _shape(exp.func)
    try:
        if shape is None or len(args) > len(shape.names):
            key = (args, frozenset(kwargs.items())) if kwargs else args
        elif not kwargs:
            key = args + shape.defaults[len(args) :]
        elif kwargs.keys() <= shape.name_set:
            get = kwargs.get
            key = args + tuple([get(name, default) for name, default in shape.rest[len(args)]])
        else:
            key = (args, frozenset(kwargs.items()))
        hash(key)
    except Exception:  # unhashable, or a __hash__ that raises
        return None
    return key


class DurationEstimator:
    """How long a call should take, learned from finished runs: the last run of the same
    function with the same argument values, else the median of the function's last
    ``window`` runs (by qualified name)."""

    def __init__(self, window: int = 50, calls_kept: int = 2000) -> None:
        """``window``: runs per function for the median; ``calls_kept``: argument values
        per function with a duration of their own."""
        self.window = window
        self.calls_kept = calls_kept
        self._durations: dict[str, deque[float]] = {}
        self._by_call: dict[str, dict[Hashable, float]] = {}  # per function, oldest first

    def add(self, func_name: str, seconds: float, key: Hashable | None = None) -> None:
        """A run of ``func_name`` with arguments ``key`` (see :func:`argument_key`) took ``seconds``."""
        self._durations.setdefault(func_name, deque(maxlen=self.window)).append(seconds)
        if key is not None:
            calls = self._by_call.setdefault(func_name, {})
            calls.pop(key, None)  # the newest goes last
            calls[key] = seconds
            if len(calls) > self.calls_kept:
                del calls[next(iter(calls))]

    def estimate(self, func_name: str, key: Hashable | None = None) -> float | None:
        """Expected duration of one more run, or None if the function never finished before."""
        if key is not None:
            exact = self._by_call.get(func_name, {}).get(key)
            if exact is not None:
                return exact
        durations = self._durations.get(func_name)
        return median(durations) if durations else None

    def known_calls(self, func_name: str) -> dict[Hashable, float]:
        """Argument keys of ``func_name`` with a duration of their own (do not change it)."""
        return self._by_call.get(func_name, {})


class QueueStats:
    """What the status bar shows: how many experiments are in each status, and how
    long the queued ones should take, fed with each snapshot the queue model applies."""

    def __init__(self) -> None:
        self.estimator = DurationEstimator()
        self._func_names: dict[Callable, str] = {}  # Experiment.func_name, looked up once per function
        self._shapes: dict[Callable, _Shape | None] = {}  # each function's parameters, looked up once
        self._reset()

    def _reset(self) -> None:
        self._history_counts: Counter[ExpStatus] = Counter()
        self._history_seen = 0
        # The queued experiments and their calls (function, argument key or None), each
        # worked out once, when it comes in.
        self._queued_members: dict[Experiment, tuple[Callable, Hashable | None]] = {}
        self._queued_funcs: Counter[Callable] = Counter()
        self._queued_calls: Counter[tuple[Callable, Hashable | None]] = Counter()
        self._queued_size = 0
        self._running: Experiment | None = None
        self._incoming: list[Experiment] = []  # new experiments not taken in yet
        self.last_failed: Experiment | None = None  # the most recent FAILED one in the history

    def update(self, snapshot: QueueSnapshot, inserted: list[Experiment]) -> None:
        """Take in ``snapshot``; ``inserted`` are the experiments new since the last one.

        Bulk work runs in set and Counter operations, not in a Python loop per
        experiment, and at most :data:`_CHUNK` new experiments are taken in per call:
        after 100,000 puts at once the time left is complete a few frames later,
        rather than one frame taking long.
        """
        experiments = snapshot.experiments
        if snapshot.ended_size < self._history_seen:  # a different queue: start over
            self._reset()
            inserted = experiments
        self._queued_size = len(experiments) - snapshot.first_queued
        self._incoming.extend(inserted)
        batch = self._incoming[:_CHUNK]
        del self._incoming[:_CHUNK]
        # Every new one counts as queued; those that already ran or were cancelled are
        # in the history part, read below, which takes them out again. So the history
        # is read only once every new one is in.
        funcs = list(map(_func_of, batch))
        for func, exp in dict(zip(funcs, batch, strict=True)).items():
            if func not in self._func_names:
                self._func_names[func] = exp.func_name
                self._shapes[func] = _shape(func)
        if any(self._keys_matter(func) for func in set(funcs)):
            calls = [(exp.func, self._key_if_it_matters(exp)) for exp in batch]
        else:  # the common case (functions that have not run yet): no Python step per experiment
            calls = list(zip(funcs, repeat(None)))
        self._queued_members.update(zip(batch, calls, strict=True))
        self._queued_funcs.update(funcs)
        self._queued_calls.update(calls)
        if self._incoming:
            return
        self._take_in_history(experiments[self._history_seen : snapshot.ended_size])
        running = snapshot.running
        if running is not None:
            self._leave_queued([running])
        self._running = running

    def _take_in_history(self, entries: list[Experiment]) -> None:
        statuses = list(map(_status_of, entries))
        # An entry whose outcome is still being announced reads QUEUED or RUNNING for
        # a moment: count up to it now, and it and the rest next time.
        end = len(statuses)
        for unfinished in (ExpStatus.QUEUED, ExpStatus.RUNNING):
            if unfinished in statuses:
                end = min(end, statuses.index(unfinished))
        entries, statuses = entries[:end], statuses[:end]
        self._history_seen += end
        # list.count compares by identity in C; a Counter would hash each enum in Python.
        for status in _ENDED:
            self._history_counts[status] += statuses.count(status)
        if ExpStatus.FAILED in statuses:
            self.last_failed = entries[len(statuses) - 1 - statuses[::-1].index(ExpStatus.FAILED)]
        calls = self._leave_queued(entries)
        # Per function only the newest few of this update (a fast run ends thousands a
        # second), learned oldest first, so the newest run of each call wins.
        # The finished ones, newest first, picked out in C; the walk stops once every
        # function among them has its sample.
        finished = list(compress(entries[::-1], map(is_, statuses[::-1], repeat(ExpStatus.FINISHED))))
        names = {self._func_name(func) for func in set(map(_func_of, finished))}
        sampled: Counter[str] = Counter()
        learned = []
        complete = 0
        for exp in finished:
            name = self._func_name(exp.func)
            if sampled[name] < _LEARNED_PER_UPDATE:
                learned.append((name, exp))
                sampled[name] += 1
                if sampled[name] == _LEARNED_PER_UPDATE:
                    complete += 1
                    if complete == len(names):
                        break
        for name, exp in reversed(learned):
            call = calls.get(exp)
            key = call[1] if call is not None and call[1] is not None else argument_key(exp, self._shapes[exp.func])
            self.estimator.add(name, exp.duration or 0.0, key)

    def _leave_queued(self, experiments: list[Experiment]) -> dict[Experiment, tuple[Callable, Hashable | None]]:
        """Count these out of the queued ones; returns the calls of those that were."""
        members = self._queued_members
        leaving = members.keys() & experiments  # in C: thousands end between two frames
        left = dict(zip(leaving, map(members.pop, leaving), strict=True))
        if left:
            self._queued_funcs -= Counter(map(_func_of, left))  # also drops the functions with none left
            calls = self._queued_calls
            # Per call: ``-=`` would walk every queued call (100,000 distinct sweep points).
            for call, count in Counter(left.values()).items():
                remaining = calls[call] - count
                if remaining > 0:
                    calls[call] = remaining
                else:
                    del calls[call]
        return left

    def _keys_matter(self, func: Callable) -> bool:
        """True when ``func`` has runs with a duration of their own (see :meth:`_key_if_it_matters`)."""
        return bool(self.estimator.known_calls(self._func_names[func]))

    def _key_if_it_matters(self, exp: Experiment) -> Hashable | None:
        """The call's argument key when its function has runs with their own duration,
        else None (its median applies): most puts are of functions that have not run
        yet, and working out 100,000 keys on the GUI thread would slow the worker."""
        if not self._keys_matter(exp.func):
            return None
        return argument_key(exp, self._shapes[exp.func])

    def _func_name(self, func: Callable) -> str:
        return self._func_names[func]  # named when its first experiment came in

    @property
    def catching_up(self) -> bool:
        """True while new experiments wait to be taken in (call :meth:`update` again)."""
        return bool(self._incoming)

    @property
    def counts(self) -> dict[ExpStatus, int]:
        """Number of experiments per status (statuses with none are left out)."""
        counts = {ExpStatus.QUEUED: self._queued_size, ExpStatus.RUNNING: int(self._running is not None)}
        counts.update(self._history_counts)
        return {status: counts[status] for status in ExpStatus if counts.get(status)}

    @property
    def running_paused(self) -> bool:
        """True while the running experiment waits in its ``checkpoint()`` (paused mid-run)."""
        running = self._running
        return running is not None and running.paused

    def estimate(self, exp: Experiment) -> float | None:
        """Expected duration of ``exp`` from earlier runs of the same call, else of the
        same function."""
        return self.estimator.estimate(
            self._func_name(exp.func), argument_key(exp, self._shapes.get(exp.func, _UNKNOWN))
        )

    def time_left(self) -> tuple[float, int]:
        """Seconds until the queue is empty, and how many experiments have no estimate.

        Per function: the calls whose argument values ran before count their own
        duration, the others the function's median. Only the calls the estimator
        knows are looked at, not every queued one.
        """
        seconds, unknown = 0.0, 0
        for func, count in self._queued_funcs.items():
            name = self._func_name(func)
            typical = self.estimator.estimate(name)
            if typical is None:
                unknown += count
                continue
            exact_count = 0
            for key, duration in self.estimator.known_calls(name).items():
                queued = self._queued_calls.get((func, key))
                if queued:
                    seconds += duration * queued
                    exact_count += queued
            seconds += typical * (count - exact_count)
        running = self._running
        if running is not None:
            estimate = self.estimate(running)
            if estimate is None:
                unknown += 1
            else:
                seconds += max(0.0, estimate - (running.duration or 0.0))
        return seconds, unknown
