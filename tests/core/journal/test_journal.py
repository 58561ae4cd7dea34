"""The journal keeps the queue and its history across restarts (real SQLite files)."""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
from concurrent.futures import CancelledError

import pytest

from labqueue import Aborted, Experiment, ExperimentQueue, ExpStatus, Interrupted, Manager
from labqueue.core.journal import Journal

from .journal_helpers import fail, measure, restart, square


def test_queued_experiments_come_back_in_order_with_their_ids_and_the_queue_paused(open_manager, caplog):
    manager = open_manager(start=False)
    exps = [Experiment(square, (i,), {"offset": 1}) for i in range(5)]
    exps.append(Experiment(square, (7,), title="calibration"))
    manager.job_queue.put_many(exps[:3])
    for exp in exps[3:]:
        manager.job_queue.put(exp)
    assert all(exp.stored is True for exp in exps)

    with caplog.at_level(logging.WARNING, logger="labqueue"):
        again = restart(manager, open_manager)
    queued = again.job_queue.queued
    assert [e.id for e in queued] == [e.id for e in exps]
    assert [(e.args, e.kwargs, e.title) for e in queued] == [(e.args, e.kwargs, e.title) for e in exps]
    assert all(e.status is ExpStatus.QUEUED and e.stored is True for e in queued)
    assert again.paused
    assert "Restored 6 queued and 0 interrupted" in caplog.text and "Resume" in caplog.text

    again.resume_worker()
    assert [e.result(timeout=10) for e in queued] == [1, 2, 5, 10, 17, 49]


def test_calls_without_arguments_come_back_each_with_its_own_and_the_collector_on_again(open_manager):
    manager = open_manager(start=False)
    manager.job_queue.put_many([Experiment(square, (3,)), Experiment(dict), Experiment(dict)])
    assert gc.isenabled()

    again = restart(manager, open_manager)
    with_args, first, second = again.job_queue.queued
    assert (with_args.args, with_args.kwargs) == ((3,), {})
    assert (first.args, first.kwargs, second.args, second.kwargs) == ((), {}, (), {})
    first.kwargs["field"] = 2.0  # the restore shares no dict between experiments
    assert second.kwargs == {}
    assert gc.isenabled()  # paused while the experiments were built, and only then


def test_a_journal_with_only_history_starts_running(open_manager):
    manager = open_manager()
    assert manager.queued_exec(square)(3).result(timeout=10) == 9
    again = restart(manager, open_manager)
    assert not again.paused
    assert again.queued_exec(square)(4).result(timeout=10) == 16


def test_outcomes_come_back_with_result_traceback_log_lines_and_progress(open_manager):
    manager = open_manager(pause_on_failure=False)
    done = manager.queued_exec(measure)(3)
    failed = manager.queued_exec(fail)(4)
    aborted = manager.queued_exec(_abort)()
    assert manager.wait_until_idle(timeout=10)
    originals = [done, failed, aborted]

    again = restart(manager, open_manager)
    restored = again.job_queue.history
    assert [e.id for e in restored] == [e.id for e in originals]
    assert [e.status for e in restored] == [ExpStatus.FINISHED, ExpStatus.FAILED, ExpStatus.ABORTED]
    assert restored[0].result(0) == {"point": 3, "value": 30}
    assert restored[0].progress == (0.5, "point 3")
    assert restored[0].log_lines() == done.log_lines()
    assert any("measuring point 3" in line for line in restored[0].log_lines())
    with pytest.raises(ValueError, match="no signal at point 4"):
        restored[1].result(0)
    assert restored[1].traceback == failed.traceback and "ValueError" in restored[1].traceback
    with pytest.raises(CancelledError):
        restored[2].result(0)
    for old, new in zip(originals, restored, strict=True):
        assert (new.queued_at, new.started_at) == (old.queued_at, old.started_at)
        assert new.finished_at == pytest.approx(old.finished_at, abs=0.5)
        assert new.title == old.title
    assert not again.paused


def _abort():
    raise Aborted("stopped by the operator")


def _refuse_to_load():
    raise TypeError("this value cannot be loaded")


class _Unloadable:
    def __reduce__(self):
        return _refuse_to_load, ()


