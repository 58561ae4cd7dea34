"""Text of payloads of any size: reprs and tracebacks bounded *before* they are built.

A repr of a 1 GB bytes argument is 4 GB of text, and ``traceback.format_exception``
renders ``str()`` of an exception carrying it whole. Everything here looks at no more
of a value than it shows: a string or bytes is sliced before its repr is taken, a
container renders its first items until a budget of characters is spent (never
sorting or walking it), a huge int is described by its size. Only an object's own
``__repr__`` (or an exception's own ``__str__``) is called as it is, and its text cut.
"""

from __future__ import annotations

import reprlib
import traceback
from collections import deque
from itertools import islice
from typing import Any

__all__ = [
    "MAX_TRACEBACK_CHARS",
    "BoundedRepr",
    "cut_middle",
    "failure_message",
    "format_failure",
    "make_bounded_repr",
    "short_repr",
]

#: Longest traceback text kept of a failure (its start and its end; the middle is cut).
MAX_TRACEBACK_CHARS = 100_000
#: Sub-exceptions of an exception group shown in its traceback (as the traceback module does).
_MAX_GROUP_WIDTH = 15


class BoundedRepr(reprlib.Repr):
    """A :class:`reprlib.Repr` that never renders, sorts or walks more than it shows.

    Besides reprlib's limits, ``maxtotal`` bounds the text of one container: items are
    rendered one after another until it is spent, and the rest are counted.
    """

    maxtotal = 10_000

    def repr1(self, x: Any, level: int) -> str:
        # reprlib picks a method by type name, so a dict or list subclass would get the
        # builtin repr of all its items; shorten it like its base instead.
        for base in _SHORTENED_BASES:
            if isinstance(x, base) and type(x) is not base:
                return f"{type(x).__name__}({getattr(self, 'repr_' + base.__name__)(x, level)})"
        return super().repr1(x, level)

    def _items(self, x: Any, texts, level: int, left: str, right: str, limit: int, trail: str = "") -> str:
        """``left item, item, ... right`` from the lazily made ``texts`` of ``x``'s items."""
        if not x:
            return left + right
        if level <= 0:
            return f"{left}...{right}"
        shown: list[str] = []
        used = len(left) + len(right)
        for text in islice(texts, limit):
            shown.append(text)
            used += len(text) + 2
            if used > self.maxtotal:
                break
        if len(shown) < len(x):
            shown.append(f"... ({len(x)} items)")
        elif len(shown) == 1:
            shown[0] += trail
        return left + ", ".join(shown) + right

    def _each(self, items, level: int):
        return (self.repr1(item, level - 1) for item in items)

    def repr_list(self, x: list, level: int) -> str:
        return self._items(x, self._each(x, level), level, "[", "]", self.maxlist)

    def repr_tuple(self, x: tuple, level: int) -> str:
        return self._items(x, self._each(x, level), level, "(", ")", self.maxtuple, trail=",")

    def repr_set(self, x: set, level: int) -> str:
        if not x:
            return "set()"
        return self._items(x, self._each(x, level), level, "{", "}", self.maxset)

    def repr_frozenset(self, x: frozenset, level: int) -> str:
        if not x:
            return "frozenset()"
        return self._items(x, self._each(x, level), level, "frozenset({", "})", self.maxfrozenset)

    def repr_deque(self, x: deque, level: int) -> str:
        return self._items(x, self._each(x, level), level, "deque([", "])", self.maxdeque)

    def repr_array(self, x, level: int) -> str:
        if not x:
            return f"array({x.typecode!r})"
        return self._items(x, self._each(x, level), level, f"array({x.typecode!r}, [", "])", self.maxarray)

    def repr_dict(self, x: dict, level: int) -> str:
        pairs = (f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}" for key, value in x.items())
        return self._items(x, pairs, level, "{", "}", self.maxdict)

    def repr_str(self, x: str, level: int) -> str:
        return _cut_repr(repr(x[: self.maxstring]), len(x) > self.maxstring, len(x), "characters")

    def repr_bytes(self, x: bytes, level: int) -> str:
        return _cut_repr(repr(x[: self.maxstring]), len(x) > self.maxstring, len(x), "bytes")

    def repr_bytearray(self, x: bytearray, level: int) -> str:
        return _cut_repr(repr(x[: self.maxstring]), len(x) > self.maxstring, len(x), "bytes")

    def repr_int(self, x: int, level: int) -> str:
        # A decimal digit holds about 3.3 bits; beyond the limit the repr is not even
        # made (Python refuses ints of more than 4300 digits anyway).
        if x.bit_length() > 3.3 * self.maxlong:
            return f"<int of {x.bit_length()} bits>"
        text = repr(x)
        return _cut_repr(text[: self.maxlong], len(text) > self.maxlong, len(text), "digits")

    def repr_instance(self, x: Any, level: int) -> str:
        text = repr(x)
        return _cut_repr(text[: self.maxother], len(text) > self.maxother, len(text), "characters")

    def safe(self, value: Any) -> str:
        """The bounded repr of ``value``; a ``__repr__`` that raises gives a placeholder."""
        try:
            return self.repr(value)
        except Exception as exc:  # a broken __repr__ must not break the queue or the window
            return f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"


