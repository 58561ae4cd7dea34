"""A stand-in for labqueue in the watchdog tests: starts runs with a RunSupervisor, then waits to be killed.

    python supervisor_child.py SLOTS RUNS REAPED KILL_WATCHDOG AFTER -- COMMAND...

Sizes the watchdog's table to SLOTS, starts RUNS runs of COMMAND, and waits for a line
on stdin (the runs are up); then reaps the first REAPED of them, kills the watchdog if
KILL_WATCHDOG is 1, starts AFTER more runs, prints "ready", and waits.
"""

import signal
import sys

from labqueue.core.runs import spawner


def main(argv: list[str]) -> None:
    slots, runs, reaped, kill_watchdog, after = (int(a) for a in argv[:5])
    command = argv[argv.index("--") + 1 :]
    spawner._GroupTable.SLOTS = slots
    supervisor = spawner.RunSupervisor()

    def start() -> spawner.RunProcess:
        return supervisor.spawn(command, cwd=".", stdout="/dev/null", stderr="/dev/null")

    started = [start() for _ in range(runs)]
    sys.stdin.readline()
    for process in started[:reaped]:
        process.terminate(0.1)
        process.wait()
    if kill_watchdog:
        supervisor._watchdog.kill()
        supervisor._watchdog.wait()
    for _ in range(after):
        start()
    print("ready", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv[1:])
