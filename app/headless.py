"""``labqueue --no-gui FILE``: run a script's experiments without a window.

The script runs as ``python FILE`` would run it, with ``manager`` and the public
core names defined; then the program waits until the queue is empty (or paused),
printing each experiment's line as it ends, and ends with a summary and an exit
code (:class:`~labqueue.app.exit_codes.ExitCode`). Ctrl-C and SIGTERM abort the
running experiment and still print the summary.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import threading
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import labqueue
from labqueue.core import Experiment, ExpStatus, Manager, config
from labqueue.core.engine import held_by
from labqueue.core.notify import status_tally

from .data_dir import check_data_dir
from .demo import queue_demo
from .exit_codes import ExitCode
from .log_setup import log_to_terminal
from .run_report import RunReporter, experiment_line
from .script import Script, load_script, run_script, script_environment, script_traceback
from .services import Services, start_services

__all__ = ["ABORT_GRACE_SECONDS", "console_namespace", "run_headless"]

#: How long a stop waits for the aborted job to return before giving up on it.
ABORT_GRACE_SECONDS = 10.0
#: Titles named when saying what a failed script had queued.
TITLES_NAMED = 5

_UNSUCCESSFUL = frozenset({ExpStatus.FAILED, ExpStatus.ABORTED, ExpStatus.INTERRUPTED})


def console_namespace(manager: Manager) -> dict:
    """Names a script (or the console) finds ready: ``manager`` and the public core API."""
    namespace = {name: getattr(labqueue, name) for name in labqueue.__all__}
    namespace["manager"] = manager
    return namespace


class _Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that it unwinds like Ctrl-C."""


def run_headless(
    script: Path | None,
    data_dir: Path | None = None,
    demo: bool = False,
    out: TextIO | None = None,
    script_args: Sequence[str] = (),
    continue_on_failure: bool = False,
    dask_scheduler: str | None = None,
) -> int:
    """Run ``script`` (with ``sys.argv[1:] == script_args``) and/or the demo until the
    queue is empty or paused; returns the :class:`ExitCode`.

    Experiment lines and the summary go to ``out`` (default stdout), labqueue's
    messages to stderr. ``continue_on_failure`` keeps the queue going after a failure.
    ``dask_scheduler``: the Dask lane's scheduler (``--dask-scheduler``).

    Raises, before anything is written: :class:`~labqueue.app.script.ScriptError`
    when the script cannot be read or compiled, then
    :class:`~labqueue.app.data_dir.UnusableDataDir`,
    :class:`~labqueue.core.DataDirectoryInUse` or :class:`~labqueue.core.JournalError`
    when the data directory cannot be used.
    """
    loaded = load_script(script) if script is not None else None
    directory = config.data_dir(data_dir)
    check_data_dir(directory)
    log_to_terminal()
    # Entered before the journal is read: calls queued by an earlier run of a script in
    # the same folder load only with that folder on sys.path (its `import helpers`).
    # Left only once the queue is done: the experiments run after the script body and
    # may import from its folder or read sys.argv too.
    with _script_environment(loaded, script_args) as module:
        manager = Manager(data_dir=directory)
        try:
            services = start_services(manager, data_dir, dask_scheduler=dask_scheduler)
        except BaseException:
            manager.shutdown()
            raise
        if continue_on_failure:
            manager.pause_on_failure = False  # after start_services, which applied config.toml's setting
        return _HeadlessRun(manager, out or sys.stdout, loaded).run(module, demo, services)


@contextlib.contextmanager
def _script_environment(script: Script | None, args: Sequence[str]) -> Iterator[types.ModuleType | None]:
    if script is None:
        yield None
        return
    with script_environment(script, args) as module:
        yield module


