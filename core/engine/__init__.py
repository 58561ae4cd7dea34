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
    DASK_LANE,
    INSTRUMENT_LANE,
    PENDING,
    PROCESS_LANE,
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
    record_message,
    refuse_generator_function,
    running_as,
)
from .experiment_queue import ExperimentQueue, QueueClosed, QueueSnapshot, QueueStore
from .locks import YieldingRLock
from .published import MAX_POINTS, PublishedData, Series
from .signal_queue import SignalQueue
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
    "DASK_LANE",
    "INSTRUMENT_LANE",
    "DEFAULT_ABORT_GRACE_SECONDS",
    "INTERNAL_PRIORITY",
    "MAX_POINTS",
    "MAX_TRACEBACK_CHARS",
    "PENDING",
    "PROCESS_LANE",
    "REQUEUEABLE",
    "Aborted",
    "BoundedRepr",
    "ExpStatus",
    "Experiment",
    "ExperimentContextFilter",
    "ExperimentQueue",
    "ForcedAbort",
    "Interrupted",
    "PublishedData",
    "QueueClosed",
    "QueueSnapshot",
    "QueueStore",
    "Series",
    "SignalQueue",
    "StoredOutcome",
    "WatchedEvent",
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
    "running_as",
    "record_message",
    "refuse_generator_function",
    "short_repr",
]
