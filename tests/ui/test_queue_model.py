"""QueueModel: rows always equal the queue's snapshot, through precise row signals."""

from __future__ import annotations

import threading
from concurrent import futures

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPersistentModelIndex
from PySide6.QtTest import QAbstractItemModelTester

from labqueue import Experiment, ExpStatus
from labqueue.core.engine import QueueSnapshot
from labqueue.core.runs import SweepGroup
from labqueue.ui import queue_model
from labqueue.ui.queue_model import Column, QueueModel
from labqueue.ui.sweep_rows import SweepSource

from .conftest import fail, noop, report_then_wait


class ScriptedQueue:
    """Answers snapshot_if_free() with whatever rows a test sets, to drive the diff directly."""

    def __init__(self) -> None:
        self.rows: list[Experiment] = []

    def snapshot_if_free(self) -> QueueSnapshot:
        return QueueSnapshot(list(self.rows), len(self.rows), None)


def model_failures(qtlog, *, live_data: bool = False) -> list[str]:
    """Complaints of QAbstractItemModelTester (it reports through Qt warnings).

    With ``live_data``, leave out its checks that a neighbour row's text is the same
    before and after an insert: statuses are read live on purpose, and the worker may
    start that experiment in between.
    """
    failures = [record.message for record in qtlog.records if "FAIL" in record.message]
    if live_data:
        failures = [message for message in failures if "(c.next)" not in message and "(c.last)" not in message]
    return failures


POOL = [Experiment(noop, (i,)) for i in range(24)]


@pytest.mark.parametrize("move_limit", [64, 1], ids=["row-moves", "layout-change"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.lists(st.integers(0, len(POOL) - 1), unique=True, max_size=len(POOL)), min_size=1, max_size=6))
def test_any_change_of_rows_is_applied_exactly_and_persistent_indexes_follow(
    qtbot, qtlog, monkeypatch, move_limit, steps
):
    monkeypatch.setattr(queue_model, "_MOVE_LIMIT", move_limit)
    queue = ScriptedQueue()
    model = QueueModel(queue)
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Warning)
    for step in steps:
        before = model.experiments()
        anchors = [(QPersistentModelIndex(model.index(row, Column.TITLE)), exp) for row, exp in enumerate(before)]
        queue.rows = [POOL[i] for i in step]

        model.sync()

        assert model.experiments() == queue.rows
        for anchor, exp in anchors:
            if exp in queue.rows:
                assert (anchor.row(), anchor.column()) == (queue.rows.index(exp), Column.TITLE)
            else:
                assert not anchor.isValid()
    assert model_failures(qtlog) == []
    del tester


def test_a_single_move_is_one_row_move_and_puts_are_one_insert(qtbot):
    queue = ScriptedQueue()
    model = QueueModel(queue)
    queue.rows = POOL[:10]
    model.sync()
    signals = []
    model.rowsInserted.connect(lambda *args: signals.append("insert"))
    model.rowsMoved.connect(lambda *args: signals.append("move"))
    model.layoutChanged.connect(lambda *args: signals.append("layout"))

    queue.rows = POOL[:10] + POOL[10:20]
    model.sync()
    order = list(queue.rows)
    order.insert(2, order.pop(15))
    queue.rows = order
    model.sync()

    assert signals == ["insert", "move"]
    assert model.experiments() == order


def test_putting_thousands_at_once_reaches_the_view_as_one_insert(qtbot, window, manager):
    manager.pause_worker()
    inserts = []
    window.queue_model.rowsInserted.connect(lambda parent, first, last: inserts.append((first, last)))

    manager.job_queue.put_many([Experiment(noop, (i,)) for i in range(5000)])

    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 5000, timeout=5000)
    assert inserts == [(0, 4999)]


