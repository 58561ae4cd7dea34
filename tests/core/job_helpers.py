"""Helpers of the engine tests."""

from concurrent import futures

TIMEOUT = 10


def wait_for_end(exp):
    """The status ``exp`` ends with, once it has (``result()`` of an ABORTED one is
    not what these tests are about)."""
    assert not futures.wait([exp], timeout=TIMEOUT).not_done, f"{exp!r} did not end"
    return exp.status
