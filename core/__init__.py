"""labqueue's engine: experiments, their queue, the worker and the manager. No Qt here."""

from .experiment import Aborted, Experiment, ExpStatus, Interrupted, current_experiment
from .experiment_queue import ExperimentQueue
from .manager import Manager, WorkerState, checkpoint, publish, set_progress
from .worker import Worker

__all__ = [
    "Aborted",
    "ExpStatus",
    "Experiment",
    "ExperimentQueue",
    "Interrupted",
    "Manager",
    "Worker",
    "WorkerState",
    "checkpoint",
    "current_experiment",
    "publish",
    "set_progress",
]
