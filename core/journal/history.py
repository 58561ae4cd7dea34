"""HistoryFilter: which ended experiments a history query asks for.

In the manner of Merlin's ``RunManager.get_all(filters)``: every given criterion
must hold. The same filter runs in memory (a manager without a journal) and as SQL
(:meth:`core.journal.Journal.find`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from ..engine import Experiment, ExpStatus

__all__ = ["HistoryFilter", "as_timestamp", "title_contains"]

Moment = float | int | dt.datetime


def as_timestamp(moment: Moment | None, name: str) -> float | None:
    """POSIX seconds from a number or a datetime (naive = local time); TypeError otherwise."""
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        return moment.timestamp()
    if isinstance(moment, int | float) and not isinstance(moment, bool):
        return float(moment)
    raise TypeError(f"{name} must be a POSIX timestamp or a datetime, not {type(moment).__name__}")


def _status(value: ExpStatus | str) -> ExpStatus:
    if isinstance(value, ExpStatus):
        return value
    if isinstance(value, str) and value.upper() in ExpStatus.__members__:
        return ExpStatus[value.upper()]
    names = ", ".join(s.name for s in ExpStatus)
    raise ValueError(f"unknown status {value!r}; use one of {names}")


def title_contains(title: str | None, text: str) -> bool:
    """Case-insensitive search of a title, the same in memory and in the journal's SQL."""
    return title is not None and text.lower() in title.lower()


@dataclass(frozen=True)
class HistoryFilter:
    """Criteria on ended experiments; None means "any".

    Attributes:
        statuses: the statuses wanted.
        since, until: finish time bounds in POSIX seconds (since inclusive, until exclusive).
        title_contains: text the title contains, ignoring case.
        limit: keep only the most recent ``limit`` matches.
    """

    statuses: frozenset[ExpStatus] | None = None
    since: float | None = None
    until: float | None = None
    title_contains: str | None = None
    limit: int | None = None

    @classmethod
    def from_arguments(
        cls,
        status: ExpStatus | str | Iterable[ExpStatus | str] | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        title_contains: str | None = None,
        limit: int | None = None,
    ) -> HistoryFilter:
        """Check and normalise user arguments.

        ``status`` is an :class:`ExpStatus`, a status name (any case) or several of
        them. Raises ValueError for an unknown status or a negative limit, TypeError
        for a time that is neither a number nor a datetime.
        """
        statuses = None
        if status is not None:
            several = not isinstance(status, ExpStatus | str)
            statuses = frozenset(_status(s) for s in (status if several else [status]))
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit must be a whole number >= 0, not {limit!r}")
        if title_contains is not None and not isinstance(title_contains, str):
            raise TypeError(f"title_contains must be text, not {type(title_contains).__name__}")
        since_s, until_s = as_timestamp(since, "since"), as_timestamp(until, "until")
        return cls(statuses, since_s, until_s, title_contains, limit)

    def matches(self, exp: Experiment) -> bool:
        if self.statuses is not None and exp.status not in self.statuses:
            return False
        finished = exp.finished_at
        if self.since is not None and (finished is None or finished < self.since):
            return False
        if self.until is not None and (finished is None or finished >= self.until):
            return False
        return self.matches_title(exp)

    def matches_title(self, exp: Experiment) -> bool:
        return self.title_contains is None or title_contains(exp.title, self.title_contains)

    def most_recent(self, found: list[Experiment]) -> list[Experiment]:
        """The last ``limit`` of ``found`` (all of them without a limit)."""
        if self.limit is None:
            return found
        return found[len(found) - self.limit :] if self.limit else []

    def apply(self, history: Iterable[Experiment]) -> list[Experiment]:
        """The matching experiments of ``history`` (oldest first), limited to the most recent."""
        return self.most_recent([exp for exp in history if self.matches(exp)])
