"""Child of test_chain_crash.py: queues a three-step chain and is killed inside the second step.

Usage: ``python chain_crash_child.py DATA_DIR``. Prints ``holding`` once the second
step runs (the first has finished and its outcome is stored), then waits to be killed.
"""

import os
import sys
import threading

from labqueue import Experiment, Manager


def calibrate():
    return 21


def sweep(offset):
    if os.environ.get("CHAIN_CRASH_HOLD"):
        os.write(1, b"holding\n")
        threading.Event().wait()
    return offset * 2


def summary(total, label):
    return f"{label}: {total}"


if __name__ == "__main__":
    manager = Manager(data_dir=sys.argv[1])
    manager.pause_worker()  # the whole chain is stored before the second step can hold
    first = Experiment(calibrate)
    manager.job_queue.put(first)
    second = first.then(sweep)
    third = Experiment(summary, (), {"label": "sum"}, inputs={"total": second})
    manager.job_queue.put(third)
    manager.resume_worker()
    threading.Event().wait()