class _HeadlessRun:
    """One run: the script, the wait, the stop and the summary."""

    def __init__(self, manager: Manager, out: TextIO, script: Script | None) -> None:
        self.manager = manager
        self.out = out
        self.script = script
        queue = manager.job_queue
        # What the journal brought back: the queued ones were queued by an earlier run.
        self.known = {exp.id for exp in queue.snapshot().experiments}  # cancelled ones too
        self.earlier = {exp.id for exp in queue.queued}
        self.started_paused = manager.paused
        self.reporter = RunReporter(manager, out, self.earlier)
        #: Set once the run stops; a Ctrl-C or SIGTERM after that is ignored.
        self.stopping = False
        #: Whether the queue was paused when the run stopped.
        self.paused_at_end = False
        self.held_by: Experiment | None = None  # an interrupted upstream that left work queued

    def run(self, module: types.ModuleType | None, demo: bool, services: Services) -> int:
        """Run the demo and the script in ``module`` until the queue is done, stop, print
        the summary; returns the exit code."""
        stopped_by: ExitCode | None = None
        script_failed = False
        with self._stop_signals_handled():
            try:
                try:
                    self.reporter.start()
                    if demo:
                        queue_demo(self.manager)
                    if self.script is not None:
                        script_failed = not self._run_script(module)
                    # Wake up every half second so Ctrl-C is handled promptly on every platform.
                    while not self.manager.wait_until_idle(timeout=0.5):
                        pass
                except KeyboardInterrupt:
                    stopped_by = ExitCode.INTERRUPTED
                except _Terminated:
                    stopped_by = ExitCode.TERMINATED
            finally:
                self.stopping = True
                left = self._stop(stopped_by)
                services.stop()
            unsuccessful = self._summary(left, stopped_by)
        if stopped_by is not None:
            return stopped_by
        if script_failed:
            return ExitCode.SCRIPT_ERROR
        return ExitCode.FAILED if unsuccessful or left else ExitCode.OK

    @contextlib.contextmanager
    def _stop_signals_handled(self) -> Iterator[None]:
        """While inside, Ctrl-C raises KeyboardInterrupt and SIGTERM :class:`_Terminated`
        in the main thread, until :attr:`stopping` is set: from then on they are ignored,
        as a second one would lose the summary and the stop is bounded anyway
        (:data:`ABORT_GRACE_SECONDS` for the aborted job)."""
        if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
            yield
            return

        def on_signal(signum: int, _frame: object) -> None:
            if self.stopping:
                return
            raise KeyboardInterrupt if signum == signal.SIGINT else _Terminated

        previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _run_script(self, module: types.ModuleType) -> bool:
        """Run the script; False if it raised (or exited with an error status)."""
        try:
            run_script(self.script, module, console_namespace(self.manager))
            return True
        except SystemExit as exc:
            if exc.code is None or exc.code == 0:
                return True
            if not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)  # sys.exit("message"), as python shows it
            print(f"labqueue: {self.script.path} exited with status {exc.code}", file=sys.stderr)
        except Exception as exc:
            print(script_traceback(exc, self.script), file=sys.stderr)
            print(f"labqueue: {self.script.path} raised {type(exc).__name__}", file=sys.stderr)
        # What it queued before the error was queued on purpose: it runs as usual.
        queued = [exp for exp in self._session() if exp.id not in self.earlier]
        if not queued:
            print("labqueue: it had queued no experiment", file=sys.stderr)
        else:
            titles = ", ".join(exp.title for exp in queued[:TITLES_NAMED])
            more = f" and {len(queued) - TITLES_NAMED} more" if len(queued) > TITLES_NAMED else ""
            print(
                f"labqueue: the {len(queued)} experiment(s) it queued before that run as usual: {titles}{more}",
                file=sys.stderr,
            )
        return False

    def _session(self) -> list[Experiment]:
        """This run's experiments, and the earlier run's that were queued at its start, in queue order."""
        # The snapshot, not the queue: cancelled experiments (a skipped downstream) left the queue.
        experiments = self.manager.job_queue.snapshot().experiments
        return [exp for exp in experiments if exp.id not in self.known or exp.id in self.earlier]

    def _stop(self, stopped_by: ExitCode | None) -> set[str]:
        """Stop the manager and the reporter; returns the ids of the experiments left queued."""
        manager = self.manager
        if stopped_by is not None:
            why = "interrupted" if stopped_by is ExitCode.INTERRUPTED else "terminated (SIGTERM)"
            print(f"labqueue: {why}, aborting the running experiment", file=sys.stderr)
            manager.pause_worker()  # nothing new starts; the queued ones stay queued for next time
            manager.abort_job()
        # Read before shutdown, which cancels the queued futures (in this process only).
        left = {exp.id for exp in manager.job_queue.queued}
        self.paused_at_end = manager.paused
        self.held_by = next(filter(None, map(held_by, manager.job_queue.queued)), None)
        manager.shutdown(wait=True, abort_running=True, timeout=ABORT_GRACE_SECONDS)
        self.reporter.close()
        return left

    def _summary(self, left: set[str], stopped_by: ExitCode | None) -> bool:
        """Print the lines not printed yet and the summary; True if any experiment of
        this run failed, was aborted or interrupted."""
        session = self._session()
        for exp in session:
            if exp.id not in left:
                self.reporter.report_ended(exp)
        ours = [exp for exp in session if exp.id not in self.earlier]
        earlier = [exp for exp in session if exp.id in self.earlier]
        for exp in ours:
            if exp.id in left:
                print(experiment_line(exp, left_queued=True), file=self.out)
        # Named only beside an earlier run's, to tell the two apart.
        whose = "this run's experiments: " if earlier else ""
        print(f"labqueue: {whose}{_tally(ours, left) or 'nothing was queued'}", file=self.out)
        if earlier:
            self._earlier_summary(earlier, left)
        if left and stopped_by is None:
            print(self._pause_line(left), file=self.out)
        return any(exp.status in _UNSUCCESSFUL for exp in session if exp.id not in left)

    def _earlier_summary(self, earlier: list[Experiment], left: set[str]) -> None:
        print(
            f"labqueue: {len(earlier)} experiment(s) queued by an earlier run on {self.manager.data_dir} "
            f"came back from the journal: {_tally(earlier, left)}",
            file=self.out,
        )
        for exp in earlier:
            if exp.id in left:
                print(experiment_line(exp, left_queued=True, earlier=True), file=self.out)

    def _pause_line(self, left: set[str]) -> str:
        """One line: why experiments were left queued, and how to go on."""
        where = self.manager.data_dir
        count = f"{len(left)} experiment(s) not run stay queued in {where}"
        window = f"labqueue --data-dir {shlex.quote(str(where))}"
        failure = self.reporter.last_failure
        if not self.paused_at_end and self.held_by is not None:
            return (
                f"labqueue: {count}: they wait for {self.held_by.title}, "
                f"which {'was interrupted' if self.held_by.status is ExpStatus.INTERRUPTED else 'is on no queue'}. "
                f"Requeue it to run them (in the window: {window}; or manager.job_queue.requeue(exp) in a script)"
            )
        if failure is not None and self.manager.pause_on_failure and self.paused_at_end:
            return (
                f"labqueue: stopped because {failure.title} failed and paused the queue; {count}. "
                f"To go on, resume them ({window}, then Resume; or manager.resume_worker() in a script), "
                "or run with --continue-on-failure to go on past failures"
            )
        if self.started_paused:
            return (
                f"labqueue: nothing ran because the queue started paused: the journal brought back unfinished "
                f"experiments from an earlier run (see the warning above); {count}. "
                "Call manager.resume_worker() at the top of the script to run them first, "
                f"manager.clear_all_jobs() to drop them, or look at them first in the window: {window}"
            )
        return f"labqueue: the queue was paused; {count}. Resume them in the window: {window}"


def _tally(experiments: list[Experiment], left: set[str]) -> str:
    """``2 finished, 1 failed, 3 not run``."""
    ended = status_tally([exp.status for exp in experiments if exp.id not in left])
    not_run = sum(exp.id in left for exp in experiments)
    return ", ".join(part for part in (ended, f"{not_run} not run" if not_run else "") if part)
