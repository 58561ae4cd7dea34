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


#: (experiment id, status) of every ramp_down() call, and an event set by each.
ramped_down: list[tuple[str, object]] = []
ramp_down_called = threading.Event()


def ramp_down(exp):
    """A cleanup stored by reference: the magnet goes back to zero field."""
    ramped_down.append((exp.id, exp.status))
    ramp_down_called.set()
