"""What a CustomXepr script did, a labqueue one still does (the seed's API and its code)."""

import asyncio
import builtins
import threading
from concurrent.futures import FIRST_EXCEPTION, wait

import pytest

from labqueue import Experiment, ExperimentQueue, ExpStatus, Manager, Worker

TIMEOUT = 10


def test_a_decorated_function_called_inside_a_job_returns_its_plain_value(manager):
    @manager.queued_exec
    def inner(x):
        return x * 2

    @manager.queued_exec
    def outer(x):
        v = inner(x)
        return v + 1

    exp = outer(5)
    assert exp.result(timeout=TIMEOUT) == 11
    assert exp.status is ExpStatus.FINISHED
    assert manager.job_queue.qsize() == 1  # the inner call ran inline, it was not queued


def test_an_appended_abort_event_is_set_by_abort_job_and_cleared_after(manager):
    driver_stop = threading.Event()
    manager.abort_events.append(driver_stop)
    started = threading.Event()

    def long_job():
        started.set()
        assert driver_stop.wait(TIMEOUT), "abort_job() did not set the appended event"
        return "stopped early"

    exp = manager.queued_exec(long_job)()
    assert started.wait(TIMEOUT)
    assert manager.abort_job()
    assert exp.exception(timeout=TIMEOUT) is not None
    assert exp.status is ExpStatus.ABORTED and exp.partial_result == "stopped early"
    assert not driver_stop.is_set()  # cleared when the job ended, like manager.abort
    assert manager.abort_events == [driver_stop]


def test_assigning_abort_events_replaces_them(manager):
    first, second = threading.Event(), threading.Event()
    manager.abort_events = [first]
    manager.abort_events = [second]
    assert manager.abort_events == [second]
    started = threading.Event()

    def job():
        started.set()
        assert second.wait(TIMEOUT)

    exp = manager.queued_exec(job)()
    assert started.wait(TIMEOUT)
    manager.abort_job()
    exp.exception(timeout=TIMEOUT)
    assert not first.is_set() and exp.status is ExpStatus.ABORTED


def test_an_aborted_result_raises_cancelled_error_and_keeps_the_partial_data(manager):
    from labqueue.core.manager import CancelledError

    started = threading.Event()

    def sweep():
        started.set()
        assert manager.abort.wait(TIMEOUT)
        return [1.0, 2.0]  # what was measured before the abort

    exp = manager.queued_exec(sweep)()
    assert started.wait(TIMEOUT)
    manager.abort_job()
    with pytest.raises(CancelledError):
        exp.result(timeout=TIMEOUT)
    assert exp.status is ExpStatus.ABORTED
    assert exp.partial_result == [1.0, 2.0]
    assert manager.result_queue.get(timeout=TIMEOUT) == [1.0, 2.0]  # as CustomXepr's worker put it
    done, _ = wait([exp], timeout=TIMEOUT, return_when=FIRST_EXCEPTION)
    assert done == {exp}

    async def awaited():
        return await asyncio.wait_for(asyncio.wrap_future(exp), timeout=TIMEOUT)

    with pytest.raises((asyncio.CancelledError, CancelledError)):
        asyncio.run(awaited())


def test_the_result_is_in_the_result_queue_before_the_experiment_is_announced_done(manager):
    seen_by_slot, seen_by_callback = [], []

    def on_status(index, status, exp):
        if status.is_terminal:
            seen_by_slot.append(list(manager.result_queue.queue))

    manager.job_queue.status_changed_signal.connect(on_status)
    exp = Experiment(lambda: "value")
    exp.add_done_callback(lambda f: seen_by_callback.append(list(manager.result_queue.queue)))
    manager.job_queue.put(exp)
    assert exp.result(timeout=TIMEOUT) == "value"
    assert manager.wait_until_idle(TIMEOUT)
    assert seen_by_callback == [["value"]]
    assert seen_by_slot == [["value"]]


def test_result_queue_is_a_signal_queue(manager):
    added, removed = [], []
    manager.result_queue.added_signal.connect(lambda *args: added.append(args))
    manager.result_queue.removed_signal.connect(lambda *args: removed.append(args))
    for value in ("a", "b", "c", "d"):
        manager.queued_exec(lambda v=value: v)().result(timeout=TIMEOUT)
    assert manager.wait_until_idle(TIMEOUT)
    assert len(added) == 4
    assert manager.result_queue.get(timeout=TIMEOUT) == "a"
    assert removed == [(0, 1)]
    manager.result_queue.remove_items(1, 2)
    assert removed[-1] == (1, 2)
    assert list(manager.result_queue.queue) == ["b"]
    manager.result_queue.remove_item(-1)
    assert manager.result_queue.empty()


def test_the_names_scripts_call_exist(manager):
    from labqueue.core import manager as m
    from labqueue.core.manager import CancelledError, TimeoutError  # noqa: A004

    assert issubclass(CancelledError, Exception) and TimeoutError is builtins.TimeoutError
    reexported = (m.Manager, m.Experiment, m.ExpStatus, m.ExperimentQueue, m.Worker)
    assert reexported == (Manager, Experiment, ExpStatus, ExperimentQueue, Worker)
    assert manager.thread is manager.worker and manager.thread.is_alive()
    q = manager.job_queue
    manager.pause_worker()
    assert (q.has_queued(), q.has_running(), q.has_history()) == (False, False, False)
    assert q.first_queued_index() == 0
    manager.resume_worker()
    manager.queued_exec(lambda: 1)().result(timeout=TIMEOUT)
    assert manager.wait_until_idle(TIMEOUT)
    manager.pause_worker()
    manager.queued_exec(lambda: 2)()
    assert (q.has_queued(), q.has_running(), q.has_history()) == (True, False, True)
    assert q.first_queued_index() == 1


def test_cancel_is_idempotent_like_a_future():
    loose = Experiment(lambda: 1)
    assert loose.cancel() and loose.cancel()
    q = ExperimentQueue()
    queued = Experiment(lambda: 1)
    q.put(queued)
    assert queued.cancel() and queued.cancel()
    assert queued.status is ExpStatus.CANCELLED


def test_queue_operations_after_shutdown_raise_one_clear_error():
    from labqueue.core.manager import QueueClosed

    m = Manager()
    m.pause_worker()
    kept = m.queued_exec(lambda: 1)()
    finished = Experiment(lambda: 2)
    m.shutdown()
    q = m.job_queue
    operations = {
        "put": lambda: q.put(Experiment(lambda: 3)),
        "put_many": lambda: q.put_many([Experiment(lambda: 3)]),
        "remove_item": lambda: q.remove_item(0),
        "remove_items": lambda: q.remove_items(0, 0),
        "remove": lambda: q.remove([kept]),
        "clear": lambda: q.clear(),
        "move": lambda: q.move(kept, 0),
        "requeue": lambda: q.requeue(kept),
        "get_next_job": lambda: q.get_next_job(),
        "decorated call": lambda: m.queued_exec(lambda: 4)(),
    }
    for name, operation in operations.items():
        with pytest.raises(QueueClosed, match="the manager was shut down"):
            operation()
        assert isinstance(QueueClosed("x"), RuntimeError), name
    assert kept.cancel()  # a future's cancel() answers, never raises
    assert not finished.running()
