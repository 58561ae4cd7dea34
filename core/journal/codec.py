"""Turning experiments into journal values and back: calls, results, exceptions, log lines.

Calls are pickled by value with cloudpickle, so a function typed into the console
comes back after a restart. Anything that cannot be pickled is reported, never
dropped silently: the caller gets the reason and decides what to mark and log.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import operator
import pickle
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import cloudpickle

from ..engine import MAX_TRACEBACK_CHARS, Experiment, cut_middle, format_failure, make_bounded_repr, record_message

__all__ = [
    "CallEncoder",
    "CallNotStored",
    "FunctionPickles",
    "PickleTooLarge",
    "ResultNotStored",
    "StoredFailure",
    "decode_log",
    "encode_log",
    "load_pickle",
    "pickle_value",
]

#: Longest repr kept for a result that cannot be pickled.
MAX_RESULT_REPR = 10_000
#: Largest pickled result (or exception) kept in the journal. Bigger ones (a raw
#: camera stack, say) belong in a file the experiment writes; the journal keeps their
#: repr. SQLite itself refuses values near 1 GB.
MAX_STORED_RESULT_BYTES = 100 * 1024 * 1024
#: Largest pickled call (the function, or its arguments) kept in the journal; a bigger
#: one runs, marked "not stored".
MAX_STORED_ARGUMENT_BYTES = 100 * 1024 * 1024
#: Longest message of one captured log record kept in the journal.
MAX_LOG_MESSAGE_CHARS = 10_000

_RESULT_REPR = make_bounded_repr(maxstring=MAX_RESULT_REPR, maxother=MAX_RESULT_REPR, maxitems=200, maxlevel=4)

_NO_ARGUMENTS = cloudpickle.dumps(((), {}))


class CallNotStored(RuntimeError):
    """Raised by an experiment whose call could not be stored or loaded back."""


class StoredFailure(Exception):
    """A failure read back from the journal whose own exception could not be loaded.

    Its message carries the original traceback text.
    """


class ResultNotStored:
    """Stands for a result that could not be pickled; its repr is the original's."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResultNotStored) and other.text == self.text

    __hash__ = None  # type: ignore[assignment]


class PickleTooLarge(ValueError):
    """A pickle passed its limit; it was abandoned there, never built whole."""


