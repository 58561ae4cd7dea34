"""The journal: the queue and its history in one SQLite file, and the lock that keeps
one program per data directory.

``store`` is the journal itself, ``schema`` opens the file and migrates it, ``codec``
turns calls, results, failures and log lines into what is stored, ``history`` is the
query of past experiments, ``instance_lock`` the one-program-per-directory lock.
"""

from .codec import CallNotStored, ResultNotStored, StoredFailure
from .history import HistoryFilter, Moment, as_timestamp
from .instance_lock import LOCK_FILE, DataDirectoryInUse, InstanceLock
from .schema import JournalError, open_memory_database
from .store import JOURNAL_FILE, Journal, Restored

__all__ = [
    "JOURNAL_FILE",
    "LOCK_FILE",
    "CallNotStored",
    "DataDirectoryInUse",
    "HistoryFilter",
    "InstanceLock",
    "Journal",
    "JournalError",
    "Moment",
    "Restored",
    "ResultNotStored",
    "StoredFailure",
    "as_timestamp",
    "open_memory_database",
]
