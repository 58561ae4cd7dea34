"""Emitting psygnal signals so that a faulty subscriber cannot break the engine."""

from __future__ import annotations

import logging

from psygnal import SignalInstance

logger = logging.getLogger("labqueue")

#: Priority of labqueue's own subscribers (the window, the notifiers). psygnal stops an
#: emission at the first slot that raises; connected with this priority they run
#: before any slot a user connects (priority 0), so a faulty user slot cannot silence them.
INTERNAL_PRIORITY = 100


def emit_safely(signal: SignalInstance, *args) -> None:
    """Emit ``signal``; a slot that raises is logged, never raised into the emitter.

    The emitter is the queue or the worker: a bug in a window or a user's slot must
    not lose a put or kill the worker thread. Slots after the raising one miss this
    emission (psygnal's rule), hence :data:`INTERNAL_PRIORITY`.
    """
    try:
        signal.emit(*args)
    except Exception:
        logger.exception("A subscriber of %s raised; the queue carries on", signal.name)
