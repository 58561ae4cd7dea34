"""Emitting psygnal signals so that a faulty subscriber cannot break the engine."""

from __future__ import annotations

import logging
import threading

from psygnal import SignalInstance

from .experiment import Aborted, current_experiment

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

    ``emit_fast``, not ``emit``: ``emit`` holds the signal's lock while its slots run,
    so a slot that waits for the worker (``wait_until_idle()`` in a state slot) would
    block the worker at its next emission of that signal, and the wait would never end.
    Without the lock, emissions from two threads may run their slots at the same time.

    Two exceptions are raised all the same: SystemExit and KeyboardInterrupt on the
    main thread (Ctrl-C and ``sys.exit()`` are meant for the program; anywhere else
    they would only end the emitting thread), and :class:`Aborted` during a job's own
    call (``publish()`` and ``set_progress()`` emit from inside it, and an abort forced
    into a job that publishes in a tight loop lands there more often than not).
    """
    try:
        signal.emit_fast(*args)
    except Exception as exc:
        aborted = exc if isinstance(exc, Aborted) else exc.__cause__  # psygnal wraps a slot's error
        if isinstance(aborted, Aborted) and current_experiment() is not None:
            raise aborted from None
        logger.exception("A subscriber of %s raised; the queue carries on", signal.name)
    except BaseException:
        if threading.current_thread() is threading.main_thread():
            raise
        logger.exception("A subscriber of %s raised; this thread carries on", signal.name)
