"""Tracebacks as a scientist reads them: the error first, then the frames of their own
code, with labqueue's own frames (the worker that called the job, checkpoint() that
raised) folded into one line each run."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path

__all__ = ["is_plain_abort", "readable_traceback"]

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+')


@cache
def _labqueue_folders() -> tuple[str, ...]:
    """Where labqueue's own modules live (its packages map to several folders)."""
    folders = []
    for name in ("labqueue", "labqueue.core", "labqueue.ui", "labqueue.app"):
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            folders.append(str(Path(location).resolve()) + "/")
    return tuple(folders)


def _is_labqueue_frame(path: str) -> bool:
    try:
        resolved = str(Path(path).resolve())
    except (OSError, ValueError):
        return False
    return resolved.startswith(_labqueue_folders())


def readable_traceback(text: str, fold: bool = True) -> tuple[str, int]:
    """``text`` (a formatted traceback) with its last line, the error, put first, and
    with ``fold`` each run of labqueue's frames replaced by one line. Returns the text
    and how many frames were folded."""
    lines = text.rstrip("\n").splitlines()
    if not lines:
        return "", 0
    error = next((line for line in reversed(lines) if line.strip() and not line.startswith(" ")), "")
    out: list[str] = []
    folded = run = 0
    i = 0
    while i < len(lines):
        match = _FRAME.match(lines[i])
        if match is None:
            if run:
                out.append(_fold_line(run))
                run = 0
            out.append(lines[i])
            i += 1
            continue
        end = i + 1  # the frame's source line, caret lines and the like, up to the next frame
        while end < len(lines) and lines[end].startswith("    ") and not _FRAME.match(lines[end]):
            end += 1
        if fold and _is_labqueue_frame(match["path"]):
            run += 1
            folded += 1
        else:
            if run:
                out.append(_fold_line(run))
                run = 0
            out.extend(lines[i:end])
        i = end
    if run:
        out.append(_fold_line(run))
    return f"{error}\n\n" + "\n".join(out), folded


def _fold_line(count: int) -> str:
    return f"  ⋯ {count} labqueue frame{'s' if count != 1 else ''} folded"


def is_plain_abort(text: str | None) -> bool:
    """True when the traceback is just that of ``Aborted``, raised by ``checkpoint()``
    on an abort that was asked for: nothing went wrong, so there is nothing to show."""
    if not text:
        return False
    last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
    name = last.split(":", 1)[0].strip()
    return name == "Aborted" or name.endswith(".Aborted")
