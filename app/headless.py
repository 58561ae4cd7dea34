"""``labqueue --no-gui FILE``: run a script's experiments without a window."""

from __future__ import annotations

import runpy
import sys
import traceback
from pathlib import Path
from typing import TextIO

import labqueue
from labqueue.core import Experiment, ExpStatus, Manager, config
from labqueue.core.engine import failure_message, short_repr
from labqueue.core.notify import status_tally

from .demo import queue_demo
from .log_setup import log_to_terminal
from .services import start_services

#: How long Ctrl-C waits for the aborted job to return before giving up on it.
ABORT_GRACE_SECONDS = 10.0


def console_namespace(manager: Manager) -> dict:
    """Names a script (or the console) finds ready: ``manager`` and the public core API."""
    namespace = {name: getattr(labqueue, name) for name in labqueue.__all__}
    namespace["manager"] = manager
    return namespace


def summary_line(exp: Experiment, left_queued: bool = False) -> str:
    """One line per experiment: status, duration, title and result or error.

    ``left_queued``: it was still queued when the program stopped (its future was
    cancelled in this process only; the journal keeps it queued for next time).
    """
    duration = exp.duration
    took = f"{duration:8.2f} s" if duration is not None else "       - "
    status = ExpStatus.QUEUED if left_queued else exp.status
    if status is ExpStatus.QUEUED:
        return f"{status.name:<11} {took}  {exp.title}  (not run; it stays queued in the journal)"
    if status is ExpStatus.FINISHED:
        outcome = "-> " + short_repr(exp.result())
    elif status is ExpStatus.FAILED:
        error = exp.exception()
        outcome = f"!! {type(error).__name__}: {failure_message(error)}"
    else:
        outcome = ""
    return f"{status.name:<11} {took}  {exp.title}  {outcome}".rstrip()


def run_headless(
    script: Path | None,
    data_dir: Path | None = None,
    demo: bool = False,
    out: TextIO | None = None,
) -> int:
    """Run ``script`` (and/or the demo) to completion. Returns the process exit code:
    0 all finished, 1 something failed or was left unrun, 2 the script itself raised,
    130 interrupted by Ctrl-C."""
    out = out or sys.stdout
    log_to_terminal()
    # The program always keeps a journal: data_dir, else $LABQUEUE_DATA_DIR, else platformdirs'.
    manager = Manager(data_dir=config.data_dir(data_dir))
    services = start_services(manager, data_dir)
    known = {exp.id for exp in manager.job_queue.queue}
    restored_paused = manager.paused  # the journal brought back unfinished work
    exit_code = 0
    try:
        if demo:
            queue_demo(manager)
        if script is not None:
            try:
                runpy.run_path(str(script), init_globals=console_namespace(manager), run_name="__main__")
            except Exception:
                print(f"labqueue: {script} raised an error:", file=out)
                traceback.print_exc(file=out)
                exit_code = 2
        # Wake up every half second so Ctrl-C is handled promptly on every platform.
        while not manager.wait_until_idle(timeout=0.5):
            pass
    except KeyboardInterrupt:
        print("labqueue: interrupted, aborting the running experiment", file=out)
        manager.pause_worker()  # nothing new starts; the queued ones stay queued for next time
        manager.abort_job()
        exit_code = 130
    ours = [exp for exp in manager.job_queue.queue if exp.id not in known]
    # Read before shutdown, which cancels the queued futures in this process.
    left_queued = {exp.id for exp in manager.job_queue.queued if exp.status is ExpStatus.QUEUED}
    manager.shutdown(wait=True, abort_running=True, timeout=ABORT_GRACE_SECONDS)
    services.stop()
    statuses = []
    for exp in ours:
        kept = exp.id in left_queued
        statuses.append(ExpStatus.QUEUED if kept else exp.status)
        print(summary_line(exp, left_queued=kept), file=out)
    summary = status_tally(statuses)
    print(f"labqueue: {summary or 'nothing was queued'}", file=out)
    if left_queued and exit_code != 130:
        print(f"labqueue: the queue was paused with {len(left_queued)} experiment(s) not run", file=out)
        if restored_paused:
            print(
                "labqueue: it started paused because unfinished experiments came back from an earlier "
                "session (see the log above); call manager.resume_worker() in the script to run them, "
                "or manager.clear_all_jobs() to drop them",
                file=out,
            )
    if exit_code == 0 and (ExpStatus.FAILED in statuses or left_queued):
        exit_code = 1
    return exit_code
