"""What ``labqueue --no-gui`` prints while the queue runs: one line per experiment as
it ends and, on a terminal, a live status line below them.

The status line is drawn with rich's ``Live``, which redraws a region under the
lines printed above it and lets ``print()`` and log lines from the script and its
experiments through (above the region) while it is shown. When stdout is not a
terminal nothing but plain lines is written: no escape codes, no redraws.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from operator import attrgetter
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from labqueue.core import Experiment, ExpStatus, Manager
from labqueue.core.engine import INTERNAL_PRIORITY, failure_message, short_repr

__all__ = ["DurationEstimates", "RunReporter", "experiment_line", "format_seconds"]

#: How often the status line is redrawn at most (and at least, for the running time).
REFRESH_SECONDS = 0.25

_STATUS_STYLES = {
    ExpStatus.FINISHED: "green",
    ExpStatus.FAILED: "bold red",
    ExpStatus.ABORTED: "yellow",
    ExpStatus.INTERRUPTED: "yellow",
    ExpStatus.CANCELLED: "dim",
}

# Items on the reporter's queue besides ended experiments.
_REFRESH = object()  # something changed: redraw the status line
_PROGRESS = object()  # the running experiment reported progress
_STOP = object()


def experiment_line(exp: Experiment, *, left_queued: bool = False, earlier: bool = False) -> str:
    """One line for an experiment: status, duration, title and result or error.

    ``left_queued``: it was still queued when the program stopped (the journal keeps
    it queued for next time). ``earlier``: it was queued by an earlier run.
    """
    duration = exp.duration
    took = f"{duration:8.2f} s" if duration is not None else "       -  "
    if left_queued:
        status_name, outcome = "QUEUED", "(not run; it stays queued in the journal)"
    else:
        status_name, outcome = exp.status.name, _outcome(exp)
    origin = "  [queued by an earlier run]" if earlier else ""
    return f"{status_name:<11} {took}  {exp.title}  {outcome}".rstrip() + origin


def _outcome(exp: Experiment) -> str:
    if exp.status is ExpStatus.FINISHED:
        return "-> " + short_repr(exp.result())
    if exp.status is ExpStatus.FAILED:
        error = exp.exception()
        return f"!! {type(error).__name__}: {failure_message(error)}"  # bounded: it may carry a payload
    return ""


def format_seconds(seconds: float) -> str:
    """``12 s``, ``3 min 05 s``, ``2 h 07 min``: a time left, to the second at best."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class DurationEstimates:
    """Mean duration of the finished runs of each function (by qualified name), to
    estimate the time left.

    The window's estimator (``ui/queue_stats.py``) does the same but lives in the Qt
    layer, which the headless program must not import.
    """

    def __init__(self, finished: Iterable[Experiment] = ()) -> None:
        self._totals: dict[str, tuple[float, int]] = {}
        for exp in finished:
            self.add(exp)

    def add(self, exp: Experiment) -> None:
        """Learn from ``exp`` if it finished (failed and aborted runs say nothing of the time a run takes)."""
        if exp.status is ExpStatus.FINISHED and exp.duration is not None:
            total, count = self._totals.get(exp.func_name, (0.0, 0))
            self._totals[exp.func_name] = (total + exp.duration, count + 1)

    def estimate(self, func_name: str) -> float | None:
        """Expected duration of one run of ``func_name``, or None if none finished yet."""
        total, count = self._totals.get(func_name, (0.0, 0))
        return total / count if count else None

    def time_left(self, running: Experiment | None, queued: list[Experiment]) -> tuple[float, int]:
        """Seconds until ``running`` and ``queued`` are done, and how many of them have no estimate."""
        seconds, unknown = 0.0, 0
        # Counted per function first: a sweep queues thousands of calls of a few functions.
        funcs = list(map(attrgetter("func"), queued))
        one_of_each = dict(zip(funcs, queued, strict=True))
        for func, count in Counter(funcs).items():
            estimate = self.estimate(one_of_each[func].func_name)
            if estimate is None:
                unknown += count
            else:
                seconds += estimate * count
        if running is not None:
            estimate = self.estimate(running.func_name)
            if estimate is None:
                unknown += 1
            else:
                seconds += max(0.0, estimate - (running.duration or 0.0))
        return seconds, unknown


