"""Settings: ``config.toml`` read with :mod:`tomllib`, checked key by key, and written back.

A missing file means defaults. A bad value never stops the program: it is reported
in a message naming the file, the table and the key, and that key takes its default.
The SMTP password is deliberately not a setting: it lives in the system keyring or
in ``$LABQUEUE_SMTP_PASSWORD`` (see :mod:`core.smtp_delivery`), and the writer can
only write the fields below, so it can never put a password in the file.

An example, with the defaults where a value is not obvious::

    [email]
    to = ["ana@lab.example"]     # nobody is emailed while this is empty
    level = "WARNING"            # INFO, WARNING, ERROR, CRITICAL or OFF
    host = "smtp.lab.example"
    port = 587
    security = "starttls"        # starttls, ssl or none
    username = "ana"             # empty: no login
    sender = ""                  # empty: labqueue@<this computer>
    digest_seconds = 60          # records within this window go into one email
    max_per_hour = 10            # the rest wait for one summary email
    queue_done = false           # email a summary when the queue is done
    stall_minutes = 0            # warn when a run is silent this long; 0 = never

    [queue]
    pause_on_failure = true
    kill_grace_seconds = 5       # abort: SIGTERM to a command, SIGKILL this much later
    abort_grace_seconds = 10     # an aborted job that has not returned by then is stopped by force

    [dask]
    scheduler = ""               # a Dask scheduler's address (tcp://host:8786); empty: a local cluster
    workers = 0                  # the local cluster's worker processes; 0: one per CPU
    dashboard = ""               # the local cluster's dashboard address (":8787"); empty: none
    connect_timeout_seconds = 10 # a scheduler that has not answered by then is out of reach
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from .paths import config_dir

__all__ = [
    "CONFIG_FILE_NAME",
    "EMAIL_LEVELS",
    "EMAIL_OFF",
    "SECURITY_MODES",
    "EmailSettings",
    "DaskSettings",
    "QueueSettings",
    "SettingError",
    "Settings",
    "check_setting",
    "config_path",
    "email_level_number",
    "load_settings",
    "save_settings",
]

CONFIG_FILE_NAME = "config.toml"
EMAIL_LEVELS = ("INFO", "WARNING", "ERROR", "CRITICAL", "OFF")
#: ``email_handler_level`` meaning "email nothing": above every standard level.
EMAIL_OFF = logging.CRITICAL + 10
SECURITY_MODES = ("starttls", "ssl", "none")


class SettingError(ValueError):
    """A value a setting cannot take; the message says what is allowed."""


@dataclass(frozen=True)
class EmailSettings:
    """The ``[email]`` table: who is told, about what, through which server."""

    to: tuple[str, ...] = ()
    level: str = "WARNING"
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str = ""
    sender: str = ""
    digest_seconds: float = 60.0
    max_per_hour: int = 10
    queue_done: bool = False
    stall_minutes: float = 0.0


@dataclass(frozen=True)
class QueueSettings:
    """The ``[queue]`` table.

    ``abort_grace_seconds``: how long an aborted job may take to return before
    Aborted is raised inside it, and again before it is reported stuck.
    """

    pause_on_failure: bool = True
    kill_grace_seconds: float = 5.0
    abort_grace_seconds: float = 10.0


@dataclass(frozen=True)
class DaskSettings:
    """The ``[dask]`` table: where the Dask lane runs (``--dask-scheduler`` overrides ``scheduler``)."""

    scheduler: str = ""
    workers: int = 0
    dashboard: str = ""
    connect_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Settings:
    email: EmailSettings = EmailSettings()
    queue: QueueSettings = QueueSettings()
    dask: DaskSettings = DaskSettings()


_TABLES: dict[str, type] = {"email": EmailSettings, "queue": QueueSettings, "dask": DaskSettings}

# -- one checker per key ---------------------------------------------------------------

_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+")


def _address(value: Any) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value.strip()):
        raise SettingError(f"{value!r} is not an email address like name@example.org")
    return value.strip()


def _addresses(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SettingError("must be a list of email addresses")
    return tuple(_address(item) for item in value)


def _sender(value: Any) -> str:
    return "" if value == "" else _address(value)


def _level(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in EMAIL_LEVELS:
        raise SettingError(f"must be one of {', '.join(EMAIL_LEVELS)}")
    return value.upper()


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise SettingError("must be a host name or address without spaces")
    return value.strip()


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise SettingError("must be a string")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise SettingError("must be true or false")
    return value


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SettingError(f"must be a whole number from {low} to {high}")
        return value

    return check


def _number(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise SettingError(f"must be a number from {low:g} to {high:g}")
        return float(value)

    return check


def _network_address(example: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or any(c.isspace() for c in value.strip()):
            raise SettingError(f"must be an address like {example}, without spaces (or empty)")
        return value.strip()

    return check


def _security(value: Any) -> str:
    if value not in SECURITY_MODES:
        raise SettingError(f"must be one of {', '.join(SECURITY_MODES)}")
    return value


_CHECKERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "email": {
        "to": _addresses,
        "level": _level,
        "host": _host,
        "port": _whole(1, 65535),
        "security": _security,
        "username": _text,
        "sender": _sender,
        "digest_seconds": _number(0, 86400),
        "max_per_hour": _whole(1, 3600),
        "queue_done": _boolean,
        "stall_minutes": _number(0, 7 * 24 * 60),
    },
    "queue": {
        "pause_on_failure": _boolean,
        "kill_grace_seconds": _number(0, 3600),
        "abort_grace_seconds": _number(0, 3600),
    },
    "dask": {
        "scheduler": _network_address("tcp://host:8786"),
        "workers": _whole(0, 4096),
        "dashboard": _network_address(":8787"),
        "connect_timeout_seconds": _number(0.1, 3600),
    },
}


def check_setting(table: str, key: str, value: Any) -> Any:
    """The value ``[table] key`` takes for ``value`` (normalised, e.g. level upper-case).

    Raises SettingError saying what is allowed when the value is invalid, and
    KeyError when there is no such setting.
    """
    return _CHECKERS[table][key](value)


def email_level_number(level: str) -> int:
    """The logging level for an ``[email] level`` name; ``OFF`` is :data:`EMAIL_OFF`.

    Raises SettingError for a name not in :data:`EMAIL_LEVELS`.
    """
    name = _level(level)
    return EMAIL_OFF if name == "OFF" else logging.getLevelName(name)


# -- reading ---------------------------------------------------------------------------


def config_path(data_dir: str | Path | None = None) -> Path:
    """Where the settings live: ``config.toml`` in the config directory."""
    return config_dir(data_dir) / CONFIG_FILE_NAME


def _read_table(path: Path, name: str, raw: Any, problems: list[str]) -> Any:
    defaults = _TABLES[name]()
    if not isinstance(raw, dict):
        problems.append(f"{path}: [{name}] must be a table; using the defaults for all of it")
        return defaults
    checkers = _CHECKERS[name]
    values = {}
    for key, value in raw.items():
        if name == "email" and key == "password":
            problems.append(
                f"{path}: [email] password is never read from the file: store it in the system "
                "keyring (Settings dialog) or set LABQUEUE_SMTP_PASSWORD, then remove it from the file"
            )
        elif key not in checkers:
            problems.append(f"{path}: [{name}] unknown key {key!r} is ignored (known keys: {', '.join(checkers)})")
        else:
            try:
                values[key] = checkers[key](value)
            except SettingError as exc:
                default = getattr(defaults, key)
                problems.append(f"{path}: [{name}] {key} = {value!r}: {exc}; using the default {default!r}")
    return dataclasses.replace(defaults, **values)


def load_settings(path: str | Path) -> tuple[Settings, list[str]]:
    """Read the settings in ``path``; returns them and a list of problems found.

    Never raises for the file's content or absence: a missing file gives defaults
    silently, an unreadable or invalid one gives defaults and a message naming it.
    Other top-level tables are left to whoever owns them.
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        return Settings(), []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Settings(), [f"{path}: cannot be read ({exc}); using the defaults for every setting"]
    problems: list[str] = []
    for key, value in data.items():
        if key not in _TABLES and not isinstance(value, dict):
            problems.append(
                f"{path}: unknown top-level key {key!r} is ignored (settings go in [email], [queue] or [dask])"
            )
    tables = {name: _read_table(path, name, data.get(name, {}), problems) for name in _TABLES}
    return Settings(**tables), problems


# -- writing ---------------------------------------------------------------------------


def _as_toml_table(values: Any) -> dict[str, Any]:
    table = dataclasses.asdict(values)
    return {key: list(value) if isinstance(value, tuple) else value for key, value in table.items()}


def save_settings(settings: Settings, path: str | Path) -> None:
    """Write ``settings`` to ``path`` atomically, keeping the file's other tables.

    Comments are not kept. A file that could not be parsed is first copied to
    ``config.toml.bak`` so nothing the user wrote is lost. Raises OSError when the
    file cannot be written.
    """
    path = Path(path)
    data: dict[str, Any] = {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        path.with_name(path.name + ".bak").write_bytes(path.read_bytes())
    for name in _TABLES:
        data[name] = _as_toml_table(getattr(settings, name))
    text = "# labqueue settings. The SMTP password is never stored here.\n" + tomli_w.dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
