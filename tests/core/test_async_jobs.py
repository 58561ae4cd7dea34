"""``async def`` functions run in an event loop on the worker and abort cancels them;
generator functions are refused when they are queued."""

import asyncio
import functools
import threading

import pytest

from labqueue import Experiment, ExpStatus

from .job_helpers import wait_for_end

TIMEOUT = 10


async def read_twice(offset):
    await asyncio.sleep(0)
    first = offset + 1
    await asyncio.sleep(0)
    return first, threading.current_thread().name


def test_an_async_function_runs_to_completion_on_the_worker(manager):
    exp = manager.queued_exec(read_twice)(41)
    assert exp.result(timeout=TIMEOUT) == (42, manager.worker.name)
    assert exp.status is ExpStatus.FINISHED
    partial = Experiment(functools.partial(read_twice, 1))
    manager.job_queue.put(partial)
    assert partial.result(timeout=TIMEOUT)[0] == 2


def test_async_jobs_share_the_workers_event_loop(manager):
    async def loop_of_this_job():
        return asyncio.get_running_loop()

    first = manager.queued_exec(loop_of_this_job)().result(timeout=TIMEOUT)
    second = manager.queued_exec(loop_of_this_job)().result(timeout=TIMEOUT)
    assert first is second and not first.is_closed()  # a driver's connection may outlive one job


def test_abort_cancels_a_running_async_function(manager):
    started = threading.Event()
    cleaned_up = []

    async def sweep():
        started.set()
        try:
            await asyncio.sleep(3600)  # an async driver waiting on its instrument
        except asyncio.CancelledError:
            cleaned_up.append("cancelled mid-call")
            raise

    exp = manager.queued_exec(sweep)()
    assert started.wait(TIMEOUT)
    assert manager.abort_job()
    assert wait_for_end(exp) is ExpStatus.ABORTED
    assert cleaned_up == ["cancelled mid-call"]
    assert manager.queued_exec(read_twice)(0).result(timeout=TIMEOUT)[0] == 1


def test_an_abort_as_an_async_job_starts_cancels_it_before_it_runs(manager):
    ran = []

    async def never_started():
        ran.append(True)

    def abort_as_it_starts(index, status, exp):
        if status is ExpStatus.RUNNING:
            assert manager.abort_job()

    manager.job_queue.status_changed_signal.connect(abort_as_it_starts)
    exp = manager.queued_exec(never_started)()
    assert wait_for_end(exp) is ExpStatus.ABORTED and ran == []


def test_a_failing_async_function_fails_with_its_own_error(manager):
    async def broken():
        await asyncio.sleep(0)
        raise ValueError("no lock-in signal")

    manager.pause_on_failure = False
    exp = manager.queued_exec(broken)()
    with pytest.raises(ValueError, match="no lock-in signal"):
        exp.result(timeout=TIMEOUT)
    assert exp.status is ExpStatus.FAILED and "in broken" in exp.traceback


def points():
    yield 1


async def async_points():
    yield 1


class Sweep:
    def points(self):
        yield 1


@pytest.mark.parametrize("func", [points, async_points, Sweep().points, functools.partial(points)])
def test_generator_functions_are_refused_when_decorated_and_when_put(manager, func):
    with pytest.raises(TypeError, match="generator function") as refused:
        manager.queued_exec(func)
    assert "runs nothing" in str(refused.value)
    with pytest.raises(TypeError, match="generator function"):
        manager.job_queue.put(Experiment(func))
    assert manager.job_queue.qsize() == 0
