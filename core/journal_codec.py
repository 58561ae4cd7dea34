"""Turning experiments into journal values and back: calls, results, exceptions, log lines.

Calls are pickled by value with cloudpickle, so a function typed into the console
comes back after a restart. Anything that cannot be pickled is reported, never
dropped silently: the caller gets the reason and decides what to mark and log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections.abc import Callable
from typing import Any

import cloudpickle

from .experiment import Experiment

__all__ = [
    "CallNotStored",
    "ResultNotStored",
    "StoredFailure",
    "decode_log",
    "encode_log",
    "pickle_value",
]

#: Longest repr kept for a result that cannot be pickled.
MAX_RESULT_REPR = 10_000
#: Largest pickled result kept in the journal. Bigger ones (a raw camera stack, say)
#: belong in a file the experiment writes; the journal keeps their repr. SQLite itself
#: refuses blobs near 1 GB, and pickling that much would hold up the queue.
MAX_STORED_RESULT_BYTES = 100 * 1024 * 1024

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


def pickle_value(value: Any) -> bytes:
    """cloudpickle ``value``; raises whatever pickling raises."""
    return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class CallEncoder:
    """Pickles the calls of one batch, each distinct function once.

    Caching only within a batch matters: a function pickled by value captures the
    globals it reads, which may change between two ``put`` calls.
    """

    def __init__(self) -> None:
        self._by_function: dict[int, bytes] = {}
        self.functions: dict[bytes, bytes] = {}  # digest -> pickle, to store

    def encode(self, exp: Experiment) -> tuple[bytes, bytes]:
        """(function digest, pickled arguments); raises if either cannot be pickled."""
        digest = self._by_function.get(id(exp.func))
        if digest is None:
            data = pickle_value(exp.func)
            digest = hashlib.blake2b(data, digest_size=16).digest()
            self.functions[digest] = data
            self._by_function[id(exp.func)] = digest
        if not exp.args and not exp.kwargs:
            return digest, _NO_ARGUMENTS
        return digest, pickle_value((exp.args, exp.kwargs))


def encode_result(result: Any) -> tuple[bytes | None, str | None, str | None]:
    """(pickle, None, None) or, when it cannot be pickled, (None, repr, why)."""
    if result is None:
        return None, None, None
    try:
        data = pickle_value(result)
    except Exception as exc:
        return None, _bounded_repr(result), describe_error(exc)
    if len(data) > MAX_STORED_RESULT_BYTES:
        megabytes = len(data) / 2**20
        return None, _bounded_repr(result), f"{megabytes:.0f} MB pickled, more than the journal keeps"
    return data, None, None


def _bounded_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    return text[:MAX_RESULT_REPR]


def encode_exception(exception: BaseException | None) -> bytes | None:
    """The pickled exception, or None (the traceback text is stored either way)."""
    if exception is None:
        return None
    try:
        return pickle_value(exception)
    except Exception:
        return None


def load_exception(data: bytes | None, traceback_text: str | None, title: str) -> BaseException | None:
    """The stored exception, or a :class:`StoredFailure` with the traceback if it does not load."""
    if data is not None:
        try:
            exc = pickle.loads(data)
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
    return None if data is None else pickle.loads(data)


def encode_log(records: list[logging.LogRecord]) -> str | None:
    """The captured records as JSON ``[created, levelno, name, message]`` rows."""
    if not records:
        return None
    rows = []
    for record in records:
        try:
            message = record.getMessage()
        except Exception:  # bad %-arguments: keep what there is
            message = str(record.msg)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        rows.append([record.created, record.levelno, record.name, message])
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
