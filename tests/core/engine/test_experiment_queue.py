"""ExperimentQueue without a worker: ordering, removal, moves, requeue, signals."""

import queue
import threading
from concurrent.futures import CancelledError

import pytest

from labqueue import Experiment, ExperimentQueue, ExpStatus


def job(i=0):
    return i


def make(n):
    return [Experiment(job, (i,)) for i in range(n)]


@pytest.fixture
def q():
    return ExperimentQueue()


def record(q):
    events = []
    q.added_signal.connect(lambda i, e: events.append(("added", i, e)))
    q.removed_signal.connect(lambda i, n, exps: events.append(("removed", i, n, exps)))
    q.status_changed_signal.connect(lambda i, s, e: events.append(("status", i, s, e)))
    q.moved_signal.connect(lambda a, b, e: events.append(("moved", a, b, e)))
    return events


def run_next(q, status=ExpStatus.FINISHED, result=None):
    exp = q.get_next_job()
    q.job_done(status, result)
    return exp


def test_put_appends_and_emits_added_with_index_and_experiment(q):
    events = record(q)
    a, b = make(2)
    q.put(a)
    q.put(b)
    assert q.queue == [a, b]
    assert events == [("added", 0, a), ("added", 1, b)]
    assert a.queued_at is not None


def test_put_rejects_non_queued_and_duplicates(q):
    (exp,) = make(1)
    q.put(exp)
    with pytest.raises(ValueError, match="already queued"):
        q.put(exp)
    done = Experiment(job)
    done.cancel()
    with pytest.raises(ValueError, match="only QUEUED"):
        q.put(done)
    with pytest.raises(TypeError, match="only Experiment objects"):
        q.put(job)


def test_put_many_is_all_or_nothing(q):
    good = make(3)
    bad = Experiment(job)
    bad.cancel()
    with pytest.raises(ValueError):
        q.put_many([*good, bad])
    assert q.qsize() == 0
    q.put_many(good)
    assert q.queued == good


def test_closed_says_the_queue_refuses_puts(q):
    assert not q.closed
    q.close("the manager was shut down")
    assert q.closed
    with pytest.raises(RuntimeError, match="cannot queue: the manager was shut down"):
        q.put(Experiment(job))


def test_get_next_job_order_and_empty(q):
    with pytest.raises(queue.Empty):
        q.get_next_job()
    exps = make(3)
    q.put_many(exps)
    assert q.get_next_job() is exps[0]
    assert exps[0].status is ExpStatus.RUNNING and exps[0].started_at is not None
    with pytest.raises(RuntimeError, match="still running"):
        q.get_next_job()


def test_job_done_moves_to_history_and_completes_the_future(q):
    events = record(q)
    exps = make(2)
    q.put_many(exps)
    run_next(q, ExpStatus.FINISHED, 42)
    assert exps[0].result(0) == 42
    assert q.history == [exps[0]] and q.queued == [exps[1]]
    assert ("status", 0, ExpStatus.RUNNING, exps[0]) in events
    assert ("status", 0, ExpStatus.FINISHED, exps[0]) in events


