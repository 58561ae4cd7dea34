"""The engine: experiments (futures of queued calls), their queue and the worker thread.

Depends on nothing else in labqueue; the journal, the manager and the window build on it.
"""

from .bounded_text import (
    MAX_TRACEBACK_CHARS,
    BoundedRepr,
    cut_middle,
    failure_message,
    format_failure,
    make_bounded_repr,
    short_repr,
)
from .experiment import (
    PENDING,
    REQUEUEABLE,
    Aborted,
    Experiment,
    ExperimentContextFilter,
    ExpStatus,
    Interrupted,
    StoredOutcome,
    call_title,
    current_experiment,
    current_manager,
    install_log_capture,
)
from .experiment_queue import ExperimentQueue, QueueClosed, QueueSnapshot, QueueStore
from .locks import YieldingRLock
from .signal_queue import SignalQueue
from .signals import INTERNAL_PRIORITY, emit_safely
from .worker import Worker

__all__ = [
    "INTERNAL_PRIORITY",
    "MAX_TRACEBACK_CHARS",
    "PENDING",
    "REQUEUEABLE",
    "Aborted",
    "BoundedRepr",
    "ExpStatus",
    "Experiment",
    "ExperimentContextFilter",
    "ExperimentQueue",
    "Interrupted",
    "QueueClosed",
    "QueueSnapshot",
    "QueueStore",
    "SignalQueue",
    "StoredOutcome",
    "Worker",
    "YieldingRLock",
    "call_title",
    "current_experiment",
    "current_manager",
    "cut_middle",
    "emit_safely",
    "failure_message",
    "format_failure",
    "install_log_capture",
    "make_bounded_repr",
    "short_repr",
]
