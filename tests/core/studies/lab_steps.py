"""Python steps the study tests name in their specs (``tests.core.studies.lab_steps:NAME``)."""

import os
import threading
from pathlib import Path

from labqueue import checkpoint


def calibrate():
    return 1.5


def measure(field, n):
    if os.environ.get("LAB_STEPS_FAIL_FIELD") == str(field):
        raise OSError(f"no signal at field {field}")
    return field * n


def write_point(path, value):
    Path(path).write_text(str(value))
    return value


def summarise(folder):
    return sorted(p.name for p in Path(folder).iterdir())


#: Released by a test to let hold() return.
RELEASE = threading.Event()


def hold():
    """A step that runs until RELEASE is set, honouring abort meanwhile."""
    while not RELEASE.wait(0.02):
        checkpoint()
    return "released"


def announce_and_hold():
    """A step that says it runs (on stdout) and then never returns: its process is killed."""
    os.write(1, b"holding\n")
    threading.Event().wait()


def where_am_i():
    """Which process ran the step (an isolated step runs in a child of the test process)."""
    return os.getpid()
