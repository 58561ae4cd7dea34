"""Chains: then(), after=, inputs=, failure policies, retries, requeue of an upstream."""

from __future__ import annotations

from concurrent.futures import CancelledError

import pytest

from labqueue import Experiment, ExpStatus, Manager

TIMEOUT = 10


@pytest.fixture
def manager():
    """A paused in-memory manager that does not pause on failures (the policies decide)."""
    made = Manager(pause_on_failure=False)
    made.pause_worker()
    yield made
    made.shutdown(wait=True, timeout=TIMEOUT)


def double(x):
    return 2 * x


def add(a, b=0):
    return a + b


def broken(message="broken"):
    raise ValueError(message)


def put(manager, func, *args, **options) -> Experiment:
    exp = Experiment(func, args, **options)
    manager.job_queue.put(exp)
    return exp


def test_then_passes_the_result_and_waits_visibly(manager):
    first = put(manager, double, 3)
    second = first.then(add, b=10)
    assert second.status is ExpStatus.QUEUED
    assert second.waiting_for is first
    assert second.title == "add(a=<result of double(x=3)>, b=10)"
    manager.resume_worker()
    assert second.result(TIMEOUT) == 16
    assert second.waiting_for is None


def test_named_inputs_and_order_only_links(manager):
    spectrum = put(manager, double, 5)
    offset = put(manager, double, 1)
    # Queued before its upstreams' results exist, and ahead of nothing: it must wait.
    combined = put(manager, add, inputs={"a": spectrum, "b": offset})
    after_both = put(manager, double, 7, after=[spectrum, combined])
    manager.resume_worker()
    assert combined.result(TIMEOUT) == 12
    assert after_both.result(TIMEOUT) == 14
    assert after_both.started_at >= combined.finished_at


def test_a_waiting_downstream_does_not_hold_up_the_rest(manager):
    upstream = put(manager, double, 1)
    downstream = upstream.then(double)
    independent = put(manager, double, 4)
    manager.job_queue.move(upstream, 2)  # queue: downstream, independent, upstream
    manager.resume_worker()
    assert downstream.result(TIMEOUT) == 4
    assert independent.started_at <= upstream.started_at <= downstream.started_at


def test_skip_cancels_the_downstream_with_the_reason_and_so_on_down_the_chain(manager):
    failing = put(manager, broken)
    second = failing.then(double)
    third = second.then(double)
    manager.resume_worker()
    with pytest.raises(CancelledError):
        third.result(TIMEOUT)
    assert second.status is ExpStatus.CANCELLED
    assert second.cancel_reason == "upstream broken() failed"
    assert third.cancel_reason.startswith("upstream double(x=<result of broken()>) was cancelled")


def test_continue_runs_the_downstream_with_none_for_the_failed_result(manager):
    failing = put(manager, broken)
    downstream = failing.then(lambda result: ("ran", result), on_failure="continue")
    manager.resume_worker()
    assert downstream.result(TIMEOUT) == ("ran", None)


def test_stop_study_cancels_the_rest_of_the_chain_but_not_other_work(manager):
    root = put(manager, double, 1)
    failing = root.then(broken)
    sibling = root.then(double)
    stopped = failing.then(double, on_failure="stop_study")
    other = put(manager, double, 9)
    manager.resume_worker()
    assert other.result(TIMEOUT) == 18
    with pytest.raises(CancelledError):
        stopped.result(TIMEOUT)
    assert stopped.cancel_reason.startswith("study stopped: upstream broken(")
    # The sibling ran before the failure or was stopped with it: never after it.
    assert sibling.status in (ExpStatus.FINISHED, ExpStatus.CANCELLED)
    if sibling.status is ExpStatus.CANCELLED:
        assert sibling.cancel_reason.startswith("study stopped")


def test_an_upstream_cancelled_by_hand_skips_its_downstream(manager):
    upstream = put(manager, double, 1)
    downstream = upstream.then(double)
    assert upstream.cancel()
    assert downstream.status is ExpStatus.CANCELLED
    assert downstream.cancel_reason == "upstream double(x=1) was cancelled"


def test_then_on_an_upstream_that_already_failed_cancels_at_once(manager):
    failing = put(manager, broken)
    manager.resume_worker()
    with pytest.raises(ValueError):
        failing.result(TIMEOUT)
    assert failing.then(double).status is ExpStatus.CANCELLED


def test_retries_keep_each_attempt_and_the_downstream_gets_the_last_result(manager):
    calls = []

    def flaky():
        calls.append(len(calls) + 1)
        if len(calls) < 3:
            raise OSError(f"attempt {len(calls)}")
        return "ok"

    first = put(manager, flaky, retries=3, retry_on=(OSError,))
    downstream = first.then(lambda value: value.upper())
    manager.resume_worker()
    assert downstream.result(TIMEOUT) == "OK"
    attempts = [exp for exp in manager.job_queue.history if exp.func is flaky]
    assert [(exp.attempt, exp.status) for exp in attempts] == [
        (1, ExpStatus.FAILED),
        (2, ExpStatus.FAILED),
        (3, ExpStatus.FINISHED),
    ]
    assert attempts[1].requeued_from == attempts[0].id
    assert manager.job_queue.queued == []


