"""The window's Qt-free parts (reordering, stats, texts) and its interpreter settings."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

from hypothesis import given, settings
from hypothesis import strategies as st

from labqueue import Experiment, ExperimentQueue, ExpStatus
from labqueue.core.engine import QueueSnapshot
from labqueue.ui import reordering
from labqueue.ui.display_text import cell_repr, format_duration, format_time, outcome_text
from labqueue.ui.interpreter_sharing import InterpreterSharing
from labqueue.ui.queue_stats import QueueStats

from .conftest import fail, noop


def queue_of(count: int) -> tuple[ExperimentQueue, list[Experiment]]:
    queue = ExperimentQueue()
    experiments = [Experiment(noop, (i,)) for i in range(count)]
    queue.put_many(experiments)
    return queue, experiments


@settings(max_examples=300, deadline=None)
@given(data=st.data(), count=st.integers(1, 9))
def test_move_to_puts_the_chosen_together_in_order_before_the_position(data, count):
    queue, experiments = queue_of(count)
    chosen = data.draw(
        st.lists(st.sampled_from(experiments), unique=True).map(lambda c: [e for e in experiments if e in c])
    )
    position = data.draw(st.integers(0, count))

    reordering.move_to(queue, chosen, position)

    others = [e for e in experiments if e not in chosen]
    kept_in_front = sum(1 for e in experiments[:position] if e not in chosen)
    assert queue.queued == others[:kept_in_front] + chosen + others[kept_in_front:]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), count=st.integers(1, 9))
def test_move_up_and_down_shift_each_chosen_one_place_and_keep_their_order(data, count):
    queue, experiments = queue_of(count)
    chosen = data.draw(st.lists(st.sampled_from(experiments), unique=True))
    before = queue.queued

    reordering.move_up(queue, chosen)
    after_up = queue.queued
    reordering.move_down(queue, chosen)

    for exp in chosen:
        old, new = before.index(exp), after_up.index(exp)
        assert new in (old, old - 1)
    assert [e for e in after_up if e in chosen] == [e for e in before if e in chosen]
    assert sorted(after_up, key=id) == sorted(before, key=id)


def test_moves_skip_experiments_that_are_no_longer_queued():
    queue, (first, second, third) = queue_of(3)
    queue.get_next_job()  # first starts meanwhile

    reordering.move_to_bottom(queue, [first, second])

    assert queue.queued == [third, second]


def test_stats_count_statuses_estimate_durations_and_time_left():
    queue, experiments = queue_of(4)
    stats = QueueStats()
    stats.update(queue.snapshot(), experiments)
    assert stats.counts == {ExpStatus.QUEUED: 4}
    assert stats.time_left() == (0.0, 4)

    first = queue.get_next_job()
    first.started_at -= 2.0  # as if it had run for two seconds
    queue.job_done(ExpStatus.FINISHED)
    queue.remove([experiments[3]])
    stats.update(queue.snapshot(), [])

    assert stats.counts == {ExpStatus.QUEUED: 2, ExpStatus.FINISHED: 1, ExpStatus.CANCELLED: 1}
    assert round(stats.estimate(experiments[1]), 1) == 2.0
    seconds, unknown = stats.time_left()
    assert (round(seconds, 1), unknown) == (4.0, 0)


def rare():
    return None


def test_every_function_gets_an_estimate_after_a_burst_of_another_one():
    queue = ExperimentQueue()
    slow = Experiment(rare)
    burst = [Experiment(noop, (i,)) for i in range(200)]
    queue.put_many([slow, *burst, Experiment(rare)])
    for _ in range(201):  # the rare one first, then 200 of another function, all in one update
        exp = queue.get_next_job()
        exp.started_at -= 3.0 if exp.func is rare else 0.1
        queue.job_done(ExpStatus.FINISHED)
    stats = QueueStats()
    stats.update(queue.snapshot(), queue.queue)

    assert round(stats.estimate(queue.queued[0]), 1) == 3.0


def test_estimates_learn_per_call_else_take_the_functions_median():
    queue = ExperimentQueue()
    stats = QueueStats()
    ran = [Experiment(noop, (field,)) for field in (1, 2, 3, 1)]
    queue.put_many(ran)
    for seconds in (10.0, 20.0, 30.0, 12.0):  # noop(1) ran twice: 10 s, then 12 s
        exp = queue.get_next_job()
        exp.started_at -= seconds
        queue.job_done(ExpStatus.FINISHED)
    stats.update(queue.snapshot(), queue.queue)
    waiting = [Experiment(noop, (1,)), Experiment(noop, (3,)), Experiment(noop, (9,)), Experiment(noop, ([1, 2],))]
    queue.put_many(waiting)
    stats.update(queue.snapshot(), waiting)

    same_one, same_three, new_value, unhashable = waiting
    assert round(stats.estimate(same_one)) == 12  # the latest run with the same arguments
    assert round(stats.estimate(same_three)) == 30
    assert round(stats.estimate(new_value)) == 16  # the function's median of 10, 12, 20, 30
    assert round(stats.estimate(unhashable)) == 16  # a list argument: the median too
    seconds, unknown = stats.time_left()
    assert (round(seconds), unknown) == (12 + 30 + 16 + 16, 0)


def sweep_point(field, n=10, *, gain=1.0):
    return field


def test_a_call_is_the_same_however_its_arguments_were_passed():
    from labqueue.ui.queue_stats import argument_key

    same = [
        Experiment(sweep_point, (3.2,)),
        Experiment(sweep_point, (), {"field": 3.2}),
        Experiment(sweep_point, (3.2, 10), {"gain": 1.0}),
    ]
    assert len({argument_key(exp) for exp in same}) == 1
    assert argument_key(Experiment(sweep_point, (3.2, 11))) != argument_key(same[0])
    assert argument_key(Experiment(sweep_point, ([3.2],))) is None  # a list: no key of its own


def test_the_time_left_says_when_the_queue_will_be_done():
    from datetime import datetime

    from labqueue.ui.status_bar import _time_left_text

    now = datetime(2025, 3, 12, 1, 20).timestamp()
    assert _time_left_text(3, 2 * 3600 + 20 * 60, 0, False, now) == "≈ 2 h 20 min to empty · done ≈ 03:40"
    assert (
        _time_left_text(3, 30 * 3600, 1, False, now)
        == "≈ 30 h 00 min to empty · done ≈ Thu 07:20 (+1 without estimate)"
    )
    assert (
        _time_left_text(1_500, 60, 1_200, True, now) == "paused · ≈ 1 min 00 s of work left (+1,200 without estimate)"
    )
    assert _time_left_text(3, 90, 0, False, now, waits_for_you=True) == "waiting for you · ≈ 1 min 30 s of work left"
    assert _time_left_text(3, 0, 3, False, now, waits_for_you=True) == "time left: waiting for you"


def test_stats_take_in_a_huge_put_over_several_updates_and_stay_exact():
    queue, experiments = queue_of(25_000)
    stats = QueueStats()

    stats.update(queue.snapshot(), experiments)
    updates = 1
    while stats.catching_up:
        stats.update(queue.snapshot(), [])
        updates += 1

    assert updates == 3
    assert stats.counts == {ExpStatus.QUEUED: 25_000}
    assert stats.time_left() == (0.0, 25_000)


def test_stats_wait_for_an_outcome_that_is_still_being_announced():
    queue, (exp,) = queue_of(1)
    queue.get_next_job()
    stats = QueueStats()
    # A snapshot taken just as the job ends: in the history already, still RUNNING.
    stats.update(QueueSnapshot([exp], 1, None), [exp])
    assert stats.counts == {}

    queue.job_done(ExpStatus.FINISHED)
    stats.update(queue.snapshot(), [])

    assert stats.counts == {ExpStatus.FINISHED: 1}


def test_texts_for_cells_and_details():
    assert format_duration(None) == ""
    assert format_duration(0.5) == "0.50 s"
    assert format_duration(75) == "1 min 15 s"
    assert format_duration(7500) == "2 h 05 min"
    assert format_time(None) == ""
    assert len(format_time(0.0, now=86_400.0 * 400)) > len("00:00:00")  # another day shows the date
    assert cell_repr("x" * 10_000).endswith("... (10000 characters)")
    assert cell_repr(b"\0" * 5000).endswith("... (5000 bytes)")

    class BrokenRepr:
        def __repr__(self):
            raise RuntimeError("no")

    assert cell_repr(BrokenRepr()) == "<BrokenRepr (repr failed: RuntimeError)>"


def test_outcome_texts_say_what_came_out_or_why_nothing_did():
    queue = ExperimentQueue()
    good, bad, dropped = Experiment(noop, (7,)), Experiment(fail, ("line one\nline two",)), Experiment(noop)
    queue.put_many([good, bad, dropped])
    queue.get_next_job()
    queue.job_done(ExpStatus.FINISHED, 7)
    queue.get_next_job()
    queue.job_done(ExpStatus.FAILED, exception=RuntimeError("line one\nline two"))
    queue.remove([dropped])

    assert outcome_text(good) == "7"
    assert outcome_text(bad) == "RuntimeError: line one"
    assert outcome_text(bad, detailed=True) == "RuntimeError: line one\nline two"
    assert outcome_text(dropped) == "Cancelled before it ran"


def test_interpreter_settings_are_taken_while_windows_are_open_and_given_back(qtbot):
    gc.enable()
    interval = sys.getswitchinterval()
    first, second = InterpreterSharing(), InterpreterSharing()
    assert not gc.isenabled() and sys.getswitchinterval() < interval

    first.stop()
    assert not gc.isenabled()  # the second window still needs it
    second.stop()

    assert gc.isenabled() and sys.getswitchinterval() == interval
    assert gc.get_freeze_count() == 0


def test_garbage_is_collected_on_the_gui_thread_while_a_window_is_open(qtbot):
    sharing = InterpreterSharing()
    try:
        cycles = []
        for _ in range(3000):  # enough new containers to pass the youngest threshold
            node: list = []
            node.append(node)
            cycles.append(node)
        del cycles, node
        before = gc.get_count()[0]
        sharing.collect_due()
        assert gc.get_count()[0] < before
    finally:
        sharing.stop()


def test_cyclic_garbage_surviving_a_full_collection_is_still_collected_later(qtbot, monkeypatch):
    """Nothing is frozen after the window opened: a job's cycles that happened to be
    alive at one full collection are collected once they become garbage."""

    class Blob:
        pass

    sharing = InterpreterSharing()
    try:
        blob = Blob()
        blob.cycle = blob
        witness = weakref.ref(blob)
        with monkeypatch.context() as every_generation_due:
            every_generation_due.setattr(gc, "get_count", lambda: (10**6, 10**6, 10**6))
            sharing.collect_due()  # a full collection while the job still holds it
        del blob
        gc.collect()
        assert witness() is None
    finally:
        sharing.stop()


def test_a_program_that_quits_while_imports_still_run_does_not_wait_for_them():
    never = (
        "import threading\n"
        "from labqueue.ui.background_work import import_in_background\n"
        "import_in_background(threading.Event().wait)  # an import that never ends\n"
        "print('quitting')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", never],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == "quitting\n", done.stderr
