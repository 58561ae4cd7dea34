"""The run watchdog: a tiny process that kills labqueue's runs when labqueue dies.

labqueue starts one (``python -I watchdog.py``, standard library only) and writes to
its stdin one line per run: ``+PGID`` when the run started (each run leads its own
process group and session), ``-PGID`` when labqueue has reaped it. When labqueue
dies, even by SIGKILL, stdin reaches end-of-file; the watchdog then SIGKILLs every
group it still knows, grandchildren included, and exits.

``PR_SET_PDEATHSIG`` alone could not do as much: it reaches only the direct child,
fires when the *thread* that forked ends rather than the process, and needs a
``preexec_fn``, which turns Python's vfork into a full fork (1.5 ms a run here, far
more from a process with Qt mapped in). The watchdog costs two short writes per run.
If the watchdog itself dies, labqueue starts another and tells it the live runs.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    # labqueue's Ctrl-C reaches its whole terminal group, this process included; the
    # runs are labqueue's to stop, and the watchdog's only once labqueue is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: set[int] = set()
    for line in sys.stdin.buffer:
        sign, number = line[:1], line[1:].strip()
        if number.isdigit():
            (groups.add if sign == b"+" else groups.discard)(int(number))
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


if __name__ == "__main__":
    main()
