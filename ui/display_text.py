"""Text shown for experiments: times, durations, outcomes and bounded reprs.

Every repr here is bounded *before* it is built (:class:`~core.engine.BoundedRepr`): a
result of a million items, a 100 MB string or a huge dict is summarised from its
first few items, never walked whole, so showing it cannot freeze the window.
"""

from __future__ import annotations

import inspect
import time
from datetime import datetime
from typing import Any

from labqueue.core import Experiment, ExpStatus
from labqueue.core.engine import failure_message, held_by, make_bounded_repr

__all__ = [
    "arguments_text",
    "cell_repr",
    "chain_text",
    "detail_repr",
    "error_text",
    "format_duration",
    "format_time",
    "outcome_text",
    "status_label",
]

#: Longest text of one value in the details pane; more is cut with a note.
DETAIL_MAX_CHARS = 20_000

_CELL = make_bounded_repr(maxstring=120, maxother=120, maxitems=8, maxlevel=2)
_DETAIL = make_bounded_repr(maxstring=DETAIL_MAX_CHARS, maxother=DETAIL_MAX_CHARS, maxitems=200, maxlevel=4)


def cell_repr(value: Any) -> str:
    """A one-line repr short enough for a table cell, whatever ``value`` is."""
    return _CELL.safe(value).replace("\n", " ")


def detail_repr(value: Any) -> str:
    """A readable repr for the details pane, at most about :data:`DETAIL_MAX_CHARS` long."""
    return _DETAIL.safe(value)


def status_label(exp: Experiment) -> str:
    """``Finished``, ``Running``, ...; ``Paused`` for a running one waiting in checkpoint()."""
    return "Paused" if exp.paused else exp.status.label


def format_time(timestamp: float | None, now: float | None = None) -> str:
    """``14:03:22`` for today, ``12 Mar 14:03`` for other days, ``""`` for None."""
    if timestamp is None:
        return ""
    moment = datetime.fromtimestamp(timestamp)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    if moment.date() == today:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%d %b %H:%M")


def format_duration(seconds: float | None) -> str:
    """``0.35 s``, ``12.4 s``, ``3 min 05 s``, ``2 h 07 min``; ``""`` for None."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def outcome_text(exp: Experiment, *, detailed: bool = False) -> str:
    """What came out of ``exp``: its result, its error, or why there is none.

    One line for a table cell; with ``detailed`` the full (bounded) repr of the result.
    Never blocks: an experiment that has not ended gives its progress message or "".
    """
    status = exp.status
    shorten = detail_repr if detailed else cell_repr
    if status is ExpStatus.FINISHED:
        return shorten(exp.result(timeout=0))
    if status is ExpStatus.FAILED:
        return error_text(exp.exception(timeout=0), detailed=detailed)
    if status is ExpStatus.ABORTED:
        partial = exp.partial_result
        return "Aborted" if partial is None else f"Aborted, returned {shorten(partial)}"
    if status is ExpStatus.CANCELLED:
        return f"Cancelled: {exp.cancel_reason}" if exp.cancel_reason else "Cancelled before it ran"
    if status is ExpStatus.INTERRUPTED:
        return "Interrupted: the program stopped while it ran"
    if status is ExpStatus.RUNNING:
        return exp.progress[1]
    return queued_text(exp)


def queued_text(exp: Experiment) -> str:
    """Why a queued experiment is not next: the upstream it waits for, or its retry time."""
    upstream = exp.waiting_for
    if upstream is not None:
        blocker = held_by(exp)
        if blocker is not None:
            return f"waiting for {upstream.title}; {blocker.title} {_needs(blocker)}"
        return f"waiting for {upstream.title}"
    if exp.not_before is not None and exp.not_before > time.time():
        return f"attempt {exp.attempt} at {time.strftime('%H:%M:%S', time.localtime(exp.not_before))}"
    return ""


def _needs(blocker: Experiment) -> str:
    if blocker.status is ExpStatus.INTERRUPTED:
        return "was interrupted: requeue it"
    return "is on no queue: put it on one"


def error_text(error: BaseException | None, *, detailed: bool = False) -> str:
    """``TimeoutError: lock-in did not answer``, first line only unless ``detailed``."""
    if error is None:
        return ""
    message = failure_message(error)  # bounded: the error may carry a huge payload
    message = message[:DETAIL_MAX_CHARS] if detailed else message.strip().split("\n", 1)[0][:300]
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def arguments_text(exp: Experiment) -> str:
    """One line per argument, ``name = repr``, bound to the function's signature when possible."""
    lines = [f"function: {getattr(exp.func, '__module__', '?')}.{exp.func_name}"]
    try:
        bound = inspect.signature(exp.func).bind(*exp.args, **exp.kwargs)
    except (TypeError, ValueError):
        pairs = [(f"[{i}]", value) for i, value in enumerate(exp.args)] + list(exp.kwargs.items())
    else:
        pairs = list(bound.arguments.items())
    if not pairs:
        lines.append("(no arguments)")
    lines += [f"{name} = {detail_repr(value)}" for name, value in pairs]
    return "\n".join(lines)


#: What a downstream does when its upstream does not finish, as a reader would say it.
_POLICY_TEXT = {
    "skip": "cancelled if it does not finish",
    "continue": "runs anyway if it does not finish",
    "stop_study": "stops the study if it does not finish",
}


def chain_text(exp: Experiment) -> str:
    """What ``exp`` waits for and what happens if that fails, and its attempt; one line
    each (empty for an experiment outside any chain)::

        after 3a5e2fb2 calibrate() (Finished), result as gain: cancelled if it does not finish
        attempt 2 of 3 (retried on OSError, 30 s after a failure)
    """
    lines = []
    for link in exp.links:
        upstream = link.current
        fed = ""
        if isinstance(link.feed, str):
            fed = f", result as {link.feed}"
        elif isinstance(link.feed, int):
            fed = f", result as argument {link.feed + 1}"
        lines.append(
            f"after {upstream.id[:8]} {upstream.title} ({upstream.status.label}){fed}: {_POLICY_TEXT[link.on_failure]}"
        )
    retry = exp.retry
    if retry is not None:
        on = ", ".join(kind.__name__ for kind in retry.on)
        delay = f", {format_duration(retry.delay)} after a failure" if retry.delay else ""
        lines.append(f"attempt {exp.attempt} of {retry.retries + 1} (retried on {on}{delay})")
    elif exp.attempt > 1:
        lines.append(f"attempt {exp.attempt}")
    return "\n".join(lines)
