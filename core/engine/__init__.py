"""The engine: experiments (futures of queued calls), their queue and the worker thread.

Depends on nothing else in labqueue; the journal, the manager and the window build on it.
"""

from .experiment import (
    PENDING,
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
    short_repr,
)
from .experiment_queue import ExperimentQueue, QueueSnapshot, QueueStore
from .locks import YieldingRLock
from .published import MAX_POINTS, PublishedData, Series
from .signals import INTERNAL_PRIORITY, emit_safely
from .worker import Worker

__all__ = [
    "INTERNAL_PRIORITY",
    "MAX_POINTS",
    "PENDING",
    "REQUEUEABLE",
    "Aborted",
    "ExpStatus",
    "Experiment",
    "ExperimentContextFilter",
    "ExperimentQueue",
    "Interrupted",
    "PublishedData",
    "QueueSnapshot",
    "QueueStore",
    "Series",
    "Worker",
    "YieldingRLock",
    "call_title",
    "current_experiment",
    "current_manager",
    "emit_safely",
    "install_log_capture",
    "short_repr",
]
