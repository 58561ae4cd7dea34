"""Where labqueue keeps its files: platformdirs, unless a data directory is given.

With a data directory (``--data-dir DIR`` or ``LABQUEUE_DATA_DIR``) everything lives
under it: ``DIR/config.toml``, ``DIR/labqueue.db``, ``DIR/logs``. That keeps tests and
side-by-side setups apart from the user's own folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["APP_NAME", "DATA_DIR_ENV", "config_dir", "data_dir", "log_dir"]

APP_NAME = "labqueue"
DATA_DIR_ENV = "LABQUEUE_DATA_DIR"


def _override(explicit: str | Path | None) -> Path | None:
    if explicit is not None:
        return Path(explicit).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    return Path(from_env).expanduser() if from_env else None


def data_dir(explicit: str | Path | None = None) -> Path:
    """The data directory: ``explicit``, else ``$LABQUEUE_DATA_DIR``, else platformdirs'."""
    return _override(explicit) or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir(explicit: str | Path | None = None) -> Path:
    """The config directory (the data directory itself when one is given)."""
    return _override(explicit) or Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def log_dir(explicit: str | Path | None = None) -> Path:
    """The log directory (``DIR/logs`` when a data directory is given)."""
    override = _override(explicit)
    if override is not None:
        return override / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
