"""Helpers of the engine tests."""

import signal
import subprocess
from concurrent import futures

TIMEOUT = 10


def kill_once_holding(argv, **popen_options):
    """Run the child ``argv``, wait until it prints ``holding``, then SIGKILL it."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_options)
    try:
        line = child.stdout.readline().decode().strip()
        assert line == "holding", child.stderr.read().decode()
    finally:
        sigkill(child)


def sigkill(process: subprocess.Popen) -> None:
    """SIGKILL ``process`` (a stand-in labqueue), wait for it and close its pipes."""
    try:
        process.send_signal(signal.SIGKILL)
        assert process.wait(60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def wait_for_end(exp):
    """The status ``exp`` ends with, once it has (``result()`` of an ABORTED one is
    not what these tests are about)."""
    assert not futures.wait([exp], timeout=TIMEOUT).not_done, f"{exp!r} did not end"
    return exp.status