def test_model_equals_queue_snapshot_after_a_concurrent_storm(qtbot, qtlog, window, manager):
    """Puts, removals, moves, requeues and completions from other threads, all at once."""
    tester = QAbstractItemModelTester(window.queue_model, QAbstractItemModelTester.FailureReportingMode.Warning)
    queue = manager.job_queue
    go = threading.Barrier(5)
    errors: list[BaseException] = []
    putting_done = threading.Event()

    def putter() -> None:
        go.wait()
        for batch in range(30):
            queue.put_many([Experiment(noop, (batch * 10 + i,)) for i in range(4)])
            queue.put(Experiment(fail, ("storm",)) if batch % 10 == 9 else Experiment(noop))
        putting_done.set()

    def remover() -> None:
        go.wait()
        while not putting_done.is_set():
            queue.remove(queue.queued[1::3])

    def pauser() -> None:
        go.wait()
        while not putting_done.is_set():
            if manager.running.is_set():
                manager.pause_worker()
            else:
                manager.resume_worker()
        manager.resume_worker()

    def mover() -> None:
        go.wait()
        for i in range(80):
            queued = queue.queued
            if len(queued) > 2:
                try:
                    queue.move(queued[-1 - i % 2], i % 3)
                except ValueError:  # it started meanwhile
                    pass

    def requeuer() -> None:
        go.wait()
        for _ in range(25):
            ended = [exp for exp in queue.history if exp.status.is_terminal]
            if ended:
                queue.requeue(ended[-1])

    def guarded(job):
        def run() -> None:
            try:
                job()
            except BaseException as exc:  # reported below, not lost in a thread
                errors.append(exc)

        return run

    manager.pause_on_failure = False
    # One finished and one failed before the storm, as the removal below gives one
    # cancelled: the threads may remove every later one of a kind.
    ended = [Experiment(noop, ("seed",)), Experiment(fail, ("seed",))]
    queue.put_many(ended)
    assert not futures.wait(ended, timeout=10).not_done
    manager.pause_worker()
    seeded = [Experiment(noop, (i,)) for i in range(20)]
    queue.put_many(seeded)
    queue.remove(seeded[::4])  # so every kind of change is there, whatever the threads' timing
    threads = [threading.Thread(target=guarded(job)) for job in (putter, remover, mover, requeuer, pauser)]
    for thread in threads:
        thread.start()
    qtbot.waitUntil(lambda: not any(thread.is_alive() for thread in threads), timeout=60_000)
    assert errors == []
    assert manager.wait_until_idle(timeout=30)

    snapshot = queue.snapshot()
    model = window.queue_model
    # The rows can match an earlier sync while the last jobs' endings are still on their
    # way (ending moves no row), so wait for the history boundary too.
    qtbot.waitUntil(
        lambda: (
            (model.experiments(), model.history_size, model.first_queued_row)
            == (snapshot.experiments, snapshot.ended_size, snapshot.first_queued)
        ),
        timeout=5000,
    )
    expected_counts = {}
    for exp in snapshot.experiments:
        expected_counts[exp.status] = expected_counts.get(exp.status, 0) + 1
    qtbot.waitUntil(lambda: window.stats.counts == expected_counts, timeout=5000)
    assert {ExpStatus.FAILED, ExpStatus.CANCELLED, ExpStatus.FINISHED} <= set(expected_counts)
    assert model_failures(qtlog, live_data=True) == []
    del tester


def test_selection_follows_its_experiments_when_rows_move_and_get_cancelled(qtbot, window, manager):
    manager.pause_worker()
    queue = manager.job_queue
    exps = [Experiment(noop, (i,)) for i in range(8)]
    queue.put_many(exps)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 8)
    window.queue_view.select_rows([2, 5])

    queue.move(exps[7], 0)
    queue.remove([exps[3], exps[0]])
    qtbot.waitUntil(lambda: window.queue_model.experiments() == queue.snapshot().experiments)

    selected = window.queue_view.selected_experiments()
    assert selected == [exps[2], exps[5]]


def test_running_row_shows_its_progress_and_queued_rows_their_estimate(qtbot, window, manager):
    gate = threading.Event()
    first = manager.queued_exec(noop)(1)
    first.result(timeout=10)
    running = manager.queued_exec(report_then_wait)(gate, 0.25, "quarter")
    queued = manager.queued_exec(noop)(2)
    model = window.queue_model
    qtbot.waitUntil(lambda: model.rowCount() == 3 and running.progress == (0.25, "quarter"))

    running_row, queued_row = model.row_of(running.id), model.row_of(queued.id)
    progress = model.cell(running_row, Column.RESULT).progress
    estimate = model.index(queued_row, Column.DURATION).data()
    position = model.index(queued_row, Column.POSITION).data()

    assert progress == (0.25, "quarter")
    assert estimate.startswith("≈ ")
    assert position == "1"
    gate.set()


def test_the_empty_queue_text_is_never_painted_over_rows_not_shown_yet(qtbot, window, manager, monkeypatch):
    from labqueue.ui.queue_view import QueueView

    painted_empty = []
    monkeypatch.setattr(QueueView, "_paint_empty", lambda view: painted_empty.append(True))
    window.queue_view.viewport().repaint()
    assert painted_empty == [True]  # nothing queued: it says so

    window._frame_timer.stop()  # the rows below are not taken into the table yet
    manager.pause_worker()
    manager.queued_exec(noop)(1)
    painted_empty.clear()
    window.queue_view.viewport().repaint()

    assert window.queue_model.rowCount() == 0 and painted_empty == []


