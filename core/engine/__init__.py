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
    record_message,
    refuse_generator_function,
    short_repr,
)
from .experiment_queue import ExperimentQueue, QueueSnapshot, QueueStore
from .locks import YieldingRLock
from .signals import INTERNAL_PRIORITY, emit_safely
from .worker import DEFAULT_ABORT_GRACE_SECONDS, ForcedAbort, WatchedEvent, Worker

__all__ = [
    "DEFAULT_ABORT_GRACE_SECONDS",
    "INTERNAL_PRIORITY",
    "PENDING",
    "REQUEUEABLE",
    "Aborted",
    "ExpStatus",
    "Experiment",
    "ExperimentContextFilter",
    "ExperimentQueue",
    "ForcedAbort",
    "Interrupted",
    "QueueSnapshot",
    "QueueStore",
    "WatchedEvent",
    "Worker",
    "YieldingRLock",
    "call_title",
    "current_experiment",
    "current_manager",
    "emit_safely",
    "install_log_capture",
    "record_message",
    "refuse_generator_function",
    "short_repr",
]