class _LimitedBuffer(io.BytesIO):
    """Where a pickle is written; refuses to grow beyond ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def write(self, data) -> int:
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        if self.tell() + size > self._limit:
            raise PickleTooLarge(f"more than {self._limit / 2**20:.0f} MB pickled")
        return super().write(data)


def pickle_value(value: Any, limit: int | None = None) -> bytes:
    """cloudpickle ``value``; raises whatever pickling raises, and PickleTooLarge as
    soon as the pickle passes ``limit`` bytes (the pickler writes as it goes, so a
    huge value is never pickled whole)."""
    with _LimitedBuffer(limit) if limit is not None else io.BytesIO() as buffer:
        cloudpickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        return buffer.getvalue()


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class CallEncoder:
    """Pickles the calls of one batch, each distinct function once.

    Across batches a function's pickle comes from ``remembered`` (see
    :class:`FunctionPickles`): a function pickled by value captures the globals it
    reads, which may change between two ``put`` calls.
    """

    def __init__(self, remembered: FunctionPickles) -> None:
        self._remembered = remembered
        self._by_function: dict[int, bytes] = {}
        self.functions: dict[bytes, bytes] = {}  # digest -> pickle, to store

    def encode(self, exp: Experiment) -> tuple[bytes, bytes]:
        """(function digest, pickled arguments); raises if either cannot be pickled,
        PickleTooLarge if the arguments pass :data:`MAX_STORED_ARGUMENT_BYTES`."""
        digest = self.function_digest(exp.func)
        if not exp.args and not exp.kwargs:
            return digest, _NO_ARGUMENTS
        return digest, pickle_value((exp.args, exp.kwargs), MAX_STORED_ARGUMENT_BYTES)

    def function_digest(self, func: Any) -> bytes:
        """The digest under which ``func`` is stored (a call's function, or a cleanup);
        raises if it cannot be pickled."""
        digest = self._by_function.get(id(func))
        if digest is None:
            digest, data = self._remembered.get(func)
            self.functions[digest] = data
            self._by_function[id(func)] = digest
        return digest


#: Functions whose pickles :class:`FunctionPickles` keeps.
FUNCTION_PICKLES_KEPT = 256

#: Types whose instances cannot change in place. Exact types only: a subclass may
#: carry mutable attributes. Modules and builtins are checked on their own.
_IMMUTABLE_TYPES = frozenset({type(None), bool, int, float, complex, str, bytes, type(Ellipsis)})
#: What cloudpickle stores of the namespace of a function pickled by value.
_NAMESPACE_KEYS = ("__package__", "__name__", "__path__", "__file__")
_MISSING = object()
#: Separates the groups of captured objects, so that none can shift into the next group.
_GROUP = object()


def _cannot_change(value: Any, depth: int = 0) -> bool:
    kind = type(value)
    if kind in _IMMUTABLE_TYPES or value is _MISSING:
        return True
    if kind is types.ModuleType:
        return _stored_by_name(value)
    if kind is type:  # an annotation such as ``float``; builtin types cannot be changed
        return value.__module__ == "builtins"
    if kind is types.BuiltinFunctionType:  # a bound builtin method pickles the object it is bound to
        owner = value.__self__
        return owner is None or (type(owner) is types.ModuleType and _stored_by_name(owner))
    if kind in (tuple, frozenset) and depth < 4:
        return all(_cannot_change(item, depth + 1) for item in value)
    return False


def _registered_by_value(module_name: str) -> bool:
    return any(
        module_name == name or module_name.startswith(name + ".")
        for name in cloudpickle.list_registry_pickle_by_value()
    )


def _stored_by_name(module: types.ModuleType) -> bool:
    """True for a module cloudpickle stores as its name alone: imported, not registered
    by value, and not a package (with a package it stores the submodules imported
    so far, which later imports change)."""
    name = module.__name__
    return sys.modules.get(name) is module and not hasattr(module, "__path__") and not _registered_by_value(name)


def _function_stored_by_name(func: types.FunctionType) -> bool:
    """True when cloudpickle stores ``func`` as module and name rather than by value
    (it stops doing so once a reload of the module replaces the function)."""
    found: Any = sys.modules.get(func.__module__)
    for part in func.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is func and not _registered_by_value(func.__module__)


def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """Every name the code (and the code nested in it) may look up as a global."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(_global_names(const))
    return tuple(sorted(names))


class FunctionPickles:
    """The pickles of recently queued functions, reused only when pickling again would
    store the same thing.

    That holds for a plain function whose code, names, defaults, annotations, closure,
    module globals and the objects its global names refer to are the very objects seen at
    the last pickle, and all of those are immutable: numbers, strings, tuples of
    them, and modules and builtins stored by name. Any other callable, or a function
    that reads a list, a dict, an instrument object, a package or any other value
    that can change in place, is pickled at every put, so that the journal keeps what
    it was at that put.

    Thread-safe: puts on several threads pickle at the same time, outside the
    queue's locks; pickling itself happens outside this one's lock too.
    """

    def __init__(self, kept: int = FUNCTION_PICKLES_KEPT) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        # id(function) -> (function, captured objects, digest, pickle). The entry holds
        # the function, so its id cannot be reused while the entry is here.
        self._entries: dict[int, tuple] = {}
        self._names: dict[types.CodeType, tuple[str, ...]] = {}  # the global names of each code seen

    def get(self, func: Any) -> tuple[bytes, bytes]:
        """(digest, pickle) of ``func``; raises whatever pickling raises, PickleTooLarge
        beyond :data:`MAX_STORED_ARGUMENT_BYTES`."""
        captured = self._captured(func) if type(func) is types.FunctionType else None
        with self._lock:
            entry = self._entries.pop(id(func), None)
        if captured is not None and entry is not None and entry[0] is func and _same_objects(entry[1], captured):
            digest, data = entry[2], entry[3]
        else:
            data = pickle_value(func, MAX_STORED_ARGUMENT_BYTES)
            digest = hashlib.blake2b(data, digest_size=16).digest()
        if captured is not None:
            with self._lock:
                if len(self._entries) >= self._kept:
                    del self._entries[next(iter(self._entries))]  # the least recently queued
                self._entries[id(func)] = (func, captured, digest, data)
        return digest, data

    def _captured(self, func: types.FunctionType) -> tuple | None:
        """The objects the function's pickle depends on, or None if any can change in place."""
        if func.__dict__:
            return None
        try:
            closure = tuple(cell.cell_contents for cell in func.__closure__ or ())
        except ValueError:  # a cell not yet assigned
            return None
        code = func.__code__
        names = self._names.get(code)
        if names is None:
            names = _global_names(code)
            with self._lock:
                self._names[code] = names
                if len(self._names) > self._kept:
                    del self._names[next(iter(self._names))]
        namespace = func.__globals__
        groups = (
            tuple(namespace.get(key, _MISSING) for key in _NAMESPACE_KEYS),
            tuple(namespace.get(name, _MISSING) for name in names),
            closure,
            func.__defaults__ or (),
            tuple(part for item in (func.__kwdefaults__ or {}).items() for part in item),
            tuple(part for item in func.__annotations__.items() for part in item),
        )
        if not all(_cannot_change(value) for group in groups for value in group):
            return None
        identity = (code, func.__name__, func.__qualname__, func.__module__, func.__doc__)
        return (*identity, _function_stored_by_name(func), *(x for group in groups for x in (_GROUP, *group)))


def _same_objects(old: tuple, new: tuple) -> bool:
    return len(old) == len(new) and all(map(operator.is_, old, new))


def encode_result(result: Any) -> tuple[bytes | None, str | None, str | None]:
    """(pickle, None, None) or, when it cannot be pickled or passes
    :data:`MAX_STORED_RESULT_BYTES`, (None, bounded repr, why)."""
    if result is None:
        return None, None, None
    try:
        data = pickle_value(result, MAX_STORED_RESULT_BYTES)
    except PickleTooLarge as exc:
        return None, _bounded_repr(result), f"{exc}, more than the journal keeps"
    except Exception as exc:
        return None, _bounded_repr(result), describe_error(exc)
    return data, None, None


def _bounded_repr(value: Any) -> str:
    return _RESULT_REPR.safe(value)[:MAX_RESULT_REPR]


def encode_exception(exception: BaseException | None) -> bytes | None:
    """The pickled exception, or None when there is none, it cannot be pickled or it
    passes :data:`MAX_STORED_RESULT_BYTES` (the traceback text is stored either way)."""
    if exception is None:
        return None
    try:
        return pickle_value(exception, MAX_STORED_RESULT_BYTES)
    except Exception:
        return None


def bounded_traceback(text: str | None) -> str | None:
    """Traceback text as stored: at most :data:`~core.engine.MAX_TRACEBACK_CHARS` long."""
    return None if text is None else cut_middle(text, MAX_TRACEBACK_CHARS)


#: Where each module of labqueue 0.1's flat layout (top-level ``core``) lives now, so
#: that a journal written before the move to one ``labqueue`` package still loads.
_MOVED_MODULES = {
    "core": "labqueue.core",
    "core.manager": "labqueue.core.manager",
    **{
        f"core.{name}": f"labqueue.core.engine.{name}"
        for name in ("experiment", "experiment_queue", "worker", "locks", "signals")
    },
    "core.journal": "labqueue.core.journal.store",
    "core.journal_db": "labqueue.core.journal.schema",
    "core.journal_codec": "labqueue.core.journal.codec",
    "core.history_filter": "labqueue.core.journal.history",
    "core.instance_lock": "labqueue.core.journal.instance_lock",
    "core.email_digest": "labqueue.core.notify.email_digest",
    "core.smtp_delivery": "labqueue.core.notify.smtp",
    "core.run_watch": "labqueue.core.notify.watchers",
    "core.settings": "labqueue.core.config.settings",
    "core.paths": "labqueue.core.config.paths",
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(_MOVED_MODULES.get(module, module), name)


def load_pickle(data: bytes) -> Any:
    """``pickle.loads`` that also reads pickles naming labqueue's modules by their old names."""
    return _Unpickler(io.BytesIO(data)).load()


def load_exception(data: bytes | None, traceback_text: str | None, title: str) -> BaseException | None:
    """The stored exception, or a :class:`StoredFailure` with the traceback if it does not load."""
    if data is not None:
        try:
            exc = load_pickle(data)
        except Exception:
            pass
        else:
            if isinstance(exc, BaseException):
                return exc
    if traceback_text is None and data is None:
        return None
    details = traceback_text or "(no traceback stored)"
    return StoredFailure(f"{title} failed in an earlier session:\n{details}")


def load_result(data: bytes | None, text: str | None) -> Any:
    if text is not None:
        return ResultNotStored(text)
    return None if data is None else load_pickle(data)


def encode_log(records: list[logging.LogRecord]) -> str | None:
    """The captured records as JSON ``[created, levelno, name, message]`` rows."""
    if not records:
        return None
    rows = []
    for record in records:
        message = record_message(record)  # bad %-arguments are shown, not lost
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = format_failure(record.exc_info[1]).rstrip("\n")
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        rows.append([record.created, record.levelno, record.name, cut_middle(message, MAX_LOG_MESSAGE_CHARS)])
    return json.dumps(rows)


def decode_log(text: str | None) -> list[logging.LogRecord]:
    if not text:
        return []
    records = []
    for created, levelno, name, message in json.loads(text):
        fields = {
            "created": created,
            "msecs": int((created - int(created)) * 1000) + 0.0,  # as LogRecord computes it
            "levelno": levelno,
            "levelname": logging.getLevelName(levelno),
            "name": name,
            "msg": message,
        }
        records.append(logging.makeLogRecord(fields))
    return records


def unavailable_call(reason: str) -> Callable[..., Any]:
    """A stand-in for a call that cannot be run: it raises :class:`CallNotStored`."""

    def call_not_stored(*args: Any, **kwargs: Any) -> Any:
        raise CallNotStored(reason)

    return call_not_stored
