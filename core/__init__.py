"""labqueue's core: the engine, the journal, notifications and configuration. No Qt here.

``engine/`` holds experiments, their queue and the worker; ``journal/`` the SQLite
store; ``notify/`` email digests and watchers; ``config/`` paths and ``config.toml``.
:class:`Manager` (``manager.py``) wires them into the one object a script holds.
"""

from .engine import (
    Aborted,
    Experiment,
    ExperimentQueue,
    ExpStatus,
    ForcedAbort,
    Interrupted,
    Worker,
    current_experiment,
    plot_axes,
)
from .journal import DataDirectoryInUse, JournalError
from .manager import Manager, WorkerState, checkpoint, publish, set_progress

__all__ = [
    "Aborted",
    "DataDirectoryInUse",
    "ExpStatus",
    "Experiment",
    "ExperimentQueue",
    "ForcedAbort",
    "Interrupted",
    "JournalError",
    "Manager",
    "Worker",
    "WorkerState",
    "checkpoint",
    "current_experiment",
    "plot_axes",
    "publish",
    "set_progress",
]
