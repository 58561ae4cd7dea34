"""Experiment: a real future whose status never disagrees with done()/running()."""

import asyncio
import threading
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, CancelledError, as_completed, wait

import pytest

from labqueue import Experiment, ExpStatus, Interrupted
from labqueue.core.engine import call_title, short_repr


def measure(field, n=10, *extra, **options):
    return field * n


def test_non_callable_is_rejected_with_a_clear_message():
    with pytest.raises(TypeError, match="needs a callable, got int"):
        Experiment(42)


def test_new_experiment_is_queued_and_not_done():
    exp = Experiment(measure, (3.2,), {"n": 10})
    assert exp.status is ExpStatus.QUEUED
    assert not exp.done() and not exp.running()
    assert exp.started_at is None and exp.duration is None


def test_ids_are_unique_and_stable():
    exps = [Experiment(measure, (1,)) for _ in range(1000)]
    assert len({e.id for e in exps}) == 1000
    assert all(len(e.id) == 32 for e in exps)
    first = exps[0].id
    exps[0].title  # noqa: B018 - computing the title must not change anything
    assert exps[0].id == first


@pytest.mark.parametrize(
    ("args", "kwargs", "title"),
    [
        ((3.2,), {"n": 10}, "measure(field=3.2, n=10)"),
        ((3.2, 5), {}, "measure(field=3.2, n=5)"),
        ((1, 2, "x"), {"mode": "fast"}, "measure(field=1, n=2, 'x', mode='fast')"),
    ],
)
def test_title_binds_arguments_to_the_signature(args, kwargs, title):
    assert Experiment(measure, args, kwargs).title == title


def test_title_shortens_long_values():
    title = Experiment(measure, (list(range(10_000)),)).title
    assert len(title) < 100
    assert title.startswith("measure(field=[0, 1, 2")


def test_title_survives_builtins_and_arguments_that_do_not_bind():
    assert call_title(print, ("a",), {}) == "print('a')"
    assert call_title(measure, (), {"bogus": 1}) == "measure(bogus=1)"


def test_short_repr_survives_a_broken_repr():
    class Broken:
        def __repr__(self):
            raise RuntimeError("nope")

    assert "Broken" in short_repr(Broken())


def _run(exp, status, result=None, exception=None):
    exp.set_running_or_notify_cancel()
    exp._complete(status, result, exception)


def test_finished_result_and_callbacks():
    exp = Experiment(measure, (2,))
    seen = []
    exp.add_done_callback(lambda f: seen.append(f.status))
    _run(exp, ExpStatus.FINISHED, 20)
    assert exp.result(timeout=0) == 20
    assert exp.exception() is None
    assert exp.done() and exp.status is ExpStatus.FINISHED
    assert seen == [ExpStatus.FINISHED]


def test_failed_reraises_the_calls_own_exception_with_traceback():
    exp = Experiment(measure, (2,))
    try:
        raise KeyError("probe")
    except KeyError as exc:
        error = exc
    _run(exp, ExpStatus.FAILED, exception=error)
    with pytest.raises(KeyError, match="probe") as info:
        exp.result()
    assert info.value is error and info.value.__traceback__ is not None
    assert exp.exception() is error


def test_aborted_without_result_raises_cancelled_error():
    exp = Experiment(measure, (2,))
    _run(exp, ExpStatus.ABORTED, exception=RuntimeError("stopped"))
    assert exp.status is ExpStatus.ABORTED and exp.done()
    with pytest.raises(CancelledError):
        exp.result()
    assert isinstance(exp.exception(), CancelledError)
    assert isinstance(exp.exception().__cause__, RuntimeError)
    assert not exp.cancelled()


@pytest.mark.parametrize("status", [ExpStatus.ABORTED, ExpStatus.INTERRUPTED])
def test_aborted_and_interrupted_work_with_asyncio_and_wait_first_exception(status):
    exp = Experiment(measure, (2,))
    if status is ExpStatus.ABORTED:
        _run(exp, status, exception=RuntimeError("stopped"))
    else:
        exp._complete(status)
    done, _ = wait([exp], timeout=5, return_when=FIRST_EXCEPTION)
    assert done == {exp}

    async def main():
        return await asyncio.wait_for(asyncio.wrap_future(exp), timeout=5)

    with pytest.raises((asyncio.CancelledError, CancelledError)):  # asyncio converts the plain one
        asyncio.run(main())