def test_job_done_failed_accepts_the_exception_as_result_like_customxepr(q):
    (exp,) = make(1)
    q.put(exp)
    q.get_next_job()
    q.job_done(ExpStatus.FAILED, ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        exp.result(0)


def test_job_done_rejects_non_exit_statuses(q):
    q.put(Experiment(job))
    q.get_next_job()
    for status in (ExpStatus.QUEUED, ExpStatus.RUNNING, ExpStatus.CANCELLED, "finished"):
        with pytest.raises(ValueError):
            q.job_done(status)


def test_qsize_is_exact(q):
    exps = make(5)
    q.put_many(exps)
    run_next(q)
    q.get_next_job()
    assert (q.qsize("history"), q.qsize("running"), q.qsize("queued"), q.qsize()) == (1, 1, 3, 5)
    with pytest.raises(ValueError):
        q.qsize("bogus")


def test_snapshot_order_is_history_running_queued(q):
    exps = make(4)
    q.put_many(exps)
    run_next(q)
    q.get_next_job()
    assert q.queue == exps
    assert q.running_experiment is exps[1]


def test_remove_item_cancels_and_completes_the_future(q):
    events = record(q)
    exps = make(3)
    q.put_many(exps)
    events.clear()
    q.remove_item(1)
    assert exps[1].status is ExpStatus.CANCELLED and exps[1].done()
    with pytest.raises(CancelledError):
        exps[1].result(timeout=0)
    assert q.queued == [exps[0], exps[2]]
    assert q.history == [] and q.ended == [exps[1]]  # kept, so it can be requeued
    assert events == [("removed", 1, 1, [exps[1]])]


def test_remove_by_experiments_emits_each_run_of_neighbours_once_highest_first(q):
    events = record(q)
    exps = make(6)
    q.put_many(exps)
    events.clear()
    assert q.remove([exps[4], exps[1], exps[2]]) == [exps[1], exps[2], exps[4]]
    assert events == [("removed", 4, 1, [exps[4]]), ("removed", 1, 2, [exps[1], exps[2]])]
    assert q.queued == [exps[0], exps[3], exps[5]]


def test_remove_of_running_or_finished_is_a_value_error_and_removes_nothing(q):
    exps = make(4)
    q.put_many(exps)
    run_next(q)
    q.get_next_job()
    with pytest.raises(ValueError, match="only queued"):
        q.remove_item(0)
    with pytest.raises(ValueError):
        q.remove_items(1, 3)  # starts at the running one
    assert q.queued == exps[2:]
    with pytest.raises(IndexError):
        q.remove_item(10)


def test_clear_cancels_every_queued_item(q):
    exps = make(4)
    q.put_many(exps)
    q.get_next_job()
    cleared = q.clear()
    assert cleared == exps[1:]
    assert all(e.status is ExpStatus.CANCELLED for e in cleared)
    assert q.qsize("queued") == 0 and q.running_experiment is exps[0]


def test_experiment_cancel_takes_it_out_of_the_queue(q):
    exps = make(3)
    q.put_many(exps)
    assert exps[1].cancel()
    assert q.queued == [exps[0], exps[2]]
    assert q.get_next_job() is exps[0]
    assert not exps[0].cancel()
    assert exps[1].cancel()  # cancelling twice is still cancelled


def test_remove_by_experiment_skips_ones_that_started(q):
    exps = make(3)
    q.put_many(exps)
    q.get_next_job()
    assert q.remove(exps) == exps[1:]
    assert exps[0].status is ExpStatus.RUNNING


def test_move_among_queued(q):
    events = record(q)
    exps = make(5)
    q.put_many(exps)
    run_next(q)
    events.clear()
    q.move(exps[4], 0)
    assert q.queued == [exps[4], exps[1], exps[2], exps[3]]
    assert events == [("moved", 4, 1, exps[4])]
    q.move(exps[4], 99)  # clamped to the end
    assert q.queued[-1] is exps[4]
    with pytest.raises(ValueError, match="only queued"):
        q.move(exps[0], 0)


def test_requeue_copies_the_call_for_ended_experiments(q):
    exps = make(2)
    q.put_many(exps)
    run_next(q, ExpStatus.FAILED, RuntimeError("x"))
    again = q.requeue(exps[0])
    assert again is not exps[0] and again.id != exps[0].id
    assert (again.func, again.args, again.kwargs) == (exps[0].func, exps[0].args, exps[0].kwargs)
    assert again.requeued_from == exps[0].id
    assert q.queued == [exps[1], again]
    with pytest.raises(ValueError, match="only ended"):
        q.requeue(exps[1])
    exps[1].cancel()
    assert q.requeue(exps[1]).status is ExpStatus.QUEUED


def test_lookup_by_id_and_index(q):
    exps = make(3)
    q.put_many(exps)
    assert q.get(exps[2].id) is exps[2]
    assert q.index(exps[2]) == 2
    with pytest.raises(KeyError):
        q.get("nope")
    assert exps[1] in q and Experiment(job) not in q


def test_a_raising_slot_is_logged_and_loses_nothing(q, caplog):
    def broken(index, exp):
        raise RuntimeError("slot bug")

    q.added_signal.connect(broken)
    (exp,) = make(1)
    q.put(exp)
    assert q.queued == [exp]
    assert "subscriber of added_signal raised" in caplog.text


class RecordingStore:
    def __init__(self, fail_on=None):
        self.calls = []
        self.fail_on = fail_on

    def _record(self, name, *args):
        if name == self.fail_on:
            raise OSError("disk full")
        self.calls.append((name, *args))

    def prepare_added(self, experiments):
        return [e.id for e in experiments]

    def record_added(self, experiments, encoded):
        self._record("added", encoded)

    def record_started(self, experiment):
        self._record("started", experiment.id)

    def prepare_outcome(self, experiment, result, exception):
        return result

    def record_finished(self, experiment, status, outcome):
        self._record("finished", experiment.id, status, outcome)

    def record_cancelled(self, experiments, finished_at):
        self._record("cancelled", [e.id for e in experiments])

    def record_moved(self, experiment, queued):
        self._record("moved", experiment.id, [e.id for e in queued])


def test_store_sees_every_change_in_order():
    store = RecordingStore()
    q = ExperimentQueue(store=store)
    exps = make(3)
    q.put_many(exps)
    q.move(exps[2], 0)
    q.remove_item(2)
    exp = q.get_next_job()
    q.job_done(ExpStatus.FINISHED, 7)
    names = [c[0] for c in store.calls]
    assert names == ["added", "moved", "cancelled", "started", "finished"]
    assert store.calls[0][1:] == ([e.id for e in exps],)
    assert store.calls[1][1:] == (exps[2].id, [exps[2].id, exps[0].id, exps[1].id])
    assert exp is exps[2] and store.calls[-1][-2:] == (ExpStatus.FINISHED, 7)


def test_a_store_that_cannot_write_a_put_leaves_the_queue_unchanged():
    q = ExperimentQueue(store=RecordingStore(fail_on="added"))
    with pytest.raises(OSError, match="disk full"):
        q.put_many(make(2))
    assert q.qsize() == 0


def test_labqueues_own_subscribers_run_even_after_a_faulty_user_slot(q, caplog):
    from labqueue.core.engine import INTERNAL_PRIORITY

    seen = []
    q.added_signal.connect(lambda i, e: (_ for _ in ()).throw(RuntimeError("user slot bug")))
    q.added_signal.connect(lambda i, e: seen.append(e), priority=INTERNAL_PRIORITY)  # connected later
    (exp,) = make(1)
    q.put(exp)
    assert seen == [exp]
    assert "user slot bug" in caplog.text


def test_a_big_put_from_the_waiters_thread_goes_through_the_waiter():
    from labqueue.core.engine.experiment_queue import WAITED_PUT

    queue = ExperimentQueue()
    calls = []

    def waiter(put):
        calls.append(threading.current_thread())
        put()

    queue.set_waiter(threading.current_thread(), waiter)
    queue.put_many([Experiment(print) for _ in range(WAITED_PUT - 1)])  # small: straight in
    assert calls == []
    big = [Experiment(print) for _ in range(WAITED_PUT)]
    queue.put_many(big)
    assert calls == [threading.current_thread()] and queue.queued[-1] is big[-1]

    other = threading.Thread(target=queue.put_many, args=([Experiment(print) for _ in range(WAITED_PUT)],))
    other.start()
    other.join()
    assert len(calls) == 1  # another thread's big put does not wait through it
    queue.set_waiter(None, None)
    queue.put_many([Experiment(print) for _ in range(WAITED_PUT)])
    assert len(calls) == 1


def test_snapshot_if_free_gives_none_while_another_thread_holds_the_queue():
    queue = ExperimentQueue()
    queue.put(Experiment(print))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with queue._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        assert queue.snapshot_if_free() is None
    finally:
        release.set()
        holder.join()
    snapshot = queue.snapshot_if_free()
    assert snapshot is not None and len(snapshot.experiments) == 1


# -- removal by index, as in CustomXepr ----------------------------------------------


def test_the_usual_highest_first_loop_removes_the_experiments_it_names(q):
    exps = make(5)
    q.put_many(exps)
    for i in (3, 1):
        q.remove_item(i)
    assert [e.status for e in exps] == [
        ExpStatus.QUEUED,
        ExpStatus.CANCELLED,
        ExpStatus.QUEUED,
        ExpStatus.CANCELLED,
        ExpStatus.QUEUED,
    ]
    assert q.queue == [exps[0], exps[2], exps[4]]


def test_removal_shifts_only_the_later_items_and_takes_negative_indices(q):
    exps = make(7)
    q.put_many(exps)
    run_next(q)
    q.get_next_job()  # history [0], running 1, queued 2..6
    before = q.queue
    q.remove_item(3)
    assert q.queue == before[:3] + before[4:]  # history and running keep their indices
    assert q.qsize() == 6 and q.qsize("history") == 1 and q.first_queued_index() == 2
    q.remove_item(-1)
    assert q.queue == [exps[0], exps[1], exps[2], exps[4], exps[5]]
    q.remove_items(-2, -1)
    assert q.queue == [exps[0], exps[1], exps[2]]
    with pytest.raises(ValueError, match="only queued"):
        q.remove_item(-2)  # the running one
    with pytest.raises(IndexError):
        q.remove_item(-4)
    with pytest.raises(ValueError, match="i_end"):
        q.remove_items(2, 1)


def test_removed_signal_carries_the_first_index_and_the_count_once_per_call(q):
    events = []
    q.removed_signal.connect(lambda i_start, n_items: events.append((i_start, n_items)))
    exps = make(8)
    q.put_many(exps)
    run_next(q)
    q.remove_items(2, 4)
    q.remove_item(-1)
    q.clear()
    assert events == [(2, 3), (4, 1), (1, 3)]


def test_removed_signal_can_also_take_the_removed_experiments(q):
    events = record(q)
    exps = make(4)
    q.put_many(exps)
    events.clear()
    q.remove_items(1, 2)
    assert events == [("removed", 1, 2, exps[1:3])]


def test_cancelled_experiments_leave_the_queue_and_stay_reachable(q):
    exps = make(3)
    q.put_many(exps)
    run_next(q)
    q.remove_item(1)
    assert q.queue == [exps[0], exps[2]] and q.qsize() == 2
    assert q.history == [exps[0]]
    assert q.ended == [exps[0], exps[1]]  # what the window shows, in the order they ended
    assert q.get(exps[1].id) is exps[1]
    with pytest.raises(ValueError, match="cancelled"):
        q.index(exps[1])
    again = q.requeue(exps[1])
    assert q.queue == [exps[0], exps[2], again]
    snapshot = q.snapshot()
    assert snapshot.experiments == [exps[0], exps[1], exps[2], again]
    assert (snapshot.ended_size, snapshot.first_queued) == (2, 2)


def test_a_lane_offers_a_full_sweep_once_and_starts_what_is_queued_behind_it(q):
    sweep = [Experiment(job, (i,), lane="process", group_id="sweep-1") for i in range(50)]
    behind = Experiment(job, (99,), lane="process")
    q.put_many([*sweep, behind])
    offered = []

    def accept(exp):  # as the process lane does once a sweep runs as many as it allows
        offered.append(exp)
        return exp.group_id is None

    assert q.wait_next_lane_job("process", lambda: True, lambda: False, accept) is behind
    assert set(offered) == {sweep[0], behind}  # the sweep's other 49 are not asked for again
    assert behind.running() and all(exp.status is ExpStatus.QUEUED for exp in sweep)


def test_the_worker_finds_its_job_behind_a_sweep_after_part_of_it_was_cancelled(q):
    sweep = [Experiment(job, (i,), lane="process", group_id="sweep-1") for i in range(3)]
    mine = Experiment(job, (99,))
    q.put_many([*sweep, mine])
    assert sweep[1].cancel()
    assert q.get_next_job() is mine  # the lanes' count follows the cancel, so the walk is not skipped
    q.job_done(ExpStatus.FINISHED, 99)
    assert sweep[0].cancel() and sweep[2].cancel()
    with pytest.raises(queue.Empty):
        q.get_next_job()
