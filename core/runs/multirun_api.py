"""Karana's ``multirun`` API on labqueue: a command over many parameter sets, one folder per run.

``multirun(runs=[...], cmd=[...], output_path=..., input_files=[...])`` makes a folder
for the sweep and one per run in it (``run_0``, ``run_1``, ...; zero-padded to sort:
``run_000`` ... ``run_999`` for a thousand runs), each with
``params.json`` and the input files, and queues one command experiment per run on the
manager's process lane. The command reads its parameters with :func:`getRunParams`
and hands back results with :func:`postRunResults`. Each run that succeeds gets a
completion marker, so ``multirun(..., output_path=THE_SAME_FOLDER)`` later runs only
those without one (see :func:`multirun`). ``sweep.json`` in the sweep's folder keeps
the command, the parameters and the input files' content hashes for that check.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import pickle
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ..engine import DASK_LANE, PROCESS_LANE, Experiment, ExpStatus, QueueClosed, current_manager
from .command import CommandExperiment, CommandFailed
from .groups import SweepGroup
from .run_files import FINISHED_MARKER, PARAMS_FILE, RESULTS_FILE, RUN_DIR_ENV, is_finished, write_small_file
from .sweep import RunStatistics, RunStatus, run_status

if TYPE_CHECKING:
    from ..manager import Manager

__all__ = [
    "AbstractRunner",
    "DaskRunner",
    "FileLinkage",
    "FileResource",
    "MultirunError",
    "ParallelLocalRunner",
    "ParamMap",
    "ParamValue",
    "Run",
    "RunStatistics",
    "RunStatus",
    "SweepChanged",
    "displayStatus",
    "getRunParams",
    "multirun",
    "multirunAsync",
    "postRunResults",
    "restart_multirun",
]

logger = logging.getLogger("labqueue")

ParamValue = Any  # anything JSON can hold
ParamMap = Mapping[str, ParamValue]
FileLinkage = Literal["copy", "shared", "link"]

SWEEP_FILE = "sweep.json"
#: sweep.json's parameters of a run whose own were not JSON: their repr, under this key.
_NOT_JSON = "<not JSON>"
#: Runs queued first, on their own, so that they start while the others are journaled.
FIRST_PUT = 64
SHARED_FOLDER = "shared"
_LINKAGES = ("copy", "shared", "link")
#: Seconds between two updates of displayStatus().
STATUS_REFRESH_S = 0.25


class MultirunError(ValueError):
    """A sweep cannot start: its output folder is a file or cannot be written, an input
    file is missing, the command is not a list of arguments."""


class SweepChanged(MultirunError):
    """``multirun(output_path=EXISTING)`` found a different sweep there; the message names
    what changed (the command, a run's parameters, an input file's content), each one
    also in ``changes``; ``folder`` is the sweep's folder."""

    def __init__(self, folder: Path, changes: list[str]) -> None:
        super().__init__(
            f"the sweep in {folder} was started with different settings: "
            + "; ".join(changes)
            + ". Use another output_path, or force=True to run it anyway."
        )
        self.folder = folder
        self.changes = changes


# -- what a run's command calls ---------------------------------------------------------


def _run_dir() -> Path:
    run_dir = os.environ.get(RUN_DIR_ENV)
    if not run_dir:
        raise RuntimeError(f"not inside a run started by labqueue.multirun ({RUN_DIR_ENV} is not set)")
    return Path(run_dir)


def getRunParams() -> dict[str, ParamValue]:  # noqa: N802 (Karana's name)
    """Get the parameters for this run (from ``params.json`` in its run folder).

    Raises RuntimeError outside a run (``LABQUEUE_RUN_DIR`` unset), OSError and
    ValueError when the file is missing or not JSON.
    """
    return json.loads((_run_dir() / PARAMS_FILE).read_text())


