"""Experiment functions and helpers shared by the journal tests."""

from __future__ import annotations

import logging
import threading

from labqueue import Manager, set_progress


def square(x, offset=0):
    return x * x + offset


def measure(point):
    """Logs a warning, reports progress and returns a dict."""
    logging.getLogger("lab.measure").warning("measuring point %s", point)
    set_progress(0.5, f"point {point}")
    return {"point": point, "value": point * 10}


def fail(point):
    raise ValueError(f"no signal at point {point}")


def restart(manager: Manager, open_manager, **kwargs) -> Manager:
    """Shut ``manager`` down and open a new one on the same directory."""
    manager.shutdown()
    return open_manager(data_dir=manager.data_dir, **kwargs)


#: How many CountedResult objects were unpickled (reset it before counting).
loads = {"count": 0}


def _load_counted(payload: bytes) -> CountedResult:
    loads["count"] += 1
    return CountedResult(payload)


class CountedResult:
    """A result whose every unpickling is counted in :data:`loads`."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __reduce__(self):
        return (_load_counted, (self.payload,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountedResult) and other.payload == self.payload

    __hash__ = None  # type: ignore[assignment]


def counted(size: int) -> CountedResult:
    return CountedResult(b"r" * size)


#: (experiment id, status) of every ramp_down() call, and an event set by each.
ramped_down: list[tuple[str, object]] = []
ramp_down_called = threading.Event()


def ramp_down(exp):
    """A cleanup stored by reference: the magnet goes back to zero field."""
    ramped_down.append((exp.id, exp.status))
    ramp_down_called.set()