def test_aborted_with_a_return_value_raises_cancelled_error_and_keeps_it_as_partial_result():
    exp = Experiment(measure, (2,))
    _run(exp, ExpStatus.ABORTED, result="partial")
    assert exp.status is ExpStatus.ABORTED
    with pytest.raises(CancelledError):
        exp.result()
    assert exp.partial_result == "partial"
    done, _ = wait([exp], timeout=5, return_when=FIRST_EXCEPTION)
    assert done == {exp}

    async def main():
        return await asyncio.wait_for(asyncio.wrap_future(exp), timeout=5)

    with pytest.raises((asyncio.CancelledError, CancelledError)):
        asyncio.run(main())


def test_interrupted_raises_interrupted_which_is_a_cancelled_error():
    exp = Experiment(measure, (2,))
    exp._complete(ExpStatus.INTERRUPTED)
    assert exp.status is ExpStatus.INTERRUPTED and exp.done()
    with pytest.raises(Interrupted):
        exp.result()
    with pytest.raises(CancelledError):
        exp.result()


def test_cancel_only_while_queued():
    queued = Experiment(measure, (1,))
    assert queued.cancel()
    assert queued.status is ExpStatus.CANCELLED and queued.done() and queued.cancelled()
    with pytest.raises(CancelledError):
        queued.result()
    running = Experiment(measure, (1,))
    running.set_running_or_notify_cancel()
    assert not running.cancel()
    assert running.status is ExpStatus.RUNNING and running.running()


def test_result_timeout_raises_timeout_error():
    with pytest.raises(TimeoutError):
        Experiment(measure, (1,)).result(timeout=0.01)


def test_works_with_concurrent_futures_wait_and_as_completed():
    exps = [Experiment(measure, (i,)) for i in range(3)]
    done_event = threading.Event()

    def complete():
        done_event.wait(5)
        for i, exp in enumerate(exps):
            _run(exp, ExpStatus.FINISHED, i)

    finisher = threading.Thread(target=complete)
    finisher.start()
    done_event.set()
    finished, _ = wait(exps, timeout=5)
    assert set(finished) == set(exps)
    assert sorted(f.result() for f in as_completed(exps, timeout=5)) == [0, 1, 2]
    finisher.join()


def test_cancelled_experiment_wakes_wait():
    exp = Experiment(measure, (1,))
    threading.Timer(0.01, exp.cancel).start()
    finished, not_done = wait([exp], timeout=5, return_when=FIRST_COMPLETED)
    assert finished == {exp} and not not_done


def test_works_with_asyncio_wrap_future():
    exp = Experiment(measure, (1,))

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, lambda: threading.Thread(target=_run, args=(exp, ExpStatus.FINISHED, "ok")).start())
        return await asyncio.wait_for(asyncio.wrap_future(exp), timeout=5)

    assert asyncio.run(main()) == "ok"


def test_status_and_done_agree_under_concurrent_reads():
    """A reader thread never sees a terminal status with done() False, or the reverse."""
    exps = [Experiment(measure, (i,)) for i in range(2000)]
    stop = threading.Event()
    disagreements = []

    def reader():
        while not stop.is_set():
            for exp in exps:
                done = exp.done()
                status = exp.status
                # status read after done(): once done, status must be terminal
                if done and not status.is_terminal:
                    disagreements.append(exp)

    thread = threading.Thread(target=reader)
    thread.start()
    for exp in exps:
        _run(exp, ExpStatus.FINISHED, 1)
    stop.set()
    thread.join()
    assert not disagreements


def test_log_count_keeps_growing_when_old_records_are_dropped(monkeypatch):
    import logging

    import labqueue.core.engine.experiment

    monkeypatch.setattr(labqueue.core.engine.experiment, "MAX_LOG_RECORDS", 10)
    exp = Experiment(measure, (1,))
    for i in range(25):
        exp.add_log_record(logging.makeLogRecord({"msg": f"line {i}"}))
    assert exp.log_count == 25 and exp.dropped_log_records == 15
    assert [r.getMessage() for r in exp.log_records][-1] == "line 24" and len(exp.log_records) == 10
