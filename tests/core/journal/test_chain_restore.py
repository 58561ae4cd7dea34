"""Chains after a crash: failure policies applied at the next start (the program died
after an upstream's failure was stored and before its downstreams or its retry were
dealt with), and work held by an interrupted upstream not counted as pending."""

from __future__ import annotations

from concurrent.futures import CancelledError

import pytest

from labqueue import Experiment, ExperimentQueue, ExpStatus, Manager, WorkerState
from labqueue.core.engine import held_by
from labqueue.core.journal import Journal

TIMEOUT = 10


def double(x):
    return 2 * x


def label(value=None):
    return f"report of {value}"


def _die_after_failing(lab, upstream: Experiment, downstreams: list[Experiment], error: BaseException) -> None:
    """Leave a journal in which ``upstream`` FAILED with ``error`` while its
    ``downstreams`` are still QUEUED: the failure is stored, and the process dies
    before the upstream's done-callbacks run."""
    lab.mkdir()
    journal = Journal(lab / "labqueue.db")
    queue = ExperimentQueue(store=journal)
    queue.put_many([upstream, *downstreams])
    assert queue.get_next_job() is upstream
    upstream.finished_at = upstream.started_at
    journal.record_finished(upstream, ExpStatus.FAILED, journal.prepare_outcome(upstream, None, error))
    journal.close()  # as if the process died here


@pytest.fixture
def lab(tmp_path):
    return tmp_path / "lab"


def test_at_restore_each_downstream_gets_its_links_policy(lab):
    upstream = Experiment(double, (1,))
    skipped = Experiment(double, (2,), after=[upstream])
    continued = Experiment(label, inputs={"value": upstream}, on_failure="continue")
    _die_after_failing(lab, upstream, [skipped, continued], ValueError("no signal"))

    manager = Manager(data_dir=lab, pause_on_failure=False)
    try:
        restored_skipped = manager.get(skipped.id)
        assert restored_skipped.status is ExpStatus.CANCELLED
        assert restored_skipped.cancel_reason == "upstream double(x=1) failed"
        assert [exp.id for exp in manager.job_queue.queued] == [continued.id]
        manager.resume_worker()
        assert manager.job_queue.get(continued.id).result(TIMEOUT) == "report of None"
    finally:
        manager.shutdown()

    reopened = Manager(data_dir=lab)  # the cancellation and its reason were stored
    try:
        assert reopened.job_queue.queued == []
        assert reopened.get(skipped.id).cancel_reason == "upstream double(x=1) failed"
    finally:
        reopened.shutdown()


def test_at_restore_stop_study_cancels_the_rest_of_the_chain(lab):
    upstream = Experiment(double, (1,))
    stopping = Experiment(double, (2,), after=[upstream], on_failure="stop_study")
    same_chain = Experiment(double, (3,), after=[stopping])
    unrelated = Experiment(double, (4,))
    _die_after_failing(lab, upstream, [stopping, same_chain, unrelated], ValueError("no signal"))

    manager = Manager(data_dir=lab, pause_on_failure=False)
    try:
        assert manager.get(stopping.id).cancel_reason == "study stopped: upstream double(x=1) failed"
        assert manager.get(same_chain.id).status is ExpStatus.CANCELLED
        (left,) = manager.job_queue.queued
        assert left.id == unrelated.id
    finally:
        manager.shutdown()


def test_at_restore_a_due_retry_is_queued_and_the_downstream_follows_it(lab):
    upstream = Experiment(double, (5,), retries=1, retry_on=(OSError,))
    downstream = Experiment(double, inputs={"x": upstream})
    _die_after_failing(lab, upstream, [downstream], OSError("no signal"))

    manager = Manager(data_dir=lab, pause_on_failure=False)
    try:
        restored = manager.job_queue.get(downstream.id)
        retry = restored.waiting_for
        assert retry.requeued_from == upstream.id and retry.attempt == 2
        manager.resume_worker()
        assert restored.result(TIMEOUT) == 20
    finally:
        manager.shutdown()


def test_at_restore_an_interrupted_upstream_still_blocks_its_downstream(lab):
    upstream = Experiment(double, (1,))
    downstream = Experiment(double, (2,), after=[upstream])
    _die_while_running_the_first_of(lab, [upstream, downstream])

    manager = Manager(data_dir=lab, pause_on_failure=False)
    try:
        restored = manager.job_queue.get(downstream.id)
        assert restored.status is ExpStatus.QUEUED
        assert restored.waiting_for.status is ExpStatus.INTERRUPTED
        with pytest.raises(TimeoutError):
            restored.result(0)
    finally:
        manager.shutdown()
    with pytest.raises(CancelledError):  # released in memory at shutdown, still queued in the journal
        restored.result(0)


def _die_while_running_the_first_of(lab, chain: list[Experiment]) -> None:
    lab.mkdir()
    journal = Journal(lab / "labqueue.db")
    queue = ExperimentQueue(store=journal)
    queue.put_many(chain)
    assert queue.get_next_job() is chain[0]
    journal.close()  # died while the first one ran


def test_work_held_by_an_interrupted_upstream_does_not_keep_the_manager_busy(lab):
    upstream = Experiment(double, (1,))
    downstream = Experiment(double, inputs={"x": upstream})
    further_down = Experiment(double, inputs={"x": downstream})
    _die_while_running_the_first_of(lab, [upstream, downstream, further_down])

    manager = Manager(data_dir=lab, pause_on_failure=False)
    try:
        manager.resume_worker()
        behind = Experiment(double, (7,))
        manager.job_queue.put(behind)
        assert behind.result(TIMEOUT) == 14
        # Nothing can start without a human: idle, while both stay queued.
        assert manager.wait_until_idle(TIMEOUT)
        assert manager.state is WorkerState.IDLE
        assert not manager.job_queue.has_work
        assert [exp.id for exp in manager.job_queue.queued] == [downstream.id, further_down.id]
        interrupted = manager.job_queue.history[0]
        assert held_by(manager.job_queue.get(further_down.id)) is interrupted

        manager.job_queue.requeue(interrupted)
        assert manager.job_queue.get(further_down.id).result(TIMEOUT) == 8
        assert manager.wait_until_idle(TIMEOUT) and manager.job_queue.queued == []
    finally:
        manager.shutdown()


def test_an_upstream_on_no_queue_holds_its_downstream_for_a_human():
    never_queued = Experiment(double, (1,))
    with Manager() as manager:
        waiting = Experiment(double, (2,), after=[never_queued])
        manager.job_queue.put(waiting)
        assert manager.wait_until_idle(TIMEOUT)
        assert held_by(waiting) is never_queued and waiting.status is ExpStatus.QUEUED
        manager.job_queue.put(never_queued)
        assert waiting.result(TIMEOUT) == 4
