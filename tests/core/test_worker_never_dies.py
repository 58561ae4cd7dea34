"""A worker that never dies: user code that raises SystemExit or KeyboardInterrupt
outside a job, a job taken by hand, a log record that cannot be turned into text; and
when the worker thread does end unexpectedly, the manager says so."""

import logging
import sys
import threading

import pytest

from labqueue import Experiment, ExpStatus, Manager, WorkerState

TIMEOUT = 10


def still_alive():
    return "still alive"


def assert_worker_goes_on(manager):
    assert manager.queued_exec(still_alive)().result(timeout=TIMEOUT) == "still alive"
    assert manager.worker.is_alive()
    assert manager.state is not WorkerState.DEAD


def test_a_done_callback_calling_sys_exit_does_not_stop_the_worker(manager, caplog):
    exp = Experiment(still_alive)
    exp.add_done_callback(lambda _: sys.exit("bye"))
    manager.job_queue.put(exp)
    assert exp.result(timeout=TIMEOUT) == "still alive"
    assert_worker_goes_on(manager)
    assert any("SystemExit: bye" in (r.exc_text or "") or "SystemExit" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("on_status", [ExpStatus.RUNNING, ExpStatus.FINISHED])
def test_a_slot_raising_keyboard_interrupt_or_system_exit_does_not_stop_the_worker(manager, error, on_status):
    def slot(index, status, exp):
        if status is on_status and exp.func is still_alive:
            raise error("from a slot")

    manager.job_queue.status_changed_signal.connect(slot)
    first = manager.queued_exec(still_alive)()
    assert first.result(timeout=TIMEOUT) == "still alive"
    manager.job_queue.status_changed_signal.disconnect(slot)
    assert_worker_goes_on(manager)


def test_a_state_slot_raising_system_exit_does_not_stop_the_worker(manager):
    def slot(state):
        if threading.current_thread() is manager.worker:  # on the main thread it would end the program
            raise SystemExit("from a state slot")

    manager.state_changed_signal.connect(slot)
    assert manager.queued_exec(still_alive)().result(timeout=TIMEOUT) == "still alive"
    manager.state_changed_signal.disconnect(slot)
    assert_worker_goes_on(manager)


def test_a_job_taken_by_hand_while_the_worker_runs_does_not_stop_it():
    manager = Manager(start=False)
    queue = manager.job_queue
    by_hand, after = Experiment(still_alive), Experiment(still_alive)
    queue.put_many([by_hand, after])
    assert queue.get_next_job() is by_hand  # the CustomXepr way, by hand
    # The worker asks whether it may start a job each time it looks at the queue.
    looked = threading.Event()
    is_set = manager.running.is_set

    def running_is_set():
        if threading.current_thread() is manager.worker:
            looked.set()
        return is_set()

    manager.running.is_set = running_is_set
    manager.worker.start()
    try:
        assert looked.wait(TIMEOUT)  # it has seen by_hand running
        queue.job_done(ExpStatus.FINISHED, "by hand")
        assert by_hand.result(timeout=0) == "by hand"
        assert after.result(timeout=TIMEOUT) == "still alive"
        assert_worker_goes_on(manager)
    finally:
        manager.shutdown(timeout=TIMEOUT)


class OfflineInstrument:
    def __str__(self):
        raise OSError("instrument offline")

    __repr__ = __str__


def test_a_log_record_whose_str_raises_does_not_stop_the_worker_with_the_journal_on(open_manager, monkeypatch):
    # As in the program: a handler that cannot format a record reports it and goes on
    # (pytest's own handler would raise instead).
    monkeypatch.setattr(logging, "raiseExceptions", False)
    manager = open_manager()
    log = logging.getLogger("labqueue.test.instrument")
    log.setLevel(logging.INFO)

    def talks_about_an_offline_instrument():
        log.info(OfflineInstrument())
        log.info("reading %s", OfflineInstrument())
        return "measured"

    exp = manager.queued_exec(talks_about_an_offline_instrument)()
    assert exp.result(timeout=TIMEOUT) == "measured"
    assert_worker_goes_on(manager)
    assert len(exp.log_lines()) == 2
    manager.shutdown()
    stored = open_manager().get(exp.id)
    assert stored.status is ExpStatus.FINISHED and len(stored.log_records) == 2


def test_a_worker_that_dies_says_so_logs_critical_and_keeps_the_queue(open_manager, caplog):
    manager = open_manager()
    states = []
    manager.state_changed_signal.connect(states.append)

    def broken_job_done(*args, **kwargs):
        raise RuntimeError("a bug in the bookkeeping")

    manager.job_queue.job_done = broken_job_done
    manager.pause_worker()
    first, waiting = Experiment(still_alive), Experiment(still_alive)
    manager.job_queue.put_many([first, waiting])
    manager.resume_worker()
    manager.worker.join(TIMEOUT)
    assert not manager.worker.is_alive()
    assert manager.state is WorkerState.DEAD
    assert states[-1] is WorkerState.DEAD
    assert manager.wait_until_idle(timeout=0)  # nothing more will run: waiting is over
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and "RuntimeError: a bug in the bookkeeping" in caplog.text
    assert "stay queued" in critical[0].getMessage()
    assert waiting.status is ExpStatus.QUEUED
    with pytest.raises(RuntimeError, match="worker thread stopped"):
        manager.queued_exec(still_alive)()

    manager.shutdown()
    assert manager.state is WorkerState.STOPPED
    again = open_manager()
    assert [e.id for e in again.job_queue.queued] == [waiting.id]
    assert again.get(first.id).status is ExpStatus.INTERRUPTED