class _PickyError(Exception):
    """Pickles, but cannot be unpickled: its __init__ needs two arguments, and it carries
    a value that refuses to load (where tblib's pickling support is installed, as
    importing distributed does, an exception is rebuilt without its __init__)."""

    def __init__(self, code, text):
        super().__init__(f"{code}: {text}")
        self.detail = _Unloadable()


def _fail_picky():
    raise _PickyError(17, "lock-in overload")


def test_an_exception_that_does_not_load_comes_back_as_stored_failure_with_its_traceback(open_manager):
    from labqueue.core.journal import StoredFailure

    manager = open_manager()
    exp = manager.queued_exec(_fail_picky)()
    assert manager.wait_until_idle(timeout=10)
    again = restart(manager, open_manager)
    restored = again.get(exp.id)
    assert restored.status is ExpStatus.FAILED
    with pytest.raises(StoredFailure, match="lock-in overload") as info:
        restored.result(0)
    assert "_fail_picky" in str(info.value) and "Traceback" in str(info.value)


def test_cancelled_experiments_come_back_cancelled_at_the_end_of_the_history(open_manager):
    manager = open_manager(start=False)
    exps = [Experiment(square, (i,)) for i in range(4)]
    manager.job_queue.put_many(exps)
    manager.job_queue.remove_item(2)
    exps[0].cancel()
    manager.clear_all_jobs()
    order = [e.id for e in manager.job_queue.ended]
    assert order == [exps[2].id, exps[0].id, exps[1].id, exps[3].id]
    assert manager.job_queue.queue == []  # cancelled ones leave the queue (and its indices)

    again = restart(manager, open_manager)
    assert [e.id for e in again.job_queue.ended] == order
    assert again.job_queue.queue == [] and again.job_queue.qsize() == 0 and not again.paused
    assert [e.id for e in again.history(status="cancelled")] == order
    for exp in again.job_queue.ended:
        assert exp.status is ExpStatus.CANCELLED
        with pytest.raises(CancelledError):
            exp.result(0)


def test_queued_experiments_stay_queued_on_disk_when_the_manager_shuts_down(open_manager):
    manager = open_manager(start=False)
    exp = manager.queued_exec(square)(2)
    manager.shutdown()
    assert exp.status is ExpStatus.CANCELLED  # released in memory, so nobody waits forever
    again = open_manager()
    assert [e.id for e in again.job_queue.queued] == [exp.id]
    assert again.job_queue.queued[0].status is ExpStatus.QUEUED


def _leave_one_running(lab) -> list[Experiment]:
    """A journal whose first experiment was RUNNING when its program died."""
    lab.mkdir()
    journal = Journal(lab / "labqueue.db")
    queue = ExperimentQueue(store=journal)
    exps = [Experiment(square, (i,)) for i in range(3)]
    queue.put_many(exps)
    assert queue.get_next_job() is exps[0]
    journal.close()  # as if the process died here
    return exps


def test_the_running_experiment_comes_back_interrupted_and_can_be_requeued(open_manager, lab):
    exps = _leave_one_running(lab)
    manager = open_manager()
    interrupted = manager.job_queue.history
    assert [e.id for e in interrupted] == [exps[0].id]
    assert interrupted[0].status is ExpStatus.INTERRUPTED
    with pytest.raises(Interrupted):
        interrupted[0].result(0)
    assert [e.id for e in manager.job_queue.queued] == [e.id for e in exps[1:]]
    assert manager.paused

    again = manager.job_queue.requeue(interrupted[0])
    third = restart(manager, open_manager)
    history = third.job_queue.history
    assert [(e.id, e.status) for e in history] == [(exps[0].id, ExpStatus.INTERRUPTED)]
    requeued = third.job_queue.queued[-1]
    assert requeued.id == again.id and requeued.requeued_from == exps[0].id
    third.resume_worker()
    assert requeued.result(timeout=10) == 0


def test_moving_one_experiment_rewrites_one_row(open_manager):
    manager = open_manager(start=False)
    exps = [Experiment(square, (i,)) for i in range(1000)]
    manager.job_queue.put_many(exps)
    connection: sqlite3.Connection = manager._journal._conn
    for exp, position in [(exps[-1], 0), (exps[500], 10), (exps[3], 999), (exps[10], 1)]:
        before = connection.total_changes
        manager.job_queue.move(exp, position)
        assert connection.total_changes - before == 1
    order = [e.id for e in manager.job_queue.queued]
    again = restart(manager, open_manager)
    assert [e.id for e in again.job_queue.queued] == order


