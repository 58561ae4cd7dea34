"""The engine: experiments (futures of queued calls), their queue and the worker thread.

Depends on nothing else in labqueue; the journal, the manager and the window build on it.
"""

from .experiment import (
    INSTRUMENT_LANE,
    PENDING,
    PROCESS_LANE,
    REQUEUEABLE,
    Aborted,
    Experiment,
    ExperimentContextFilter,
    ExpStatus,
    Interrupted,
    call_title,
    current_experiment,
    current_manager,
    install_log_capture,
    running_as,
    short_repr,
)
from .experiment_queue import ExperimentQueue, QueueSnapshot, QueueStore
from .locks import YieldingRLock
from .signals import INTERNAL_PRIORITY, emit_safely
from .worker import Worker

__all__ = [
    "INSTRUMENT_LANE",
    "INTERNAL_PRIORITY",
    "PENDING",
    "PROCESS_LANE",
    "REQUEUEABLE",
    "Aborted",
    "ExpStatus",
    "Experiment",
    "ExperimentContextFilter",
    "ExperimentQueue",
    "Interrupted",
    "QueueSnapshot",
    "QueueStore",
    "Worker",
    "YieldingRLock",
    "call_title",
    "current_experiment",
    "current_manager",
    "emit_safely",
    "install_log_capture",
    "running_as",
    "short_repr",
]
