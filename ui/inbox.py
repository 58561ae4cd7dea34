"""What the core announces, collected on any thread for the GUI thread to apply.

Core signals fire on the thread that made the change, usually the worker. The slots
here only set a flag or append to a deque (both safe from any thread) and never touch
Qt; the window takes what arrived once per frame, on the GUI thread. So thousands of
status changes a second cost the GUI one snapshot per frame, not one update each.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from labqueue.core import Manager
from labqueue.core.engine import INTERNAL_PRIORITY

__all__ = ["CoreInbox", "LogInbox", "drain"]


def drain(items: deque) -> list:
    """Take what is in ``items`` now, oldest first, safely while other threads keep
    appending (what arrives meanwhile stays for the next call)."""
    return [items.popleft() for _ in range(len(items))]


class CoreInbox:
    """Flags raised by a :class:`Manager`'s signals since last taken, and the
    experiment that published last (its data is kept with it: the plot reads it there)."""

    def __init__(self, manager: Manager) -> None:
        # True at first, so the first frame shows what is already there.
        self._queue_changed = True
        self._progress_changed = True
        self._state_changed = True
        self.latest_publisher: Any = None  # the experiment that published last
        queue = manager.job_queue
        self._connections = [
            (queue.added_signal, self._on_queue_changed),
            (queue.removed_signal, self._on_queue_changed),
            (queue.moved_signal, self._on_queue_changed),
            (queue.held_signal, self._on_queue_changed),
            (queue.status_changed_signal, self._on_queue_changed),
            (manager.progress_signal, self._on_progress),
            (manager.state_changed_signal, self._on_state_changed),
            (manager.data_signal, self._on_data),
        ]
        for signal, slot in self._connections:
            signal.connect(slot, priority=INTERNAL_PRIORITY)

    def close(self) -> None:
        """Stop listening to the manager."""
        for signal, slot in self._connections:
            signal.disconnect(slot)
        self._connections = []

    # -- slots: any thread -------------------------------------------------------------

    def _on_queue_changed(self, *_: Any) -> None:
        self._queue_changed = True

    def _on_progress(self, *_: Any) -> None:
        self._progress_changed = True

    def _on_state_changed(self, *_: Any) -> None:
        self._state_changed = True

    def _on_data(self, experiment: Any, *_: Any) -> None:
        if experiment is not None:
            self.latest_publisher = experiment  # one assignment: safe from any thread

    # -- takers: the GUI thread --------------------------------------------------------
    # A flag is cleared only after it was seen raised and before the caller reads the
    # core, so a change that lands meanwhile is either read now or raises it again.

    def _take(self, flag: str) -> bool:
        if not getattr(self, flag):
            return False
        setattr(self, flag, False)
        return True

    def note_queue_changed(self) -> None:
        """Raise the flag again: the change taken could not be applied yet."""
        self._queue_changed = True

    def take_queue_changed(self) -> bool:
        return self._take("_queue_changed")

    def take_progress_changed(self) -> bool:
        return self._take("_progress_changed")

    def take_state_changed(self) -> bool:
        return self._take("_state_changed")


class LogInbox(logging.Handler):
    """A logging handler that keeps records for the GUI thread, from any thread.

    At most ``capacity`` records wait; when more arrive before the GUI takes them,
    the oldest are dropped and counted in :attr:`dropped` (a flood of log records
    must not eat the memory of an overnight run).
    """

    def __init__(self, capacity: int = 50_000) -> None:
        super().__init__()
        self._records: deque[logging.LogRecord] = deque(maxlen=capacity)
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        if len(self._records) == self._records.maxlen:
            self.dropped += 1
        self._records.append(record)

    def take(self) -> list[logging.LogRecord]:
        return drain(self._records)