def test_positions_are_renumbered_when_moves_run_out_of_room(open_manager, monkeypatch):
    manager = open_manager(start=False)
    manager.job_queue.put_many([Experiment(square, (i,)) for i in range(5)])
    renumbered = []
    renumber = manager._journal._renumber
    monkeypatch.setattr(manager._journal, "_renumber", lambda order: (renumbered.append(1), renumber(order)))
    for _ in range(80):  # always between the first two: halves the gap each time
        manager.job_queue.move(manager.job_queue.queued[-1], 1)
    assert renumbered
    order = [e.id for e in manager.job_queue.queued]
    again = restart(manager, open_manager)
    assert [e.id for e in again.job_queue.queued] == order


def test_progress_is_stored_while_the_job_runs(open_manager):
    manager = open_manager()
    reported, release = threading.Event(), threading.Event()

    def slow():
        manager.set_progress(0.25, "quarter")
        reported.set()
        release.wait(10)

    exp = manager.queued_exec(slow)()
    assert reported.wait(10)
    stored = manager._journal.load(exp.id)
    assert stored.progress == (0.25, "quarter")
    release.set()
    exp.result(timeout=10)


def test_a_function_typed_into_the_console_comes_back_by_value(open_manager):
    console = {"__name__": "labqueue_console"}  # a module that cannot be imported
    exec("FACTOR = 3\ndef scaled(x):\n    return FACTOR * x\n", console)
    manager = open_manager(start=False)
    exp = manager.queued_exec(console["scaled"])(5)
    assert exp.stored
    again = restart(manager, open_manager)
    again.resume_worker()
    assert again.job_queue.queued[0].result(timeout=10) == 15


def test_without_a_data_dir_nothing_touches_the_disk(tmp_path, isolated_dirs):
    manager = Manager()
    try:
        exp = manager.queued_exec(square)(3)
        assert exp.result(timeout=10) == 9
        assert exp.stored is None
    finally:
        manager.shutdown()
    assert not isolated_dirs.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    assert not any((tmp_path / "home").iterdir())


def test_time_paused_is_kept_so_a_restored_duration_leaves_it_out(open_manager):
    manager = open_manager()
    exp = Experiment(square, (3,))
    manager.job_queue.put(exp)
    exp.result(timeout=10)
    # As if it had waited 2 s in checkpoint(): written with the outcome.
    again_exp = Experiment(square, (4,))
    again_exp.paused_seconds = 2.0
    manager.job_queue.put(again_exp)
    again_exp.result(timeout=10)

    again = restart(manager, open_manager)
    restored = {e.id: e for e in again.job_queue.history}
    assert restored[exp.id].paused_seconds == 0.0
    assert restored[again_exp.id].paused_seconds == 2.0
    paused = restored[again_exp.id]
    assert paused.duration == max(0.0, paused.finished_at - paused.started_at - 2.0)


def publishes_a_sweep():
    from labqueue import publish

    publish("signal", [0.0, 1.0, 2.0], [5.0, 6.0, 7.5], x_label="field", y_label="signal", units=("mT", "V"))
    publish("noise", None, 0.25)
    return "done"


def test_published_series_are_stored_with_the_outcome_and_read_back_after_a_restart(open_manager):
    manager = open_manager()
    exp = Experiment(publishes_a_sweep)
    plain = Experiment(square, (2,))
    manager.job_queue.put_many([exp, plain])
    plain.result(timeout=10)

    again = restart(manager, open_manager)
    restored = {e.id: e for e in again.job_queue.history}
    assert restored[exp.id].published is None  # read when asked for, not at start
    data = again.published_data(restored[exp.id])
    signal = data.series["signal"]
    assert list(signal.x) == [0.0, 1.0, 2.0] and list(signal.y) == [5.0, 6.0, 7.5]
    assert (signal.x_label, signal.y_label, signal.x_units, signal.y_units) == ("field", "signal", "mT", "V")
    assert list(data.series["noise"].y) == [0.25] and list(data.series) == ["signal", "noise"]
    assert again.published_data(restored[plain.id]) is None
