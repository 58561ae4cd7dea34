"""Sweep groups: many experiments of one sweep, kept together in the queue and the journal."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SweepGroup"]


@dataclass
class SweepGroup:
    """One sweep: its experiments carry ``id`` as their ``group_id``.

    Attributes:
        id: stable identifier, kept by the journal.
        title: what the window shows on the group row.
        kind: "multirun" (a command) or "sweep" (a Python function).
        max_parallel: most of its runs that run at once (None: as many as the lane has slots).
        output_path: the sweep's folder (multirun), or None.
        lane: the lane its runs take (``max_parallel`` counts there).
        created_at: POSIX time it was made.
        held: its queued runs wait (see Manager.pause_group); kept across restarts.
    """

    title: str
    kind: str
    max_parallel: int | None = None
    output_path: str | None = None
    lane: str = "process"
    id: str = field(default_factory=lambda: os.urandom(16).hex())
    created_at: float = field(default_factory=time.time)
    held: bool = False

    def details(self) -> dict[str, Any]:
        """What the journal keeps besides the title and the time (JSON)."""
        return {
            "kind": self.kind,
            "max_parallel": self.max_parallel,
            "output_path": self.output_path,
            "held": self.held,
            "lane": self.lane,
        }

    @classmethod
    def from_stored(cls, group_id: str, title: str, created_at: float, details: dict[str, Any]) -> SweepGroup:
        return cls(
            title=title,
            kind=details.get("kind", "sweep"),
            max_parallel=details.get("max_parallel"),
            output_path=details.get("output_path"),
            lane=details.get("lane", "process"),
            id=group_id,
            created_at=created_at,
            held=bool(details.get("held", False)),
        )
