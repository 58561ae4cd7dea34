"""Command experiments: a program run in its own folder and process group, on the process lane."""

from __future__ import annotations

import os
import pickle
import shlex
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..engine import PROCESS_LANE, Aborted, Experiment
from .run_files import (
    RESULTS_FILE,
    RUN_DIR_ENV,
    STDERR_FILE,
    STDOUT_FILE,
    begin_attempt,
    tail_lines,
    write_finished,
)
from .spawner import RunProcess, RunSupervisor, SpawnError

__all__ = ["CommandCall", "CommandExperiment", "CommandFailed", "CommandTimedOut", "command_of"]

#: Lines of stderr quoted in the error of a failed command.
STDERR_LINES_IN_ERROR = 10
#: Longest title made from a command line.
MAX_TITLE = 120


class CommandFailed(RuntimeError):
    """A command exited with a non-zero status, could not start, or left results that
    do not load. ``returncode`` is its exit status (negative: killed by that signal;
    None if it never ran); ``stderr_tail`` the last lines it wrote on stderr."""

    def __init__(self, message: str, returncode: int | None = None, stderr_tail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = list(stderr_tail)

    def __reduce__(self):  # the journal pickles exceptions; keep the attributes
        return (type(self), (self.args[0], self.returncode, self.stderr_tail))


class CommandTimedOut(CommandFailed):
    """A command ran longer than its ``timeout`` and was stopped (SIGTERM, then SIGKILL)."""


class CommandCall:
    """What a command experiment stores: the command, where and how to run it.

    It is the experiment's ``func``, pickled into the journal like any call (its
    class by name), so a queued or interrupted command comes back after a restart.
    The process lane runs it (:meth:`run`); calling it directly raises TypeError.
    """

    labqueue_lane = PROCESS_LANE
    setup: Callable[[Path], None] | None = None  # a class default: calls stored before it existed have none

    def __init__(
        self,
        cmd: Sequence[str] | str,
        run_dir: str | Path,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        shell: bool = False,
        inputs: Sequence[str] | None = None,
        setup: Callable[[Path], None] | None = None,
    ) -> None:
        if shell:
            if not isinstance(cmd, str):
                cmd = shlex.join(str(part) for part in cmd)
        elif isinstance(cmd, str):
            raise TypeError(f"a command is a list of arguments, not the string {cmd!r} (or pass shell=True)")
        else:
            cmd = [os.fspath(part) for part in cmd]
            if not cmd:
                raise ValueError("a command needs at least the program to run")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        self.cmd: list[str] | str = cmd
        self.run_dir = Path(run_dir).absolute()
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.timeout = timeout
        self.shell = shell
        #: Entries of ``run_dir`` that are the run's inputs (kept between attempts), when multirun prepared it.
        self.inputs = list(inputs) if inputs is not None else None
        #: ``setup(run_dir)`` before each attempt: makes what the folder needs (multirun's run folders).
        self.setup = setup
        program = (cmd.split() or ["sh"])[0] if shell else cmd[0]
        # Named for its program, so estimates of its duration come from runs of the same one.
        self.__qualname__ = Path(program).name

    @property
    def argv(self) -> list[str]:
        return ["/bin/sh", "-c", self.cmd] if self.shell else list(self.cmd)

    @property
    def title(self) -> str:
        """The command line as a shell would show it, shortened for a table cell."""
        text = self.cmd if self.shell else shlex.join(self.cmd)
        return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1] + "…"

    @property
    def stdout_path(self) -> Path:
        return self.run_dir / STDOUT_FILE

    @property
    def stderr_path(self) -> Path:
        return self.run_dir / STDERR_FILE

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{self.title} is a command: it runs on the process lane, not as a Python call")

    def __repr__(self) -> str:
        return f"CommandCall({self.cmd!r}, run_dir={str(self.run_dir)!r})"

    def run(self, experiment_id: str, supervisor: RunSupervisor, control: RunControl) -> Any:
        """Run the command to its end in the calling thread; returns what it posted with
        ``postRunResults()`` (None if nothing).

        Raises :class:`CommandFailed` (non-zero exit, a command that cannot start, a
        run folder that cannot be used, results that do not load),
        :class:`CommandTimedOut`, and :class:`~labqueue.core.engine.Aborted` when
        ``control`` was aborted.
        """
        try:
            if self.setup is not None:
                self.setup(self.run_dir)
            begin_attempt(self.run_dir, self.inputs)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(self.run_dir) else ""
            raise CommandFailed(f"cannot use the run folder {self.run_dir}: {exc.strerror or exc}{where}") from exc
        if control.aborted:
            raise Aborted(f"{self.title} was aborted before it started")
        run_dir = os.fspath(self.run_dir)  # strings from here on: a pathlib join costs microseconds a time
        env = {**self.env, RUN_DIR_ENV: run_dir}
        try:
            process = supervisor.spawn(
                self.argv,
                cwd=run_dir,
                extra_env=env,
                stdout=os.path.join(run_dir, STDOUT_FILE),
                stderr=os.path.join(run_dir, STDERR_FILE),
            )
        except SpawnError as exc:
            raise CommandFailed(self._spawn_message(exc)) from exc
        if not control.attach(process):
            process.wait()
            raise Aborted(f"{self.title} was aborted")
        try:
            returncode = process.wait(self.timeout)
            if returncode is None:
                control.stop_timed_out()
                returncode = process.wait()
        finally:
            control.detach()
        if control.aborted:
            raise Aborted(f"{self.title} was aborted (exit status {returncode})")
        if control.timed_out or returncode != 0:
            self._raise_failure(returncode, control.timed_out)
        results = self._load_results(os.path.join(run_dir, RESULTS_FILE))
        write_finished(run_dir, experiment_id)
        return results

    def _raise_failure(self, returncode: int, timed_out: bool) -> None:
        """Raise CommandTimedOut or CommandFailed with the last lines of stderr (read only
        for a failure: a run that succeeds costs no read of its output)."""
        stderr_tail = tail_lines(self.stderr_path, STDERR_LINES_IN_ERROR)
        if timed_out:
            raise CommandTimedOut(
                f"{self.title} timed out after {self.timeout:g} s in {self.run_dir}" + _quoted(stderr_tail),
                returncode,
                stderr_tail,
            )
        how = f"was killed by signal {-returncode}" if returncode < 0 else f"exited with status {returncode}"
        raise CommandFailed(f"{self.title} {how} in {self.run_dir}" + _quoted(stderr_tail), returncode, stderr_tail)

    def _spawn_message(self, exc: SpawnError) -> str:
        program = self.argv[0]
        if exc.errno == 2 and exc.filename in (None, program):  # ENOENT
            if os.sep in program and not os.path.isabs(program):
                return (
                    f"command not found: {program!r}, looked for from the run folder {self.run_dir} "
                    "(the command runs there: give the program's absolute path)"
                )
            return f"command not found: {program!r} (run folder {self.run_dir})"
        if exc.errno == 13:  # EACCES
            return f"command not executable: {program!r} (run folder {self.run_dir})"
        return f"{self.title} cannot start in {self.run_dir}: {exc.strerror}" + (
            f" ({exc.filename})" if exc.filename else ""
        )

    def _load_results(self, path: str) -> Any:
        try:
            with open(path, "rb") as results:
                data = results.read()
        except FileNotFoundError:
            return None
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise CommandFailed(f"{self.title}: its results file {path} cannot be loaded ({exc})", 0) from exc


