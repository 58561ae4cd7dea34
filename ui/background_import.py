"""Imports on a helper thread while the window keeps answering.

pyqtgraph (0.2 s) and the console's qtconsole, ipykernel and IPython (0.5 s) are
imported after the window's first paint, one after another on one helper thread
(imports are thread-safe and make no Qt object; run side by side they would only
compete). The GUI thread goes on meanwhile, but each time it gives up the
interpreter lock (every call into Qt that may block does) it waits for the import
thread to hand it back, up to the switch interval (5 ms) each time: a frame of a few
dozen such calls took 100 ms. While imports run, the switch interval is cut to
:data:`SWITCH_INTERVAL_S`, so the lock comes back within a fraction of a millisecond.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["SWITCH_INTERVAL_S", "import_in_background"]

#: The interpreter's switch interval while background imports run.
SWITCH_INTERVAL_S = 0.0005

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labqueue-import")
_lock = threading.Lock()
_pending = 0
_saved_interval: float | None = None


def import_in_background(task: Callable[[], object]) -> Future:
    """Run ``task`` (which imports) on the import thread, after those given before.

    The returned future's callbacks run on the import thread: emit a Qt signal
    there to get back to the GUI thread. ``task`` must create no Qt object.
    """
    global _pending, _saved_interval
    with _lock:
        if _pending == 0:
            _saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(_saved_interval, SWITCH_INTERVAL_S))
        _pending += 1
    future = _executor.submit(task)
    future.add_done_callback(_one_done)
    return future


def _one_done(_future: Future) -> None:
    global _pending
    with _lock:
        _pending -= 1
        if _pending == 0 and _saved_interval is not None:
            sys.setswitchinterval(_saved_interval)