def postRunResults(results: Any) -> None:  # noqa: N802 (Karana's name)
    """Submit the results of the run: pickled into ``results.pkl`` in its run folder,
    they become the result of the run's experiment.

    Raises RuntimeError outside a run, and TypeError (naming the run and the file)
    when ``results`` cannot be pickled.
    """
    path = _run_dir() / RESULTS_FILE
    try:
        data = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise TypeError(
            f"postRunResults: the results of the run in {path.parent} cannot be pickled into {path}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


# -- descriptors ------------------------------------------------------------------------


@dataclass
class FileResource:
    """Descriptor for a file to be used in runs.

    ``linkage``: "copy" copies the file into each run folder; "shared" puts one copy in
    the sweep's ``shared/`` folder and symlinks it into each run; "link" symlinks the
    given file itself. ``rename``: its name (or relative path) in the run folder.
    Raises ValueError for another linkage.
    """

    path: Path
    linkage: FileLinkage = "shared"
    rename: str | Path | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.linkage not in _LINKAGES:
            raise ValueError(f"linkage must be one of {', '.join(_LINKAGES)}, not {self.linkage!r}")

    @property
    def name(self) -> Path:
        """The file's name in the run folder."""
        return Path(self.rename) if self.rename is not None else Path(self.path.name)


@dataclass(eq=False)
class Run:
    """Handle to a run and its metadata.

    ``status``: "skipped" (finished in an earlier attempt, not run again), "pending",
    "running", "success" or "failure". ``task``: an awaitable of its outcome once
    :func:`multirunAsync` has made one. ``error``: why the run cannot run (its
    parameters cannot be written), else None; its experiment then fails with it.
    """

    params: dict[str, ParamValue]
    path: Path
    index: int
    experiment: Experiment | None = None
    task: asyncio.Task | None = None
    skipped: bool = False
    error: str | None = None
    #: Makes the run's new folder when the run starts (see :class:`RunFolder`), or None.
    folder_setup: RunFolder | None = field(default=None, repr=False)

    @property
    def status(self) -> RunStatus:
        if self.skipped:
            return "skipped"
        if self.experiment is not None:
            return run_status(self.experiment)
        return "failure" if self.error is not None else "pending"

    @property
    def result(self) -> Any:
        """What the run posted with postRunResults (None if nothing, or not finished)."""
        exp = self.experiment
        if exp is not None and exp.status is ExpStatus.FINISHED:
            return exp.result()
        if self.skipped and (self.path / RESULTS_FILE).exists():
            return pickle.loads((self.path / RESULTS_FILE).read_bytes())
        return None


class AbstractRunner(abc.ABC):
    """Interface for runner classes: where a sweep's runs go, and their statistics."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self._finished = threading.Event()

    @abc.abstractmethod
    def computeStatistics(self) -> RunStatistics:  # noqa: N802 (Karana's name)
        """Compute statistics about the runs."""

    @abc.abstractmethod
    def start(self, runs: list[Run], cmd: list[str], group: SweepGroup, inputs: list[str]) -> None:
        """Start the runs that are neither skipped nor failed already; ``inputs`` are the
        entries of each run folder that are not output."""

    @property
    def finished(self) -> bool:
        """True once every run of the last multirun has ended."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every run of the last multirun has ended; False if ``timeout`` passed first."""
        return self._finished.wait(timeout)


class ParallelLocalRunner(AbstractRunner):
    """Runner that runs up to ``max_parallel`` runs at once on this machine, as command
    experiments on ``manager``'s process lane (default: the manager of the running
    job, else the newest open one, else a private in-memory one for the sweep).

    Raises ValueError when ``max_parallel`` is below 1.
    """

    #: The lane its command experiments take.
    lane = PROCESS_LANE

    def __init__(self, *, max_parallel: int | None = 4, manager: Manager | None = None) -> None:
        super().__init__()
        if max_parallel is not None and max_parallel < 1:
            raise ValueError(f"max_parallel must be at least 1, not {max_parallel}")
        self.max_parallel = max_parallel
        self.manager = manager
        self._own_manager: Manager | None = None

    def computeStatistics(self) -> RunStatistics:  # noqa: N802 (Karana's name)
        """Compute statistics about the runs."""
        return RunStatistics.of(run.status for run in self.runs)

    def resolve_manager(self) -> Manager:
        if self.manager is None:
            self.manager = _default_manager()
            if self.manager is None:
                from ..manager import Manager  # only here: the manager module imports this package

                self.manager = self._own_manager = Manager(pause_on_failure=False)
        return self.manager

    def start(self, runs: list[Run], cmd: list[str], group: SweepGroup, inputs: list[str]) -> None:
        manager = self.resolve_manager()
        manager.add_group(group)
        experiments = []
        for run in runs:
            if run.skipped:
                continue
            run.experiment = CommandExperiment(
                cmd,
                run_dir=run.path,
                title=f"{run.path.name} {_short_params(run.params)}",
                group_id=group.id,
                inputs=inputs,
                setup=run.folder_setup if run.error is None else RefusedRun(run.error),
                lane=self.lane,
            )
            experiments.append(run.experiment)
        # The first runs start while the others are still being journaled (in one put:
        # a big one from the window's console goes through the queue's waiter). If that
        # put fails (a full disk), the sweep stops whole rather than run in part.
        manager.job_queue.put_many(experiments[:FIRST_PUT])
        try:
            manager.job_queue.put_many(experiments[FIRST_PUT:])
        except BaseException:
            with contextlib.suppress(QueueClosed):  # closed: nothing of it runs anyway
                manager.abort_group(group.id)
            raise
        if experiments and manager.paused:
            logger.warning(
                "The queue is paused: the %d runs of %s start when it is resumed.", len(experiments), group.title
            )

    def close(self) -> None:
        """Shut down the private manager, if this runner made one."""
        if self._own_manager is not None:
            self._own_manager.shutdown()
            self._own_manager = None
            self.manager = None


class DaskRunner(ParallelLocalRunner):
    """Runner that runs the runs as tasks on the Dask lane of ``manager`` (chosen as
    :class:`ParallelLocalRunner` chooses it): on the scheduler at ``address``, or on
    the lane's own (the manager's ``dask_scheduler``, else a local cluster) when None.
    At most ``max_parallel`` run at once if given, else as many as the cluster takes.
    The run folders must be on a filesystem the workers share.

    Raises ValueError when ``max_parallel`` is below 1, and (at the multirun) when the
    manager's Dask lane is already connected to another scheduler.
    """

    lane = DASK_LANE

    def __init__(self, address: str | None = None, *, max_parallel: int | None = None, manager: Manager | None = None):
        super().__init__(max_parallel=max_parallel, manager=manager)
        self.address = address

    def resolve_manager(self) -> Manager:
        manager = super().resolve_manager()
        if self.address is not None:
            manager.dask_lane.use_address(self.address)
        return manager


def _default_manager() -> Manager | None:
    from ..manager import newest_open_manager  # only here: the manager module imports this package

    return current_manager() or newest_open_manager()


def _short_params(params: Mapping[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return text if len(text) <= 80 else text[:79] + "…"


# -- the sweep's folder -----------------------------------------------------------------


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resources(input_files: Iterable[FileResource | Path | str] | None) -> list[FileResource]:
    resources = [f if isinstance(f, FileResource) else FileResource(Path(f)) for f in input_files or ()]
    for resource in resources:
        if not resource.path.is_file():
            raise MultirunError(f"input file {resource.path} does not exist (or is not a file)")
    return resources


def _new_folder(wanted: Path) -> Path:
    """``wanted``, or ``wanted_1``, ``wanted_2``, ... : the first that does not exist."""
    candidate, number = wanted, 0
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = wanted.with_name(f"{wanted.name}_{number}")
    return candidate


def _output_folder(output_path: Path | str | None) -> tuple[Path, bool]:
    """(folder, True if it holds an earlier attempt of a sweep)."""
    if output_path is None:
        wanted = Path.cwd() / time.strftime("multirun-%Y%m%d-%H%M%S")
    else:
        wanted = Path(output_path).absolute()
        if wanted.is_file():
            raise MultirunError(f"the output path {wanted} is a file, not a folder")
        if (wanted / SWEEP_FILE).is_file():
            return wanted, True
    folder = _new_folder(wanted)
    if folder != wanted:
        logger.warning("%s exists already; this sweep goes into %s", wanted, folder)
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise MultirunError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from exc
    if not os.access(folder, os.W_OK):
        raise MultirunError(f"the output folder {folder} is not writable")
    return folder, False


def _run_names(count: int) -> list[str]:
    width = len(str(max(count - 1, 0)))
    return [f"run_{i:0{width}d}" for i in range(count)]


class RefusedRun:
    """The setup of a run that cannot run (its parameters cannot be written): it fails
    the run with ``message`` before anything is made, so the run is still an experiment
    of the sweep, in the window and the journal, and the others go on."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, run_dir: Path) -> None:
        raise CommandFailed(self.message)


class RunFolder:
    """What a run's folder holds before its command starts: ``params.json`` and the
    input files. A command experiment calls it (see ``CommandExperiment(setup=)``)
    before each attempt; it makes the folder unless ``params.json`` is already there,
    which it writes last, so that a folder half made when labqueue died is made again."""

    def __init__(self, params_text: str, sweep_folder: Path, resources: list[FileResource]) -> None:
        self.params_text = params_text
        self.sweep_folder = sweep_folder
        self.resources = resources

    def __call__(self, run_dir: Path) -> None:
        try:
            os.mkdir(run_dir)  # the common case: a new folder, made without a look first
        except FileExistsError:
            if os.path.exists(os.path.join(run_dir, PARAMS_FILE)):
                return
        self._fill(run_dir)

    def make(self, run_dir: Path) -> None:
        run_dir.mkdir(exist_ok=True)
        self._fill(run_dir)

    def _fill(self, run_dir: Path) -> None:
        _link_inputs(run_dir, self.sweep_folder, self.resources)
        write_small_file(os.path.join(run_dir, PARAMS_FILE), self.params_text.encode())


def _link_inputs(run_dir: Path, folder: Path, resources: list[FileResource]) -> None:
    for resource in resources:
        target = run_dir / resource.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        if resource.linkage == "copy":
            shutil.copy2(resource.path, target)
        elif resource.linkage == "shared":
            shared = folder / SHARED_FOLDER / resource.name
            target.symlink_to(os.path.relpath(shared, target.parent))
        else:
            target.symlink_to(resource.path.absolute())


def _write_shared(folder: Path, resources: list[FileResource]) -> None:
    for resource in resources:
        if resource.linkage == "shared":
            shared = folder / SHARED_FOLDER / resource.name
            shared.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(resource.path, shared)


def _describe_inputs(resources: list[FileResource]) -> list[dict[str, str]]:
    return [
        {"path": str(r.path.absolute()), "name": str(r.name), "linkage": r.linkage, "sha256": _file_hash(r.path)}
        for r in resources
    ]


def _changes(stored: dict, cmd: list[str], params: list[dict], inputs: list[dict]) -> list[str]:
    """What differs between the stored sweep and this one, in words."""
    changes = []
    if stored["cmd"] != cmd:
        changes.append(f"the command changed from {stored['cmd']} to {cmd}")
    stored_params = [run["params"] for run in stored["runs"]]
    if len(stored_params) != len(params):
        changes.append(f"the number of runs changed from {len(stored_params)} to {len(params)}")
    for name, (before, after) in zip(_run_names(len(params)), zip(stored_params, params, strict=False), strict=False):
        if before != after:
            changes.append(f"the parameters of {name} changed from {before} to {after}")
    before_inputs = {entry["name"]: entry for entry in stored["inputs"]}
    after_inputs = {entry["name"]: entry for entry in inputs}
    for name in sorted(before_inputs.keys() | after_inputs.keys()):
        before, after = before_inputs.get(name), after_inputs.get(name)
        if before is None:
            changes.append(f"the input file {name} was added")
        elif after is None:
            changes.append(f"the input file {name} was removed")
        elif before["sha256"] != after["sha256"]:
            changes.append(f"the content of the input file {name} ({after['path']}) changed")
        elif before["linkage"] != after["linkage"]:
            changes.append(
                f"the linkage of the input file {name} changed from {before['linkage']} to {after['linkage']}"
            )
    return changes


def _write_sweep_file(folder: Path, description: dict) -> None:
    """``sweep.json``, one run a line: readable, and written by json's C encoder (an
    indented one is json's Python encoder, a good part of a big sweep's start)."""
    runs = ",\n  ".join(json.dumps(run) for run in description["runs"])
    others = "".join(
        f",\n {json.dumps(key)}: {json.dumps(value)}" for key, value in description.items() if key != "runs"
    )
    temporary = folder / f".{SWEEP_FILE}.tmp"
    temporary.write_text(f'{{"runs": [\n  {runs}\n ]{others}\n}}\n')
    os.replace(temporary, folder / SWEEP_FILE)


def _params_json(params: Mapping[str, Any]) -> str | Exception:
    """The text of ``params.json``, or why JSON cannot hold the parameters."""
    try:
        return json.dumps(params, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        return exc


def prepare(
    runs: Iterable[ParamMap],
    cmd: list[str],
    output_path: Path | str | None,
    input_files: Iterable[FileResource | Path | str] | None,
    force: bool,
) -> Prepared:
    """Make (or check) the sweep's folder and its runs' folders.

    Raises MultirunError, SweepChanged (unless ``force``).
    """
    if isinstance(cmd, str | bytes) or not all(isinstance(part, str | os.PathLike) for part in cmd):
        raise MultirunError(f"cmd must be a list of arguments, not {cmd!r}")
    cmd = [os.fspath(part) for part in cmd]
    params = [dict(p) for p in runs]
    texts = [_params_json(p) for p in params]
    # As sweep.json keeps them: as they are if JSON can hold them, else their repr.
    comparable = [p if isinstance(text, str) else {_NOT_JSON: repr(p)} for p, text in zip(params, texts, strict=True)]
    resources = _resources(input_files)
    folder, restarting = _output_folder(output_path)
    inputs = _describe_inputs(resources)
    earlier_groups: list[str] = []
    stored_params: list[dict] = []
    if restarting:
        stored = json.loads((folder / SWEEP_FILE).read_text())
        changes = _changes(stored, cmd, comparable, inputs)
        if changes and not force:
            raise SweepChanged(folder, changes)
        earlier_groups = stored.get("groups", [])
        stored_params = [run["params"] for run in stored["runs"]]
    names = _run_names(len(params))
    _write_shared(folder, resources)
    prepared: list[Run] = []
    for index, (name, run_params) in enumerate(zip(names, params, strict=True)):
        run = Run(params=run_params, path=folder / name, index=index)
        prepared.append(run)
        unchanged = index < len(stored_params) and stored_params[index] == comparable[index]
        if restarting and unchanged and is_finished(run.path):
            run.skipped = True
            continue
        text = texts[index]
        if not isinstance(text, str):
            run.error = f"the parameters of {name} cannot be written to {run.path / PARAMS_FILE}: {text}"
            continue
        setup = RunFolder(text, folder, resources)
        if restarting and run.path.exists():  # made again now, over what an earlier attempt left
            if not unchanged:
                (run.path / FINISHED_MARKER).unlink(missing_ok=True)  # forced: its old result is not this run's
            setup.make(run.path)
        else:
            # Made by the run when it starts, on its lane: a thousand folders made here
            # one by one would hold back the first run (and the parallel ones) that long.
            run.folder_setup = setup
    return Prepared(
        prepared, folder, earlier_groups, cmd, comparable, inputs, sorted({r.name.parts[0] for r in resources})
    )


class Prepared(NamedTuple):
    """A sweep's folder made ready: its runs, the group ids of its earlier attempts,
    and what ``sweep.json`` keeps (the command, the parameters as compared, the inputs)."""

    runs: list[Run]
    folder: Path
    earlier_groups: list[str]
    cmd: list[str]
    params: list[dict]
    inputs: list[dict[str, str]]
    input_names: list[str]  # the entries of a run folder that are inputs


def _submit(
    runs: Iterable[ParamMap],
    cmd: list[str],
    output_path: Path | str | None,
    input_files: Iterable[FileResource | Path | str] | None,
    runner: AbstractRunner | None,
    force: bool,
) -> tuple[AbstractRunner, list[Run]]:
    runner = runner if runner is not None else ParallelLocalRunner()
    runner._finished.clear()
    ready = prepare(runs, cmd, output_path, input_files, force)
    prepared, folder, earlier_groups = ready.runs, ready.folder, ready.earlier_groups
    runner.runs = prepared
    manager = runner.resolve_manager() if isinstance(runner, ParallelLocalRunner) else None
    if manager is not None and earlier_groups:
        # Runs still queued from an interrupted attempt would run twice: this attempt replaces them.
        queued = [exp for exp in manager.job_queue.queued if exp.group_id in earlier_groups]
        manager.job_queue.remove(queued)
    program = Path(ready.cmd[0]).name if ready.cmd else "?"
    group = SweepGroup(
        title=f"multirun {program} × {len(prepared)} in {folder.name}",
        kind="multirun",
        max_parallel=getattr(runner, "max_parallel", None),
        output_path=str(folder),
        lane=getattr(runner, "lane", PROCESS_LANE),
    )
    _write_sweep_file(
        folder,
        {
            "cmd": ready.cmd,
            "runs": [
                {"dir": run.path.name, "params": params} for run, params in zip(prepared, ready.params, strict=True)
            ],
            "inputs": ready.inputs,
            "groups": [*earlier_groups, group.id],
        },
    )
    skipped = sum(run.skipped for run in prepared)
    if skipped:
        logger.info("%d of the %d runs in %s finished before; they are skipped.", skipped, len(prepared), folder)
    runner.start(prepared, ready.cmd, group, ready.input_names)
    return runner, prepared


def multirun(
    *,
    runs: Iterable[ParamMap],
    cmd: list[str],
    output_path: Path | str | None = None,
    input_files: list[FileResource | Path | str] | None = None,
    runner: AbstractRunner | None = None,
    force: bool = False,
    wait: bool = True,
) -> list[Run]:
    """Run a command with varying parameters in distinct directories.

    One folder per run (``run_0``, ...; ``run_000``, ... for a thousand) under ``output_path`` (default: a
    timestamped folder in the current directory; an existing folder that is not a
    sweep is never written into: ``_1``, ``_2``, ... is added), each with
    ``params.json`` and the ``input_files`` (paths or :class:`FileResource`, default
    linkage "shared"). Every run is a command experiment in the manager's queue and
    journal, run by ``runner`` (default :class:`ParallelLocalRunner`). Identical
    parameter sets are separate runs.

    ``output_path`` holding an earlier attempt of the same sweep restarts it: runs
    with a completion marker are skipped, the others run again (the partial output
    of an interrupted one moves into its ``attempt-N/``). When the command, a run's
    parameters or an input file's content differ from that attempt it raises
    :class:`SweepChanged` naming them, unless ``force=True``.

    Waits until every run has ended (``wait=False``: returns at once, e.g. in the
    window's console) and returns the runs. A run that fails does not stop the others.

    Raises MultirunError when the output folder is a file or cannot be written, an
    input file is missing, or ``cmd`` is not a list of arguments.
    """
    runner, prepared = _submit(runs, cmd, output_path, input_files, runner, force)
    experiments = [run.experiment for run in prepared if run.experiment is not None]
    if wait:
        concurrent.futures.wait(experiments)
        _finish(runner)
    else:
        _finish_when_done(runner, experiments)
    return prepared


def restart_multirun(
    output_path: Path | str, *, runner: AbstractRunner | None = None, force: bool = False, wait: bool = True
) -> list[Run]:
    """Restart the sweep in ``output_path`` with the command, parameters and input files
    its ``sweep.json`` keeps (what the window's "Restart sweep" does): :func:`multirun`
    with ``output_path=EXISTING``, so finished runs are skipped and the partial output
    of the others moves into ``attempt-N/``.

    Raises MultirunError when the folder holds no sweep, its sweep.json cannot be read,
    or a run's parameters were not JSON (they cannot be read back); SweepChanged when an
    input file's content changed since (unless ``force``); as multirun does otherwise.
    """
    folder = Path(output_path).absolute()
    try:
        stored = json.loads((folder / SWEEP_FILE).read_text())
        cmd, runs = stored["cmd"], [run["params"] for run in stored["runs"]]
        inputs = [FileResource(Path(i["path"]), i["linkage"], i["name"]) for i in stored["inputs"]]
    except FileNotFoundError:
        raise MultirunError(f"{folder} holds no sweep to restart (no {SWEEP_FILE} in it)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MultirunError(f"cannot read the sweep {folder / SWEEP_FILE}: {type(exc).__name__}: {exc}") from exc
    unreadable = [name for name, params in zip(_run_names(len(runs)), runs, strict=True) if _NOT_JSON in params]
    if unreadable:
        raise MultirunError(
            f"the parameters of {', '.join(unreadable)} in {folder / SWEEP_FILE} were not JSON and cannot be "
            "read back: restart it with multirun() and its parameters"
        )
    return multirun(runs=runs, cmd=cmd, output_path=folder, input_files=inputs, runner=runner, force=force, wait=wait)


async def multirunAsync(  # noqa: N802 (Karana's name)
    *,
    runs: Iterable[ParamMap],
    cmd: list[str],
    output_path: Path | str | None = None,
    input_files: list[FileResource | Path | str] | None = None,
    runner: AbstractRunner | None = None,
    force: bool = False,
) -> list[Run]:
    """:func:`multirun`, awaitable: each run's ``task`` completes with its experiment.
    Raises as multirun does."""
    runner, prepared = _submit(runs, cmd, output_path, input_files, runner, force)
    for run in prepared:
        if run.experiment is not None:
            run.task = asyncio.create_task(_outcome(run.experiment), name=run.path.name)
    tasks = [run.task for run in prepared if run.task is not None]
    await asyncio.gather(*tasks, return_exceptions=True)  # a failed run is in its status, not raised here
    _finish(runner)
    return prepared


async def _outcome(experiment: Experiment) -> Any:
    return await asyncio.wrap_future(experiment)


def _finish(runner: AbstractRunner) -> None:
    if isinstance(runner, ParallelLocalRunner):
        runner.close()
    runner._finished.set()


def _finish_when_done(runner: AbstractRunner, experiments: list[Experiment]) -> None:
    remaining = [len(experiments)]
    lock = threading.Lock()

    def one_done(_: Experiment) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            _finish(runner)

    if not experiments:
        _finish(runner)
    for exp in experiments:
        exp.add_own_done_callback(one_done)


async def displayStatus(runner: AbstractRunner) -> None:  # noqa: N802 (Karana's name)
    """Display and asynchronously update a run status bar (rich) until the runner's
    runs have all ended: run with ``asyncio.gather(multirunAsync(...), displayStatus(runner))``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]multirun"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task("runs", total=None, counts="")
        while True:
            done = runner.finished
            stats = runner.computeStatistics()
            progress.update(
                task,
                total=stats.total_count or None,
                completed=stats.complete_count,
                counts=_counts_text(stats),
            )
            if done:
                return
            await asyncio.sleep(STATUS_REFRESH_S)


def _counts_text(stats: RunStatistics) -> str:
    return (
        f"[green]{stats.success_count} ok[/] [red]{stats.failure_count} failed[/] "
        f"{stats.running_count} running {stats.pending_count} pending {stats.skipped_count} skipped"
    )
