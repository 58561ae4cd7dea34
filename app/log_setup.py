"""Logging for the whole program: rotating log files, configured once at start.

Every line carries date, time, level, logger name and the id of the experiment that
was running on the emitting thread (``-`` outside a run), so a line in the file can
be traced back to its experiment in the queue and the journal.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from labqueue.core.engine import MAX_TRACEBACK_CHARS, ExperimentContextFilter, format_failure

__all__ = ["LOG_FILE_NAME", "LOG_FORMAT", "configure_logging", "remove_logging"]

LOG_FILE_NAME = "labqueue.log"
LOG_FORMAT = "%(asctime)s %(levelname)-8s %(name)s [%(experiment_id)s] %(message)s"

#: Size at which the log file is rotated, and how many old files are kept beside it.
DEFAULT_MAX_BYTES = 2_000_000
DEFAULT_BACKUP_COUNT = 5


class _LabqueueFileHandler(logging.handlers.RotatingFileHandler):
    """The rotating file handler this module installs (a type of its own, so it can
    be found again on the root logger and never installed twice)."""


class _BoundedFormatter(logging.Formatter):
    """Formats tracebacks bounded (:func:`~core.engine.format_failure`): a record of an
    exception carrying a huge payload must not render the payload into the file."""

    def format(self, record: logging.LogRecord) -> str:
        # Another handler's formatter may have cached the traceback whole on the record.
        if record.exc_info and record.exc_text and len(record.exc_text) > MAX_TRACEBACK_CHARS:
            record.exc_text = None
        return super().format(record)

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        if ei[1] is None:
            return super().formatException(ei)
        return format_failure(ei[1]).rstrip("\n")


def _installed() -> _LabqueueFileHandler | None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _LabqueueFileHandler):
            return handler
    return None


def log_to_terminal() -> None:
    """Show INFO and above on the terminal, unless logging was configured already."""
    root = logging.getLogger()
    if not root.handlers or root.level > logging.INFO:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(
    log_dir: str | Path,
    *,
    level: int = logging.INFO,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backup_count: int = DEFAULT_BACKUP_COUNT,
) -> logging.Handler:
    """Write log records of ``level`` and above to ``log_dir/labqueue.log``.

    The file rotates when it would exceed ``max_bytes``; ``backup_count`` older files
    are kept (``labqueue.log.1`` is the newest). The root logger is lowered to
    ``level`` if it was stricter. Calling again with the same directory returns the
    handler already installed; with another directory, the old handler is replaced,
    so lines are never written twice.

    Raises OSError when the directory cannot be created or the file not opened.
    """
    directory = Path(log_dir).expanduser()
    path = directory / LOG_FILE_NAME
    current = _installed()
    if current is not None and Path(current.baseFilename) == path.absolute():
        return current
    directory.mkdir(parents=True, exist_ok=True)
    handler = _LabqueueFileHandler(path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(_BoundedFormatter(LOG_FORMAT))
    # A handler filter (not a logger filter) sees records propagated from every logger.
    handler.addFilter(ExperimentContextFilter())
    root = logging.getLogger()
    if current is not None:
        remove_logging(current)
    root.addHandler(handler)
    if root.level > level:
        root.setLevel(level)
    return handler


def remove_logging(handler: logging.Handler | None = None) -> None:
    """Detach and close ``handler`` (default: the file handler installed here)."""
    handler = handler if handler is not None else _installed()
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    handler.close()
