"""A logging handler that lets a test wait for records instead of sleeping."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class RecordWaiter(logging.Handler):
    """Collects records and lets a test wait for one containing some text, or for a count."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self._arrived = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._arrived:
            self.records.append(record)
            self._arrived.notify_all()

    def messages(self) -> list[str]:
        with self._arrived:
            return [r.getMessage() for r in self.records]

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        """The first message containing ``text``; AssertionError after ``timeout``."""

        def found():
            return next((m for m in self.messages() if text in m), None)

        with self._arrived:
            assert self._arrived.wait_for(found, timeout), f"no log message with {text!r}: {self.messages()}"
        return found()

    def wait_count(self, count: int, timeout: float = 15.0) -> None:
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.records) >= count, timeout)
            assert arrived, f"expected {count} record(s), got {self.messages()}"


@contextmanager
def records_of(logger_name: str) -> Iterator[RecordWaiter]:
    """A :class:`RecordWaiter` attached to ``logger_name`` for the duration of the block."""
    waiter = RecordWaiter()
    logger = logging.getLogger(logger_name)
    logger.addHandler(waiter)
    try:
        yield waiter
    finally:
        logger.removeHandler(waiter)