def test_retries_stop_at_the_limit_and_only_for_the_named_errors(manager):
    limited = put(manager, broken, retries=2)
    other_error = put(manager, broken, retries=5, retry_on=(OSError,))
    manager.resume_worker()
    manager.wait_until_idle(TIMEOUT)
    history = manager.job_queue.history
    assert sum(exp.func is broken and exp.retry is limited.retry for exp in history) == 3
    assert other_error.repeated_by is None


def test_a_failure_that_will_be_retried_does_not_pause_the_queue():
    manager = Manager()  # pauses on failure, by default
    try:
        calls = []

        def flaky():
            calls.append(1)
            if len(calls) == 1:
                raise OSError("once")
            return len(calls)

        exp = put(manager, flaky, retries=1)
        manager.wait_until_idle(TIMEOUT)
        assert exp.repeated_by.result(TIMEOUT) == 2
        assert not manager.paused
    finally:
        manager.shutdown()


def test_retry_delay_holds_the_attempt_back(manager):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("once")
        return "later"

    first = put(manager, flaky, retries=1, retry_delay=0.2)
    quick = first.then(lambda _: "after")
    manager.resume_worker()
    assert quick.result(TIMEOUT) == "after"
    again = first.repeated_by
    assert again.started_at - first.finished_at >= 0.2


def test_a_requeued_upstream_is_followed_by_its_downstream(manager):
    upstream = put(manager, double, 2)
    manager.resume_worker()
    upstream.result(TIMEOUT)
    manager.pause_worker()
    again = manager.job_queue.requeue(upstream)
    downstream = Experiment(add, (), {"b": 1}, inputs={"a": upstream})
    manager.job_queue.put(downstream)
    assert downstream.waiting_for is again
    manager.resume_worker()
    assert downstream.result(TIMEOUT) == 5


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="on_failure must be one of"):
        Experiment(double, (1,), after=[Experiment(double, (1,))], on_failure="ignore")
    with pytest.raises(TypeError, match="an upstream must be an Experiment"):
        Experiment(double, (1,), after=["calibrate"])
    with pytest.raises(RuntimeError, match="not queued"):
        Experiment(double, (1,)).then(double)


def test_a_downstream_put_after_its_upstream_failed_is_cancelled_at_once(manager):
    failing = put(manager, broken)
    manager.resume_worker()
    with pytest.raises(ValueError):
        failing.result(TIMEOUT)
    late = put(manager, double, 1, after=[failing])
    assert late.status is ExpStatus.CANCELLED
    assert late.cancel_reason == "upstream broken() failed"


def test_queued_exec_passes_the_chain_options_to_each_experiment(manager):
    calibration = put(manager, double, 21)
    calls = []

    @manager.queued_exec(
        after=[calibration], inputs={"b": calibration}, retries=1, retry_delay=0.05, retry_on=(OSError,)
    )
    def measure(a, b):
        calls.append(a)
        if len(calls) == 1:
            raise OSError("no signal")
        return a + b

    exp = measure(1)
    assert exp.waiting_for is calibration
    assert exp.title.endswith("measure(a=1, b=<result of double(x=21)>)")
    manager.resume_worker()
    assert manager.wait_until_idle(TIMEOUT)
    assert exp.repeated_by.result(0) == 43
    assert exp.status is ExpStatus.FAILED
    assert exp.repeated_by.started_at - exp.finished_at >= 0.05


def test_queued_exec_applies_each_decorators_failure_policy(manager):
    failing = put(manager, broken)

    @manager.queued_exec(after=[failing], on_failure="continue")
    def report():
        return "reported"

    @manager.queued_exec(after=[failing])
    def skipped():
        return "never"

    reported, never = report(), skipped()
    manager.resume_worker()
    assert reported.result(TIMEOUT) == "reported"
    with pytest.raises(CancelledError):
        never.result(TIMEOUT)
    assert never.cancel_reason == "upstream broken() failed"


def test_queued_exec_refuses_bad_options_where_it_is_written(manager):
    with pytest.raises(ValueError, match="on_failure must be one of"):
        manager.queued_exec(on_failure="ignore")
    with pytest.raises(ValueError, match="retries and retry_delay must be >= 0"):
        manager.queued_exec(retries=-1)
    with pytest.raises(TypeError, match="an upstream must be an Experiment"):
        manager.queued_exec(inputs={"x": "calibrate"})
    with pytest.raises(TypeError, match="needs a callable"):
        manager.queued_exec(retries=1)("not a function")


def test_a_retry_delay_is_work_the_queue_will_get_to():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("once")
        return "later"

    with Manager(pause_on_failure=False) as manager:
        first = Experiment(flaky, retries=1, retry_delay=0.2)
        manager.job_queue.put(first)
        assert manager.wait_until_idle(TIMEOUT)
        assert first.repeated_by.result(0) == "later"
