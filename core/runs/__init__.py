"""Command runs, the process lane, isolated calls and sweeps.

``command`` is the command experiment (a program in its own folder and process
group); ``isolated`` a Python call in a process of its own; ``spawner`` and
``watchdog`` start those processes so that none outlives labqueue; ``process_lane``
runs them several at once beside the worker; ``dask_lane`` runs them as tasks on a
Dask cluster (``dask_task`` is their side, on the workers); ``lane`` is the interface every lane
offers; ``sweep`` and ``groups`` are many runs as one group; ``multirun_api`` is Karana's
sweep API on top (also importable as ``labqueue.multirun``); ``run_files`` the layout of
a run directory.
"""

from .command import CommandCall, CommandExperiment, CommandFailed, CommandTimedOut, command_of
from .dask_lane import (
    DEFAULT_CONNECT_TIMEOUT_S,
    ClusterInfo,
    DaskLane,
    DaskUnavailable,
    DaskWorkerDied,
    DaskWorkerRestarted,
)
from .groups import SweepGroup
from .isolated import IsolatedCallFailed, Relay
from .lane import Lane, LaneStatistics
from .multirun_api import (
    SWEEP_FILE,
    AbstractRunner,
    DaskRunner,
    FileLinkage,
    FileResource,
    MultirunError,
    ParallelLocalRunner,
    ParamMap,
    ParamValue,
    Run,
    SweepChanged,
    displayStatus,
    getRunParams,
    multirun,
    multirunAsync,
    postRunResults,
    restart_multirun,
)
from .process_lane import DEFAULT_KILL_GRACE_S, ProcessLane
from .run_files import (
    FINISHED_MARKER,
    PARAMS_FILE,
    RESULTS_FILE,
    RUN_DIR_ENV,
    STDERR_FILE,
    STDOUT_FILE,
    is_finished,
    tail_lines,
)
from .spawner import SpawnError
from .sweep import RunStatistics, RunStatus, Sweep, parameter_sets, queue_sweep, run_status

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_KILL_GRACE_S",
    "SWEEP_FILE",
    "AbstractRunner",
    "ClusterInfo",
    "DaskLane",
    "DaskRunner",
    "DaskUnavailable",
    "DaskWorkerDied",
    "DaskWorkerRestarted",
    "FileLinkage",
    "FileResource",
    "MultirunError",
    "ParallelLocalRunner",
    "ParamMap",
    "ParamValue",
    "Run",
    "SweepChanged",
    "displayStatus",
    "getRunParams",
    "multirun",
    "multirunAsync",
    "postRunResults",
    "restart_multirun",
    "FINISHED_MARKER",
    "PARAMS_FILE",
    "RESULTS_FILE",
    "RUN_DIR_ENV",
    "STDERR_FILE",
    "STDOUT_FILE",
    "CommandCall",
    "CommandExperiment",
    "CommandFailed",
    "CommandTimedOut",
    "IsolatedCallFailed",
    "Lane",
    "LaneStatistics",
    "ProcessLane",
    "Relay",
    "RunStatistics",
    "RunStatus",
    "SpawnError",
    "Sweep",
    "SweepGroup",
    "command_of",
    "is_finished",
    "parameter_sets",
    "queue_sweep",
    "run_status",
    "tail_lines",
]
