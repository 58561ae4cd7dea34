"""SignalQueue: a :class:`queue.Queue` that announces what goes in and out (the result
queue, as CustomXepr's ``SignalQueue``), and the index rule both queues share."""

from __future__ import annotations

import queue as std_queue
from typing import Any

from psygnal import Signal

from .signals import emit_safely

__all__ = ["SignalQueue", "absolute_index"]


def absolute_index(i: int, size: int) -> int:
    """``i`` as a position in a sequence of ``size`` items, counting from the end when
    negative (as list indexing does); IndexError when there is no such item."""
    position = i + size if i < 0 else i
    if not 0 <= position < size:
        raise IndexError(f"index {i} outside a queue of {size}")
    return position


class SignalQueue(std_queue.Queue):
    """A thread-safe FIFO queue with signals, and removal of items from its middle.

    Signals (psygnal; slots may take fewer arguments than are sent), emitted on the
    thread that made the change, after the queue's lock is released:

    * ``added_signal(item)``: ``item`` was put at the end.
    * ``removed_signal(i_start, n_items)``: items were taken out: ``(0, 1)`` for each
      :meth:`get`, the range for :meth:`remove_items`.
    """

    added_signal = Signal(object)
    removed_signal = Signal(int, int)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        emit_safely(self.added_signal, item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        item = super().get(block, timeout)
        emit_safely(self.removed_signal, 0, 1)
        return item

    def remove_item(self, i: int) -> None:
        """Remove the item at index ``i`` (negative counts from the end); IndexError if
        there is none."""
        self.remove_items(i)

    def remove_items(self, i_start: int, i_end: int | None = None) -> None:
        """Remove the items from ``i_start`` to ``i_end`` inclusive (default: ``i_start``
        alone; negative indices count from the end), each counted as a finished task.

        IndexError if either index is outside the queue, ValueError if ``i_end`` comes
        before ``i_start``; then nothing is removed.
        """
        with self.mutex:
            size = len(self.queue)
            first = absolute_index(i_start, size)
            last = absolute_index(i_start if i_end is None else i_end, size)
            if last < first:
                raise ValueError("'i_end' must be larger than or equal to 'i_start'")
            count = last - first + 1
            for _ in range(count):
                del self.queue[first]
            self.not_full.notify(count)
        for _ in range(count):
            self.task_done()  # so that join() does not wait for items nobody will get
        emit_safely(self.removed_signal, first, count)
