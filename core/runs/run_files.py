"""What a run directory holds, and the few file operations on it that labqueue does.

A run directory (one per command run) holds what the run was given (``params.json``,
its input files) and what it wrote: ``stdout.txt`` and ``stderr.txt``, any files of its
own, ``results.pkl`` from ``postRunResults()``, and the completion marker
``LABQUEUE_FINISHED`` that labqueue writes when the run succeeded. Earlier attempts'
output is in ``attempt-1/``, ``attempt-2/``, ... File operations are few on purpose:
on a network or overlay file system each costs a good part of a millisecond.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Collection
from pathlib import Path

__all__ = [
    "FINISHED_MARKER",
    "PARAMS_FILE",
    "RESULTS_FILE",
    "RUN_DIR_ENV",
    "STDERR_FILE",
    "STDOUT_FILE",
    "is_finished",
    "tail_lines",
]

STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"
PARAMS_FILE = "params.json"
RESULTS_FILE = "results.pkl"
#: Written by labqueue into a run directory when its run succeeded (Merlin's MERLIN_FINISHED).
FINISHED_MARKER = "LABQUEUE_FINISHED"
#: The environment variable naming a command's run directory, for getRunParams() and postRunResults().
RUN_DIR_ENV = "LABQUEUE_RUN_DIR"
#: Files labqueue itself writes into a run directory.
_OWN_OUTPUTS = (STDOUT_FILE, STDERR_FILE, RESULTS_FILE, FINISHED_MARKER)


def is_finished(run_dir: str | Path) -> bool:
    """True if the run in ``run_dir`` succeeded (its completion marker is there)."""
    return (Path(run_dir) / FINISHED_MARKER).is_file()


def write_small_file(path: str, data: bytes) -> None:
    """Create or replace the file ``path`` with ``data``, in as few calls as the OS allows
    (a run folder's small files are written once a run, thousands of runs a sweep)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        left = memoryview(data)
        while left:  # a short write (a disk nearly full) goes on, and then fails as it should
            left = left[os.write(fd, left) :]
    except OSError:
        os.close(fd)
        os.unlink(path)  # no cut-short file that would pass for a whole one
        raise
    os.close(fd)


def write_finished(run_dir: str, experiment_id: str) -> None:
    """Write the completion marker. Written after the run exited with 0, so even a
    marker cut short by a crash tells the truth: the run finished."""
    marker = json.dumps({"experiment": experiment_id, "at": time.time()}).encode()
    write_small_file(os.path.join(run_dir, FINISHED_MARKER), marker)


def begin_attempt(run_dir: Path, inputs: Collection[str] | None = None) -> Path | None:
    """Get ``run_dir`` ready for an attempt; returns where an earlier attempt's output went, or None.

    A run directory that saw an attempt before (it has a ``stdout.txt``) keeps its
    inputs; the output of that attempt moves into ``attempt-N/`` (the next free N)
    rather than mixing with the new one. With ``inputs`` (the names of the entries
    multirun prepared, ``params.json`` aside) output is every other entry; without,
    only the files labqueue writes, so a scientist's own files are never moved.
    Raises OSError when the directory cannot be created or written.
    """
    if inputs is None:  # multirun made the folders it prepared; others may be new
        run_dir.mkdir(parents=True, exist_ok=True)
    if not os.path.exists(os.path.join(run_dir, STDOUT_FILE)):  # the common case, without pathlib
        return None
    if inputs is not None:
        keep = {*inputs, PARAMS_FILE}
        outputs = [p for p in run_dir.iterdir() if p.name not in keep and not p.name.startswith("attempt-")]
    else:
        outputs = [run_dir / name for name in _OWN_OUTPUTS if (run_dir / name).exists()]
    number = 1 + sum(1 for p in run_dir.glob("attempt-*") if p.is_dir())
    aside = run_dir / f"attempt-{number}"
    while aside.exists():
        number += 1
        aside = run_dir / f"attempt-{number}"
    aside.mkdir()
    for path in outputs:
        shutil.move(path, aside / path.name)
    return aside


def tail_lines(path: str | Path, lines: int = 20, max_bytes: int = 64 * 1024) -> list[str]:
    """The last ``lines`` lines of a text file, reading at most its last ``max_bytes``
    (a run's output may be gigabytes). A missing file has no lines. Undecodable
    bytes are replaced."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read(max_bytes)
    except FileNotFoundError:
        return []
    text = data.decode("utf-8", errors="replace")
    found = text.splitlines()
    if size > max_bytes and found:
        found = found[1:]  # the first one is probably cut
    return found[-lines:] if lines > 0 else []
