"""Opt-in notices: the queue-done summary and the stall watchdog, on a real Manager."""

import logging
import threading

import pytest

from labqueue import Manager, set_progress
from labqueue.core.engine import Experiment
from labqueue.core.notify import QueueDoneNotifier, StallWatchdog, quiet_seconds
from tests.log_records import records_of


class Outbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, str]] = []
        self._arrived = threading.Condition()

    def __call__(self, subject: str, body: str) -> None:
        with self._arrived:
            self.mails.append((subject, body))
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[str, str]]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.mails) >= count, timeout), self.mails
            return list(self.mails)


def ok(n):
    return n


def broken():
    raise ValueError("sensor unplugged")


def test_queue_done_summary_lists_what_ran():
    outbox = Outbox()
    with Manager(pause_on_failure=False, start=False) as manager:
        notifier = QueueDoneNotifier(manager, outbox, host_name="testhost")
        manager.queued_exec(ok)(1)
        manager.queued_exec(broken)()
        manager.queued_exec(ok)(2)
        manager.worker.start()
        ((subject, body),) = outbox.wait_for(1)
        notifier.close()
    assert subject == "[labqueue] testhost: queue done, 2 finished, 1 failed"
    lines = body.splitlines()
    assert lines[0] == "labqueue on testhost: the queue is empty. 3 experiment(s) ran: 2 finished, 1 failed."
    assert [line.split()[0] for line in lines[2:]] == ["Finished", "Failed", "Finished"]
    assert "broken()  (ValueError: sensor unplugged)" in lines[3]


def test_a_queue_paused_with_jobs_left_is_not_done_until_they_are_cleared():
    outbox = Outbox()
    with Manager(pause_on_failure=True) as manager:
        notifier = QueueDoneNotifier(manager, outbox, host_name="testhost")
        manager.pause_worker()
        manager.queued_exec(broken)()
        left = manager.queued_exec(ok)(1)
        manager.resume_worker()
        assert manager.wait_until_idle(timeout=15) and manager.paused
        assert outbox.mails == [] and manager.job_queue.queued == [left]
        manager.clear_all_jobs()
        ((subject, _),) = outbox.wait_for(1)
        notifier.close()
    assert subject == "[labqueue] testhost: queue done, 1 failed"


def test_the_queue_is_done_when_what_is_left_waits_for_someone_and_the_summary_says_why():
    outbox = Outbox()
    with Manager(pause_on_failure=False, start=False) as manager:
        notifier = QueueDoneNotifier(manager, outbox, host_name="testhost")
        never_queued = Experiment(ok, (0,))
        blocked = Experiment(ok, (1,), after=[never_queued])
        manager.job_queue.put(blocked)
        sweep = manager.sweep(ok, {"n": [2, 3]})
        manager.pause_group(sweep.group.id)
        manager.queued_exec(ok)(4)
        manager.worker.start()
        ((subject, body),) = outbox.wait_for(1)
        notifier.close()
        assert manager.wait_until_idle(timeout=15)  # a paused sweep waits for a human, as a paused queue
        assert len(manager.job_queue.queued) == 3  # nothing was dropped to make it "done"
    assert subject == "[labqueue] testhost: queue done, 1 finished; 3 waiting for you"
    lines = body.splitlines()
    assert lines[:2] == [
        "labqueue on testhost: nothing more runs without you. 1 experiment(s) ran: 1 finished.",
        "3 queued experiment(s) wait for you:",
    ]
    assert lines[2] == "  ok(n=1): its upstream ok(n=0) was never queued"
    assert lines[3:5] == ["  ok(n=2): its sweep is paused", "  ok(n=3): its sweep is paused"]
    assert lines[6].split()[0] == "Finished" and lines[6].endswith("ok(n=4)")


def test_quiet_seconds_counts_from_the_latest_sign_of_life():
    exp = Experiment(ok, (1,))
    exp.started_at = 100.0
    assert quiet_seconds(exp, None, 130.0) == 30.0
    assert quiet_seconds(exp, 120.0, 130.0) == 10.0
    exp.add_log_record(logging.makeLogRecord({"created": 125.0}))
    assert quiet_seconds(exp, 120.0, 130.0) == 5.0


@pytest.fixture
def watchdog_log():
    with records_of("labqueue.watchdog") as waiter:
        yield waiter


def test_a_quiet_experiment_is_warned_about_once_per_silence(watchdog_log):
    report_progress, finish = threading.Event(), threading.Event()

    def slow_measurement():
        report_progress.wait(30)
        set_progress(0.5, "halfway")
        finish.wait(30)

    with Manager() as manager:
        watchdog = StallWatchdog(manager, stall_seconds=0.2)
        exp = manager.queued_exec(slow_measurement)()
        try:
            watchdog_log.wait_for("has reported no progress")
            assert len(watchdog_log.records) == 1
            report_progress.set()
            watchdog_log.wait_count(2)
        finally:
            report_progress.set()
            finish.set()
        exp.result(timeout=15)
        watchdog.close()
    first = watchdog_log.records[0]
    assert first.getMessage().startswith(f"{exp.title} has reported no progress and logged nothing for 0.")
    assert exp.title.endswith("slow_measurement()")
    assert first.experiment_id == exp.id[:8]
    assert first.experiment_title == exp.title
