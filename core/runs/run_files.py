"""What a run directory holds, and the few file operations on it that labqueue does.

A run directory (one per command run) holds what the run was given (``params.json``,
its input files) and what it wrote: ``stdout.txt`` and ``stderr.txt``, any files of its
own, ``results.pkl`` from ``postRunResults()``, and the completion marker
``LABQUEUE_FINISHED`` that labqueue writes when the run succeeded. ``.labqueue/``
keeps labqueue's notes: that an attempt started, and which entries are inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
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
STATE_DIR = ".labqueue"
_STARTED = "started"
_INPUTS = "inputs.json"
#: Files labqueue itself writes into a run directory it did not prepare.
_OWN_OUTPUTS = (STDOUT_FILE, STDERR_FILE, RESULTS_FILE, FINISHED_MARKER)


def is_finished(run_dir: str | Path) -> bool:
    """True if the run in ``run_dir`` succeeded (its completion marker is there)."""
    return (Path(run_dir) / FINISHED_MARKER).is_file()


def write_finished(run_dir: Path, experiment_id: str) -> None:
    """Write the completion marker (atomically: a crash leaves it whole or absent)."""
    _write_atomically(run_dir / FINISHED_MARKER, json.dumps({"experiment": experiment_id, "at": time.time()}))


def record_inputs(run_dir: Path, names: list[str]) -> None:
    """Note which entries of a prepared run directory are inputs (kept between attempts)."""
    state = run_dir / STATE_DIR
    state.mkdir(exist_ok=True)
    _write_atomically(state / _INPUTS, json.dumps(sorted(names)))


def begin_attempt(run_dir: Path) -> Path | None:
    """Get ``run_dir`` ready for an attempt; returns where an earlier attempt's output went, or None.

    A run directory that saw an attempt before keeps its inputs; the output of that
    attempt moves into ``attempt-N/`` (the next free N) rather than mixing with the new
    one. In a directory labqueue prepared, output is everything but the inputs; in
    any other, only the files labqueue writes (its own stdout.txt and the like), so
    a scientist's files are never moved. Raises OSError when the directory cannot be
    created or written.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    state = run_dir / STATE_DIR
    started = state / _STARTED
    moved_to = None
    if started.exists():
        moved_to = _move_output_aside(run_dir)
    state.mkdir(exist_ok=True)
    started.write_text(str(time.time()))
    return moved_to


def _move_output_aside(run_dir: Path) -> Path | None:
    inputs_file = run_dir / STATE_DIR / _INPUTS
    if inputs_file.exists():
        keep = {*json.loads(inputs_file.read_text()), STATE_DIR, PARAMS_FILE}
        outputs = [p for p in run_dir.iterdir() if p.name not in keep and not p.name.startswith("attempt-")]
    else:
        outputs = [run_dir / name for name in _OWN_OUTPUTS if (run_dir / name).exists()]
    if not outputs:
        return None
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


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