def _quoted(stderr_tail: list[str]) -> str:
    return (":\n" + "\n".join(stderr_tail)) if stderr_tail else " (nothing on stderr)"


class RunControl:
    """How the process lane stops one run: abort (from anyone) and timeout (from the run)."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.aborted = False
        self.timed_out = False
        self._lock = threading.Lock()
        self._process: RunProcess | None = None

    def attach(self, process: RunProcess) -> bool:
        """Take charge of the started ``process``; False (and it is being stopped) if
        an abort came first."""
        with self._lock:
            self._process = process
            if self.aborted:
                process.terminate(self.grace)
                return False
        return True

    def detach(self) -> None:
        with self._lock:
            self._process = None

    def abort(self) -> None:
        """SIGTERM the run's group, SIGKILL after the grace; a run not started yet never starts."""
        with self._lock:
            self.aborted = True
            if self._process is not None:
                self._process.terminate(self.grace)

    def stop_timed_out(self) -> None:
        with self._lock:
            self.timed_out = True
            if self._process is not None:
                self._process.terminate(self.grace)


class CommandExperiment(Experiment):
    """An experiment that runs a command: ``cmd`` (a list of arguments; a string with
    ``shell=True``) in ``run_dir`` (created if needed; default: a new ``run-<id>``
    folder in the current directory), on the process lane.

    The command runs in its own process group, with labqueue's environment plus
    ``env`` plus ``LABQUEUE_RUN_DIR``; stdout and stderr go to ``stdout.txt`` and
    ``stderr.txt`` in ``run_dir``. A second attempt in the same ``run_dir`` first moves
    the first one's output into ``attempt-1/`` (``inputs``: the entries that are not
    output, as multirun passes them). Exit status 0 is FINISHED (the result is what the
    command posted with ``postRunResults()``, or None) and writes the completion marker;
    anything else is FAILED with a :class:`CommandFailed` quoting the last lines of
    stderr. Past ``timeout`` seconds it is stopped and FAILED with
    :class:`CommandTimedOut`. Abort sends SIGTERM to the whole group, then SIGKILL
    after the manager's ``kill_grace``. With ``lane="dask"`` it runs on a worker of the
    Dask lane's cluster instead (``run_dir`` must then be on a filesystem the workers share).

    It takes the chain options of :class:`Experiment`: ``after`` (upstreams to wait
    for), ``on_failure`` (what happens to it when one of them does not finish),
    ``retries`` more attempts ``retry_delay`` seconds apart when it fails with one of
    ``retry_on`` (each attempt in the same ``run_dir``, the earlier output moved aside).

    Raises TypeError for a string command without ``shell=True``, ValueError for an
    empty one or a timeout that is not positive, and as :class:`Experiment` does for
    chain options it cannot use.

    After a restart the experiment comes back as a plain :class:`Experiment` whose
    ``func`` is the :class:`CommandCall`; :func:`command_of` finds it on either.
    """

    def __init__(
        self,
        cmd: Sequence[str] | str,
        *,
        run_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        shell: bool = False,
        title: str | None = None,
        group_id: str | None = None,
        inputs: Sequence[str] | None = None,
        setup: Callable[[Path], None] | None = None,
        lane: str | None = None,
        after: Iterable[Experiment] = (),
        on_failure: str = "skip",
        retries: int = 0,
        retry_delay: float = 0.0,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        call = CommandCall(cmd, run_dir if run_dir is not None else ".", env, timeout, shell, inputs, setup)
        super().__init__(
            call,
            title=title or call.title,
            group_id=group_id,
            lane=lane,
            after=after,
            on_failure=on_failure,
            retries=retries,
            retry_delay=retry_delay,
            retry_on=retry_on,
        )
        if run_dir is None:
            call.run_dir = Path.cwd() / f"run-{self.id[:8]}"

    @property
    def command(self) -> CommandCall:
        return self.func


def command_of(experiment: Experiment) -> CommandCall | None:
    """The command an experiment runs, or None for a Python call."""
    func = experiment.func
    return func if isinstance(func, CommandCall) else None