class RunReporter:
    """Prints each experiment's line as it ends, and on a terminal a live status line
    (counts per status, the running experiment and its progress, the time left).

    The manager's signals fire on the worker thread: the slots only put what happened
    on a queue, and the reporter's own thread prints it. So a slow terminal never holds
    up a measurement, and the lines keep coming while the main thread is busy in the
    script (which may well wait for a result before it queues the next experiment).

    ``earlier``: ids of the experiments that were queued before this run (restored
    from the journal); their lines say so.
    """

    def __init__(self, manager: Manager, out: TextIO, earlier: set[str]) -> None:
        self._manager = manager
        self._out = out
        self._earlier = earlier
        self._events: queue.Queue = queue.Queue()
        self._reported: set[str] = set()
        self._ended: Counter[ExpStatus] = Counter()
        self._estimates = DurationEstimates(manager.job_queue.history)
        self._progress_pending = False
        self._live: Live | None = None
        self._log_streams: dict[logging.StreamHandler, TextIO] = {}
        self._thread = threading.Thread(target=self._run, name="labqueue-report", daemon=True)
        #: The latest experiment that failed in this run, or None.
        self.last_failure: Experiment | None = None
        console = Console(file=out, highlight=False) if out.isatty() else None
        if console is not None and console.is_interactive:
            # Everything written to stderr goes above the status line too, but only
            # when stderr is the terminal: a `2> file` stays a file.
            self._live = Live(
                console=console,
                auto_refresh=False,
                transient=True,
                redirect_stdout=True,
                redirect_stderr=sys.stderr.isatty(),
            )

    # -- life cycle (main thread) ------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the manager, show the status line, start printing."""
        queue_signals = self._manager.job_queue
        queue_signals.status_changed_signal.connect(self._on_status_changed, priority=INTERNAL_PRIORITY)
        queue_signals.removed_signal.connect(self._on_removed, priority=INTERNAL_PRIORITY)
        if self._live is not None:
            self._manager.progress_signal.connect(self._on_progress, priority=INTERNAL_PRIORITY)
            terminal_handlers = _terminal_log_handlers()
            stdout, stderr = sys.stdout, sys.stderr
            self._live.start()
            # A log handler holds the stream it was made with, not sys.stderr: point it
            # at the redirected one so its lines go above the status line, not through it.
            for handler, stream in terminal_handlers.items():
                redirected = {id(stdout): sys.stdout, id(stderr): sys.stderr}[id(stream)]
                if redirected is not stream:
                    self._log_streams[handler] = handler.setStream(redirected)
        self._thread.start()

    def close(self) -> None:
        """Print what is still on the queue, stop the status line and unsubscribe.
        Call once the manager has shut down, so that every ending was announced."""
        queue_signals = self._manager.job_queue
        queue_signals.status_changed_signal.disconnect(self._on_status_changed)
        queue_signals.removed_signal.disconnect(self._on_removed)
        self._events.put(_STOP)
        self._thread.join()
        if self._live is not None:
            self._manager.progress_signal.disconnect(self._on_progress)
            for handler, stream in self._log_streams.items():
                handler.setStream(stream)
            self._live.stop()
            self._live = None

    def report_ended(self, exp: Experiment) -> None:
        """Print ``exp``'s line unless it was printed already (after :meth:`close`, on
        the caller's thread; before, only the reporter's thread calls this)."""
        if exp.id in self._reported:
            return
        self._reported.add(exp.id)
        self._ended[exp.status] += 1
        self._estimates.add(exp)
        if exp.status is ExpStatus.FAILED:
            self.last_failure = exp
        line = experiment_line(exp, earlier=exp.id in self._earlier)
        if self._live is None:
            # One write: print() writes the newline apart, and the job may print meanwhile.
            self._out.write(line + "\n")
            self._out.flush()
        else:
            text = Text(line)
            text.stylize(_STATUS_STYLES.get(exp.status, ""), 0, len(exp.status.name))
            # soft_wrap: a long title wraps in the terminal, not with line breaks of rich's.
            self._live.console.print(text, soft_wrap=True)

    # -- slots (worker thread): hand over, nothing more --------------------------------

    def _on_status_changed(self, _index: int, status: ExpStatus, exp: Experiment) -> None:
        self._events.put(exp if status.is_terminal else _REFRESH)

    def _on_removed(self, _i_start: int, _n_items: int, experiments: list[Experiment]) -> None:
        for exp in experiments:
            self._events.put(exp)

    def _on_progress(self, _exp: Experiment, _fraction: float | None, _message: str) -> None:
        # One pending redraw is enough however often a job reports: the status line
        # reads the latest progress when it is drawn. (A lost race only costs one
        # extra item or a redraw at the next tick.)
        if not self._progress_pending:
            self._progress_pending = True
            self._events.put(_PROGRESS)

    # -- the reporter's thread ---------------------------------------------------------

    def _run(self) -> None:
        next_redraw = 0.0
        while True:
            try:
                item = self._events.get(timeout=REFRESH_SECONDS)
            except queue.Empty:
                item = _REFRESH
            if item is _STOP:
                return
            if item is _PROGRESS:
                self._progress_pending = False
            elif isinstance(item, Experiment):
                self.report_ended(item)
            now = time.monotonic()
            if self._live is not None and now >= next_redraw:
                self._live.update(self._status_line(), refresh=True)
                next_redraw = now + REFRESH_SECONDS

    def _status_line(self) -> Text:
        job_queue = self._manager.job_queue
        running = job_queue.running_experiment
        queued = job_queue.queued
        counts = Counter(self._ended)
        counts[ExpStatus.RUNNING] += running is not None
        counts[ExpStatus.QUEUED] += len(queued)
        line = Text(no_wrap=True, overflow="ellipsis")
        tally = " · ".join(f"{counts[s]} {s.name.lower()}" for s in ExpStatus if counts[s])
        line.append(tally or "nothing queued yet", style="bold")
        if running is not None or queued:
            seconds, unknown = self._estimates.time_left(running, queued)
            if unknown == len(queued) + (running is not None):
                line.append("  │  time left: no estimate yet")
            else:
                line.append(f"  │  ≈ {format_seconds(seconds)} left")
                if unknown:
                    line.append(f" (+{unknown} without estimate)")
        line.append("  │  ")
        if running is not None:
            fraction, message = running.progress
            line.append("▶ ", style="bold cyan")
            line.append(running.title, style="cyan")
            if fraction is not None:
                line.append(f"  {fraction:.0%}", style="bold")
            if message:
                line.append(f"  {message}")
            line.append(f"  ({format_seconds(running.duration or 0.0)})", style="dim")
        elif self._manager.paused:
            line.append("paused", style="yellow")
        else:
            line.append("waiting for experiments", style="dim")
        # One screen line exactly: a wrapped status line would be redrawn in the wrong place.
        line.truncate(max(1, self._live.console.width - 1), overflow="ellipsis")
        return line


def _terminal_log_handlers() -> dict[logging.StreamHandler, TextIO]:
    """The log handlers that write to the terminal (stdout or stderr), with their streams."""
    handlers = [*logging.getLogger().handlers, *logging.getLogger("labqueue").handlers]
    return {
        handler: handler.stream
        for handler in handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
        and handler.stream in (sys.stdout, sys.stderr)
    }
