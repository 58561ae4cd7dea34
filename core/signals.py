"""Emitting psygnal signals so that a faulty subscriber cannot break the engine."""

from __future__ import annotations

import logging

from psygnal import SignalInstance

logger = logging.getLogger("labqueue")


def emit_safely(signal: SignalInstance, *args) -> None:
    """Emit ``signal``; a slot that raises is logged, never raised into the emitter.

    The emitter is the queue or the worker: a bug in a window or a user's slot must
    not lose a put or kill the worker thread.
    """
    try:
        signal.emit(*args)
    except Exception:
        logger.exception("A subscriber of %s raised; the queue carries on", signal.name)
