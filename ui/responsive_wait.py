"""Long work asked for on the GUI thread, done on a helper thread while the window
keeps painting and answering.

The console's code runs on the GUI thread, so a ``put_many`` of 100,000 experiments
typed there would hold the window for the two seconds the journal needs to store
them. :func:`run_while_responsive` runs such work on a helper thread and, until it is
done, runs a local Qt event loop (as the console's ``wait()`` does), then returns
its result or raises its error: the caller still sees a plain blocking call, so
"on disk once ``put`` returns" holds, and the window goes on meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, Qt, QThread, Signal

from .background_work import responsive_switching

__all__ = ["run_while_responsive"]

T = TypeVar("T")


class _Finished(QObject):
    """Tells the GUI thread that the helper thread is done (a queued connection)."""

    finished = Signal()


def run_while_responsive(work: Callable[[], T]) -> T:
    """``work()``, done on a helper thread while this thread runs the event loop.

    Off the GUI thread (or without an application) it simply calls ``work()``.
    Returns what ``work`` returns; raises what it raises.
    """
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return work()
    outcome: list = []
    relay = _Finished()
    loop = QEventLoop()
    relay.finished.connect(loop.quit, Qt.ConnectionType.QueuedConnection)

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # raised again on the calling thread
            outcome.append((False, exc))
        relay.finished.emit()

    with responsive_switching():
        helper = threading.Thread(target=run, name="labqueue-long-put", daemon=True)
        helper.start()
        loop.exec()  # the queued quit arrives even if the work ended before this line
        helper.join()
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value