def test_a_big_put_from_the_gui_thread_is_stored_while_the_window_goes_on(qtbot, tmp_path):
    from PySide6.QtCore import QTimer

    from labqueue import Manager
    from labqueue.ui.main_window import MainWindow

    manager = Manager(data_dir=tmp_path / "lab")  # with a journal: the write is the slow part
    manager.pause_worker()
    window = MainWindow(manager, config_dir=tmp_path / "config")
    qtbot.addWidget(window)
    window.show()
    turns = []
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: turns.append(True))
    heartbeat.start(0)
    experiments = [Experiment(noop, (i,)) for i in range(20_000)]
    try:
        manager.job_queue.put_many(experiments)  # as typed in the console: on the GUI thread
        turns_during_put = len(turns)

        assert turns_during_put > 0  # the event loop ran while the journal stored them
        assert all(exp.stored for exp in experiments)  # and they are on disk once put returns
        with pytest.raises(ValueError, match="already queued"):
            manager.job_queue.put_many(experiments[:3000])  # its errors still reach the caller
        qtbot.waitUntil(lambda: window.queue_model.rowCount() == 20_000)
    finally:
        heartbeat.stop()
        manager.shutdown()


class ScriptedSweepQueue(ScriptedQueue):
    """A scripted queue whose rows are split into ended, running and queued parts."""

    def __init__(self) -> None:
        super().__init__()
        self.ended = self.running = 0

    def snapshot_if_free(self) -> QueueSnapshot:
        running = tuple(self.rows[self.ended : self.ended + self.running])
        return QueueSnapshot(list(self.rows), self.ended, running[0] if running else None, running[1:])

    snapshot = snapshot_if_free

    def qsize(self, _status: str) -> int:
        return len(self.rows) - self.ended - self.running


SWEEP_POOL = [Experiment(noop, (i,)) for i in range(16)]
for position, grouped in enumerate(SWEEP_POOL):
    grouped.group_id = ("a", "b", None, None)[position % 4]
    grouped.queued_at = float(position)
SWEEPS = SweepSource(lambda: {"a": SweepGroup("sweep a", "sweep", id="a")}, lambda _: False, lambda: 4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(
            st.permutations(range(len(SWEEP_POOL))).flatmap(lambda order: st.just(order[: len(order) - 3])),
            st.integers(0, 13),
            st.integers(0, 3),
            st.sets(st.sampled_from("ab")),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_each_sweep_is_one_row_in_its_part_of_the_queue_with_its_runs_under_it_when_expanded(qtbot, qtlog, steps):
    queue = ScriptedSweepQueue()
    model = QueueModel(queue, sweeps=SWEEPS)
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Warning)
    for order, ended, running, expanded in steps:
        queue.rows = [SWEEP_POOL[i] for i in order]
        queue.ended, queue.running = min(ended, len(order)), min(running, len(order) - min(ended, len(order)))
        model.sync()
        for group_id in "ab":  # each expand moves the rows after it: look its row up again
            row = next((row for row, sweep in model.sweep_rows() if sweep.group_id == group_id), None)
            if row is not None:
                model.set_expanded(row, group_id in expanded)
        rows = [model.item(row) for row in range(model.rowCount())]
        plain = [exp for exp in queue.rows if exp.group_id is None]
        assert [item for item in rows if getattr(item, "group_id", None) is None] == plain  # in their order
        first_queued = queue.ended + queue.running
        for group_id in {exp.group_id for exp in queue.rows} - {None}:
            members = [exp for exp in queue.rows if exp.group_id == group_id]
            (row,) = [row for row, sweep in model.sweep_rows() if sweep.group_id == group_id]
            sweep = model.sweep(row)
            # In the order first seen (runs put later after them): the scripted rows come and go.
            assert len(sweep.members) == len(members) and set(sweep.members) == set(members)
            assert sweep.title == ("sweep a" if group_id == "a" else "sweep b")
            shown = rows[row + 1 : row + 1 + len(members)]
            assert (shown == sweep.members) is (group_id in expanded)
            places = [queue.rows.index(exp) for exp in members]
            if any(place >= first_queued for place in places):  # queued runs: where the first running or queued one is
                if any(queue.ended <= place < first_queued for place in places):
                    assert model.history_size <= row < model.first_queued_row
                else:
                    assert row >= model.first_queued_row
                    assert model.place(row) == min(p for p in places if p >= first_queued) - first_queued
            elif any(place >= queue.ended for place in places):
                assert model.history_size <= row < model.first_queued_row
            else:
                assert row < model.history_size
        for row in range(model.first_queued_row, model.rowCount()):
            item = model.item(row)
            if getattr(item, "group_id", None) is None:
                assert model.place(row) == queue.rows.index(item) - first_queued
    assert model_failures(qtlog) == []
    del tester
