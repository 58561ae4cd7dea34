"""A command step for the study tests: ``python command_step.py MODE ARGS...``, in its run directory.

- ``hold READY HOLD``: if the FIFO ``HOLD`` exists, ignore SIGTERM, write the pid to
  the FIFO ``READY``, then wait to read ``HOLD`` (nobody writes: until killed); then
  (or at once without ``HOLD``) write ``out.txt`` and exit 0.
- ``meet FIFO write|read``: open the FIFO from one end; each end waits for the other,
  so two of them finish only if they run at the same time.
- ``fail-once``: exit 3 on the first attempt (no ``attempt-1/`` here yet), then 0.
- ``fail``: exit 3 with a message on stderr.
"""

import os
import signal
import sys
from pathlib import Path


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "hold":
        ready, hold = args
        if os.path.exists(hold):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            with open(ready, "w") as f:
                f.write(f"{os.getpid()}\n")
            with open(hold) as f:
                f.read()
    elif mode == "meet":
        fifo, end = args
        with open(fifo, "w" if end == "write" else "r") as f:
            f.write("hello") if end == "write" else f.read()
    elif mode == "fail-once" and not Path("attempt-1").is_dir() or mode == "fail":
        print(f"no luck in {mode}", file=sys.stderr)
        sys.exit(3)
    Path("out.txt").write_text(mode)


if __name__ == "__main__":
    main()
