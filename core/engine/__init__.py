"""The engine: experiments (futures of queued calls), their queue and the worker thread.

Depends on nothing else in labqueue; the journal, the manager and the window build on it.
"""

from .chains import (
    FAILURE_POLICIES,
    FedCall,
    Link,
    RetryPolicy,
    apply_failure_policies,
    cancel_with_reason,
    check_chain_options,
    held_by,
    settle_restored,
    watch_retries,
)
from .chains import attach as attach_links
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
    record_message,
    refuse_generator_function,
    running_as,
    short_repr,
)
from .experiment_queue import ExperimentQueue, QueueSnapshot, QueueStore
from .locks import YieldingRLock
from .published import MAX_POINTS, PublishedData, Series
from .signals import INTERNAL_PRIORITY, emit_safely
from .worker import DEFAULT_ABORT_GRACE_SECONDS, ForcedAbort, WatchedEvent, Worker

__all__ = [
    "FAILURE_POLICIES",
    "FedCall",
    "Link",
    "RetryPolicy",
    "apply_failure_policies",
    "attach_links",
    "cancel_with_reason",
    "check_chain_options",
    "held_by",
    "settle_restored",
    "watch_retries",
    "INSTRUMENT_LANE",
    "DEFAULT_ABORT_GRACE_SECONDS",
    "INTERNAL_PRIORITY",
    "MAX_POINTS",
    "PENDING",
    "PROCESS_LANE",
    "REQUEUEABLE",
    "Aborted",
    "ExpStatus",
    "Experiment",
    "ExperimentContextFilter",
    "ExperimentQueue",
    "ForcedAbort",
    "Interrupted",
    "PublishedData",
    "QueueSnapshot",
    "QueueStore",
    "Series",
    "WatchedEvent",
    "Worker",
    "YieldingRLock",
    "call_title",
    "current_experiment",
    "current_manager",
    "emit_safely",
    "install_log_capture",
    "running_as",
    "record_message",
    "refuse_generator_function",
    "short_repr",
]