_SHORTENED_BASES = (dict, list, tuple, set, frozenset, str, bytes, bytearray)


def _cut_repr(text: str, cut: bool, size: int, unit: str) -> str:
    return f"{text}... ({size} {unit})" if cut else text


def make_bounded_repr(maxstring: int, maxother: int, maxitems: int, maxlevel: int) -> BoundedRepr:
    """A :class:`BoundedRepr` showing strings up to ``maxstring`` characters, other
    values up to ``maxother``, ``maxitems`` items per container (and about ``maxother``
    characters of them), ``maxlevel`` levels deep."""
    shortener = BoundedRepr()
    shortener.maxstring = maxstring
    shortener.maxother = maxother
    shortener.maxlong = maxother
    shortener.maxtotal = maxother
    shortener.maxlevel = maxlevel
    for attribute in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
        setattr(shortener, attribute, maxitems)
    return shortener


_SHORT = make_bounded_repr(maxstring=40, maxother=40, maxitems=6, maxlevel=2)
#: Exception messages in a traceback: enough to read, never the payload whole.
_MESSAGE = make_bounded_repr(maxstring=4000, maxother=4000, maxitems=20, maxlevel=3)


def short_repr(value: Any) -> str:
    """A repr short enough for a title or a table cell, whatever ``value`` is."""
    return _SHORT.safe(value)


def cut_middle(text: str, limit: int) -> str:
    """``text``, or its start and end with the middle cut out if it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... ({len(text) - 2 * half} characters cut) ...\n{text[-half:]}"


def _cut_message(text: str) -> str:
    limit = _MESSAGE.maxstring
    return _cut_repr(text[:limit], len(text) > limit, len(text), "characters")


def _str_shows_repr(value: Any) -> bool:
    """True when ``str(value)`` is its repr (containers, bytes, numbers, plain objects)."""
    return isinstance(value, bytes | bytearray | int | float) or type(value).__str__ is object.__str__


def failure_message(exc: BaseException) -> str:
    """``str(exc)`` at most about 4000 characters long; for exceptions with the builtin
    ``__str__`` made from their arguments' bounded reprs, never from a whole payload."""
    kind = type(exc)
    args = exc.args
    try:
        if kind.__str__ is BaseException.__str__:
            if not args:
                return ""
            if len(args) > 1:
                return _MESSAGE.safe(args)
            (arg,) = args
            if isinstance(arg, str):
                return _cut_message(arg)
            if _str_shows_repr(arg):
                return _MESSAGE.safe(arg)
            return _cut_message(str(arg))
        if kind.__str__ is KeyError.__str__ and len(args) == 1:
            return _MESSAGE.safe(args[0])
        return _cut_message(str(exc))
    except Exception:  # an exception whose message cannot be made still has a traceback
        return "<exception str() failed>"


def _exception_line(exc: BaseException) -> str:
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    message = failure_message(exc)
    line = f"{name}: {message}\n" if message else f"{name}\n"
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list | tuple):
        line += "".join(f"{_cut_message(note) if isinstance(note, str) else _MESSAGE.safe(note)}\n" for note in notes)
    return line


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _chain(exc: BaseException, seen: set[int]) -> list[tuple[BaseException, str | None]]:
    """``exc`` and the exceptions it came from, oldest first, each with the line that
    leads from it to the next one (None after ``exc`` itself)."""
    chain: list[tuple[BaseException, str | None]] = []
    link = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    chain.reverse()
    return chain


def _format(exc: BaseException, seen: set[int]) -> list[str]:
    lines: list[str] = []
    for current, link in _chain(exc, seen):
        if current.__traceback__ is not None:
            lines.append("Traceback (most recent call last):\n")
            lines += traceback.format_tb(current.__traceback__)
        lines.append(_exception_line(current))
        if isinstance(current, BaseExceptionGroup):
            for number, sub in enumerate(current.exceptions[:_MAX_GROUP_WIDTH], 1):
                lines.append(f"+---------------- {number} ----------------\n")
                lines += ["| " + line for text in _format(sub, seen) for line in text.splitlines(keepends=True)]
            hidden = len(current.exceptions) - _MAX_GROUP_WIDTH
            if hidden > 0:
                lines.append(f"+---------------- and {hidden} more ----------------\n")
        if link is not None:
            lines.append(link)
    return lines


def format_failure(exc: BaseException) -> str:
    """The traceback text of ``exc`` with its causes, like ``traceback.format_exception``,
    at most :data:`MAX_TRACEBACK_CHARS` long, and made without rendering more of a
    payload the exception carries than its message shows (about 4000 characters)."""
    return cut_middle("".join(_format(exc, set())), MAX_TRACEBACK_CHARS)
