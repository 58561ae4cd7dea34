"""The run watchdog: a tiny process that kills labqueue's runs when labqueue dies.

labqueue starts one (``python -I watchdog.py FD``, standard library only) and shares
with it a table of the live runs' process groups (each run leads its own group and
session): the memory file ``FD``, an array of native ints, 0 for a free slot, that
labqueue writes through a shared mapping when a run starts and when it has reaped it.
The watchdog only waits for end-of-file on its stdin, which comes when labqueue
dies, even by SIGKILL; it then reads the table, SIGKILLs every group in it,
grandchildren included, and exits.

A run costs the watchdog nothing: no message, no wake-up (a line per start and per
end, as it was first built, cost a trivial command a tenth of its time here).
``PR_SET_PDEATHSIG`` alone could not do as much: it reaches only the direct child,
fires when the *thread* that forked ends rather than the process, and needs a
``preexec_fn``, which turns Python's vfork into a full fork (1.5 ms a run here, far
more from a process with Qt mapped in). If the watchdog itself dies, labqueue starts
another on the same table.
"""

from __future__ import annotations

import array
import os
import signal
import sys


def main() -> None:
    table_fd = int(sys.argv[1])
    # labqueue's Ctrl-C reaches its whole terminal group, this process included; the
    # runs are labqueue's to stop, and the watchdog's only once labqueue is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):  # nothing is written: this returns at end-of-file
        pass
    groups = array.array("i", os.pread(table_fd, os.fstat(table_fd).st_size, 0))
    for group in groups:
        if group > 0:
            try:
                os.killpg(group, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


if __name__ == "__main__":
    main()
