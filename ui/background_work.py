"""Python work on helper threads while the window keeps answering.

Some work is started from the GUI thread but done on a helper thread: the imports
after the first paint (pyqtgraph, 0.2 s; the console's qtconsole, ipykernel and
IPython, 0.5 s), and a big put typed in the console (see ``responsive_wait``). The
GUI thread goes on meanwhile, but each time it gives up the interpreter lock (every
call into Qt that may block does) it waits for the busy helper to hand it back, up
to the switch interval (5 ms) each time: a frame of a few dozen such calls took
100 ms. While such work runs (:func:`responsive_switching`), the switch interval is
cut to :data:`SWITCH_INTERVAL_S`, so the lock comes back within a fraction of a
millisecond; the helper's work takes a little longer for it.

Imports run one after another on one import thread (:func:`import_in_background`):
imports are thread-safe and make no Qt object, and side by side they would only
compete. What they share with the GUI thread is PySide6 itself: its classes must all
exist before (``labqueue.ui`` has PySide6 make them at import; when PySide6 came
first, they are made here, once), and the Qt modules those imports add are imported
here first, on the GUI thread.
"""

from __future__ import annotations

import contextlib
import importlib
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

__all__ = ["SWITCH_INTERVAL_S", "import_in_background", "responsive_switching"]

#: The interpreter's switch interval while background work runs.
SWITCH_INTERVAL_S = 0.0001
#: Qt modules that pyqtgraph, qtconsole and magicgui import besides the window's own.
_QT_MODULES = (
    "PySide6.QtCore",
    "PySide6.QtGui",
    "PySide6.QtWidgets",
    "PySide6.QtSvg",
    "PySide6.QtPrintSupport",
    "PySide6.QtOpenGL",
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtTest",
)
_qt_prepared = False

_import_tasks: queue.SimpleQueue[tuple[Callable[[], Any], Future]] = queue.SimpleQueue()
_import_thread: threading.Thread | None = None
_lock = threading.Lock()
_running = 0
_saved_interval = 0.005


def _begin() -> None:
    global _running, _saved_interval
    with _lock:
        if _running == 0:
            _saved_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(_saved_interval, SWITCH_INTERVAL_S))
        _running += 1


def _end(*_: object) -> None:
    global _running
    with _lock:
        _running -= 1
        # Given back unless someone else set it meanwhile (the last window closed).
        if _running == 0 and sys.getswitchinterval() == min(_saved_interval, SWITCH_INTERVAL_S):
            sys.setswitchinterval(_saved_interval)


def _prepare_qt() -> None:
    """Import the Qt modules the imports will use and make sure each class exists."""
    global _qt_prepared
    if _qt_prepared:
        return
    from . import QT_TYPES_EAGER

    for name in _QT_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a PySide6 build without it: the imports will not use it either
            continue
        if not QT_TYPES_EAGER:
            for attribute in dir(module):
                getattr(module, attribute)
    _qt_prepared = True


@contextlib.contextmanager
def responsive_switching() -> Iterator[None]:
    """While inside, the GUI thread gets the interpreter lock back quickly (see above)."""
    _begin()
    try:
        yield
    finally:
        _end()


def import_in_background(task: Callable[[], object]) -> Future:
    """Run ``task`` (which imports) on the import thread, after those given before.

    The returned future's callbacks run on the import thread: emit a Qt signal
    there to get back to the GUI thread. ``task`` must create no Qt object. Call it
    on the GUI thread.
    """
    global _import_thread
    _prepare_qt()
    _begin()
    future: Future = Future()
    future.add_done_callback(_end)
    _import_tasks.put((task, future))
    with _lock:
        if _import_thread is None:
            # A daemon, unlike a ThreadPoolExecutor's threads: a program that quits
            # while the console still loads must not wait for the imports at exit.
            _import_thread = threading.Thread(target=_run_imports, name="labqueue-import", daemon=True)
            _import_thread.start()
    return future


def _run_imports() -> None:
    while True:
        task, future = _import_tasks.get()
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(task())
        except BaseException as exc:  # the caller's future carries it
            future.set_exception(exc)
