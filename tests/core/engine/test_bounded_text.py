"""Titles, stored reprs and tracebacks of huge or odd payloads stay small, and are
built without rendering the payload whole."""

import tracemalloc

import pytest

from labqueue import Experiment, ExpStatus, Manager
from labqueue.core.engine import short_repr

TIMEOUT = 30
MB = 1024 * 1024


class Reading:
    """An item whose repr counts its calls and refuses more than ``allowed`` of them."""

    calls = 0
    allowed = 1000

    def __repr__(self) -> str:
        Reading.calls += 1
        if Reading.calls > Reading.allowed:
            raise AssertionError("the whole payload was rendered")
        return "Reading()"


@pytest.fixture(autouse=True)
def counted_readings():
    Reading.calls = 0
    yield


def peak_bytes(action) -> int:
    """Most memory allocated at once while ``action()`` runs, above what it started with."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def measure(data):
    return len(data)


def test_a_title_is_made_without_the_repr_of_a_huge_argument():
    payload = b"\xff" * (20 * MB)  # repr() of it would be 80 MB
    exp = Experiment(measure, (payload,))
    peak = peak_bytes(lambda: exp.title)
    assert exp.title.startswith("measure(data=b'\\xff\\xff")
    assert len(exp.title) < 200
    assert peak < MB


def test_a_title_of_a_huge_container_renders_a_few_items():
    Reading.allowed = 50
    exp = Experiment(measure, ([Reading() for _ in range(100_000)],))
    assert exp.title.startswith("measure(data=[Reading(), Reading()")
    assert Reading.calls <= 50
    assert short_repr(10**5000).startswith("<int of")  # not 5000 digits, nor a ValueError


def fail_with(payload):
    raise ValueError(payload)


def test_a_failure_carrying_a_huge_payload_has_a_short_traceback_made_without_rendering_it():
    payload = b"\x00" * (20 * MB)  # str() of the exception would be 80 MB
    with Manager() as manager:
        manager.pause_worker()
        exp = manager.queued_exec(fail_with)(payload)

        def run() -> None:
            manager.resume_worker()
            exp.exception(timeout=TIMEOUT)
            assert manager.wait_until_idle(TIMEOUT)

        peak = peak_bytes(run)
    assert exp.status is ExpStatus.FAILED
    assert "ValueError: b'\\x00\\x00" in exp.traceback and "in fail_with" in exp.traceback
    assert len(exp.traceback) < 20_000
    assert peak < 4 * MB


def test_a_failure_carrying_a_huge_container_renders_a_few_of_its_items():
    Reading.allowed = 200
    with Manager() as manager:
        exp = manager.queued_exec(fail_with)([Reading() for _ in range(100_000)])
        exp.exception(timeout=TIMEOUT)
        assert manager.wait_until_idle(TIMEOUT)
    assert "ValueError: [Reading(), Reading()" in exp.traceback
    assert Reading.calls <= 200


def test_the_chain_of_a_failure_is_kept_in_its_traceback():
    def chained():
        try:
            {}["probe"]
        except KeyError as exc:
            raise RuntimeError("lock-in did not answer") from exc

    with Manager() as manager:
        exp = manager.queued_exec(chained)()
        exp.exception(timeout=TIMEOUT)
    text = exp.traceback
    assert text.index("KeyError: 'probe'") < text.index("direct cause") < text.index("RuntimeError: lock-in")
    assert text.count("Traceback (most recent call last):") == 2
