"""How the GUI thread shares the Python interpreter with a busy worker thread.

Two settings of the interpreter, taken while a window is open and given back when
the last one closes:

* Garbage collection runs on the GUI thread only. Automatic collection runs on
  whichever thread happens to allocate, usually the worker; a reference cycle holding
  Qt objects (pyqtgraph makes many) would then be destroyed on the worker thread,
  where Qt may crash or deadlock. A timer on the GUI thread collects instead,
  generation by generation, with Python's own thresholds. What exists when the first
  window opens (modules, a queue restored from the journal) is long-lived: it is
  frozen (``gc.freeze``) so that full collections do not walk it. Later, only after
  a big put (:meth:`InterpreterSharing.freeze_long_lived`): 100,000 experiments are
  a million objects, which every full collection would otherwise walk (0.1-0.2 s on
  the GUI thread each time), and the queue keeps them all session long anyway. Cyclic
  garbage that happens to exist at that moment is kept too (a one-off, small); the
  garbage of finished jobs made afterwards stays collectable on overnight runs.
* A short thread switch interval. Painting calls from Qt into Python many times, and
  each call waits for the interpreter lock while the worker runs Python: up to the
  switch interval (5 ms by default) each time. At 2 ms the window stays responsive
  during the fastest runs, for a few percent of the worker's speed.
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, QTimer

__all__ = ["InterpreterSharing"]

#: How often the GUI thread checks whether a generation is due; short, so that the
#: youngest generation stays small and quick to collect while the worker allocates.
CHECK_MS = 100
#: Seconds a thread may hold the interpreter lock while another waits for it.
SWITCH_INTERVAL = 0.002

_open = 0
_before: tuple[bool, float] = (True, 0.005)  # automatic collection, switch interval


class InterpreterSharing(QObject):
    """Takes the settings until :meth:`stop` (the last one open gives them back)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        global _open, _before
        if _open == 0:
            _before = (gc.isenabled(), sys.getswitchinterval())
            gc.disable()
            gc.collect()
            gc.freeze()
            sys.setswitchinterval(min(SWITCH_INTERVAL, _before[1]))
        _open += 1
        self._open = True
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_MS)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start()

    def freeze_long_lived(self) -> None:
        """Leave what exists now out of later collections (after a big put, see above)."""
        if self._open:
            gc.freeze()

    def collect_due(self) -> None:
        """Collect the oldest generation whose count passed its threshold, as Python would."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if counts[0] <= thresholds[0]:
            return
        if counts[1] <= thresholds[1]:
            gc.collect(0)
        elif counts[2] <= thresholds[2]:
            gc.collect(1)
        else:
            gc.collect(2)

    def stop(self) -> None:
        """Collect everything here; the last one open gives the settings back."""
        global _open
        if not self._open:
            return
        self._open = False
        self._timer.stop()
        _open -= 1
        if _open == 0:
            automatic, interval = _before
            gc.unfreeze()
            if automatic:
                gc.enable()
            sys.setswitchinterval(interval)
        gc.collect()
