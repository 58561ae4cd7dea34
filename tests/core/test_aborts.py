"""Aborts that are never lost: the racy start of a job, shutdown, slots that wait, own
abort events, errors while stopping, escalation for jobs that never check, cleanups.

Racy orders are forced with slots, events and hooks; nothing here sleeps to wait for
a thread.
"""

import logging
import sys
import threading
from concurrent import futures

import pytest

from labqueue import Aborted, Experiment, ExpStatus, Manager, WorkerState, checkpoint

from .job_helpers import wait_for_end

TIMEOUT = 10


class RecordsArrive(logging.Handler):
    """A handler on the "labqueue" logger that sets ``arrived`` when a record matching
    ``wanted(record)`` is emitted, so a test can wait for a log line without polling."""

    def __init__(self, wanted):
        super().__init__(logging.DEBUG)
        self.wanted = wanted
        self.records: list[logging.LogRecord] = []
        self.arrived = threading.Event()

    def emit(self, record):
        if self.wanted(record):
            self.records.append(record)
            self.arrived.set()


@pytest.fixture
def labqueue_log():
    """``labqueue_log(wanted)``: a :class:`RecordsArrive` attached to the "labqueue" logger."""
    attached = []

    def attach(wanted):
        handler = RecordsArrive(wanted)
        logging.getLogger("labqueue").addHandler(handler)
        attached.append(handler)
        return handler

    yield attach
    for handler in attached:
        logging.getLogger("labqueue").removeHandler(handler)


def ran_in_full():
    return "ran in full"


# -- a lost abort ------------------------------------------------------------------


def test_abort_from_a_slot_on_running_is_never_lost(manager):
    answers = []

    def on_status(index, status, exp):
        if status is ExpStatus.RUNNING:
            answers.append(manager.abort_job())

    manager.job_queue.status_changed_signal.connect(on_status)
    exp = manager.queued_exec(ran_in_full)()
    wait_for_end(exp)
    assert answers == [True]
    assert exp.status is ExpStatus.ABORTED


def test_abort_from_another_thread_while_the_job_is_starting_is_never_lost(manager):
    in_the_gap = threading.Event()
    aborted = threading.Event()
    answers = []

    def on_status(index, status, exp):
        # Runs on the worker after the queue said RUNNING, before the call starts.
        if status is ExpStatus.RUNNING:
            in_the_gap.set()
            assert aborted.wait(TIMEOUT)

    manager.job_queue.status_changed_signal.connect(on_status)
    exp = manager.queued_exec(ran_in_full)()
    assert in_the_gap.wait(TIMEOUT)
    answers.append(manager.abort_job())
    aborted.set()
    wait_for_end(exp)
    assert answers == [True]
    assert exp.status is ExpStatus.ABORTED


def test_shutdown_aborts_a_job_that_is_just_starting():
    m = Manager()
    starting = threading.Event()
    shutdown_aborted = threading.Event()
    abort_job = m.abort_job

    def abort_job_then_tell():
        try:
            return abort_job()
        finally:
            shutdown_aborted.set()

    m.abort_job = abort_job_then_tell  # shutdown() aborts through it

    def on_status(index, status, exp):
        if status is ExpStatus.RUNNING:  # the job starts while shutdown() is aborting
            starting.set()
            assert shutdown_aborted.wait(TIMEOUT)

    m.job_queue.status_changed_signal.connect(on_status)
    exp = m.queued_exec(ran_in_full)()
    assert starting.wait(TIMEOUT)
    shutdowner = threading.Thread(target=m.shutdown, kwargs={"timeout": TIMEOUT})
    shutdowner.start()
    shutdowner.join(TIMEOUT)
    assert exp.status is ExpStatus.ABORTED
    assert m.state is WorkerState.STOPPED


# -- shutdown does not unpause ---------------------------------------------------------


def paused_in_checkpoint(manager):
    """Queue a job that pauses in checkpoint(); returns it once it waits there, and an
    event the job sets if it ever carries on past that checkpoint()."""
    waiting = threading.Event()
    carried_on = threading.Event()
    condition_wait = manager._changed.wait

    def wait_and_tell(*args, **kwargs):
        # checkpoint() holds the condition's lock until wait() releases it, so whoever
        # sets an event after `waiting` finds the job really waiting.
        waiting.set()
        return condition_wait(*args, **kwargs)

    manager._changed.wait = wait_and_tell

    def job():
        checkpoint()
        carried_on.set()
        return "carried on"

    def pause_as_it_starts(index, status, exp):
        if status is ExpStatus.RUNNING:
            manager.pause_worker()

    manager.job_queue.status_changed_signal.connect(pause_as_it_starts)
    exp = manager.queued_exec(job)()
    assert waiting.wait(TIMEOUT)
    manager.job_queue.status_changed_signal.disconnect(pause_as_it_starts)
    return exp, carried_on


def test_shutdown_without_abort_leaves_a_paused_job_paused():
    m = Manager()
    exp, carried_on = paused_in_checkpoint(m)
    m.shutdown(wait=False, abort_running=False)
    assert m.paused, "shutdown() resumed the worker"
    assert not carried_on.is_set()
    assert m.abort_job()  # still paused in checkpoint(), until it is aborted
    assert wait_for_end(exp) is ExpStatus.ABORTED and not carried_on.is_set()


def test_shutdown_aborts_a_paused_job_without_resuming_it_first():
    m = Manager()
    exp, carried_on = paused_in_checkpoint(m)
    m.shutdown(wait=True, abort_running=True, timeout=TIMEOUT)
    assert exp.status is ExpStatus.ABORTED
    assert "Aborted" in exp.traceback and not carried_on.is_set()
    assert m.paused and not m.worker.is_alive()


def test_shutdown_of_a_paused_idle_worker_ends_it_without_resuming():
    m = Manager()
    m.pause_worker()
    exp = m.queued_exec(ran_in_full)()
    m.shutdown(wait=True, timeout=TIMEOUT)
    assert not m.worker.is_alive()
    assert m.paused and exp.status is ExpStatus.CANCELLED


# -- a job paused at its checkpoint: PAUSED, its paused time left out --------------


def test_a_job_paused_in_checkpoint_is_paused_until_a_registered_event_ends_it_and_its_pause_is_left_out():
    m = Manager()
    interlock = threading.Event()
    m.abort_events = [interlock]
    try:
        exp, carried_on = paused_in_checkpoint(m)
        assert exp.paused and m.state is WorkerState.PAUSED
        threading.Thread(target=interlock.set).start()  # the driver, on its own thread
        assert wait_for_end(exp) is ExpStatus.ABORTED and not carried_on.is_set()
        assert not exp.paused and exp.paused_seconds > 0
        assert exp.duration == pytest.approx(exp.finished_at - exp.started_at - exp.paused_seconds)
        assert m.paused  # the abort ended the wait; it resumed nothing
    finally:
        m.shutdown(timeout=TIMEOUT)


def test_force_abort_ends_a_job_paused_in_checkpoint_without_resuming():
    m = Manager()
    try:
        exp, carried_on = paused_in_checkpoint(m)
        m.force_abort()
        assert wait_for_end(exp) is ExpStatus.ABORTED and not carried_on.is_set()
        assert not exp.paused and m.paused
    finally:
        m.shutdown(timeout=TIMEOUT)


def test_shutdown_keeps_a_job_paused_in_checkpoint_paused_and_its_paused_time_counted():
    m = Manager()
    exp, carried_on = paused_in_checkpoint(m)
    m.shutdown(wait=False, abort_running=False)
    assert exp.paused and not carried_on.is_set() and m.state is WorkerState.STOPPED
    assert m.abort_job()
    assert wait_for_end(exp) is ExpStatus.ABORTED and not carried_on.is_set()
    assert not exp.paused and exp.paused_seconds > 0


# -- no user code under internal locks ---------------------------------------------


def test_a_state_slot_that_waits_for_idle_does_not_deadlock_the_abort(manager):
    started = threading.Event()

    def job():
        started.set()
        manager.abort.wait(TIMEOUT)

    exp = manager.queued_exec(job)()
    assert started.wait(TIMEOUT)
    became_idle = []

    def on_state(state):
        if state is WorkerState.ABORTING:
            became_idle.append(manager.wait_until_idle(TIMEOUT))

    manager.state_changed_signal.connect(on_state)
    assert manager.abort_job()
    assert became_idle == [True]
    assert exp.status is ExpStatus.ABORTED


# -- own abort events --------------------------------------------------------------


def test_a_registered_event_set_by_a_driver_wakes_a_job_paused_in_checkpoint():
    m = Manager()
    interlock = threading.Event()
    m.abort_events = [interlock]
    try:
        exp, carried_on = paused_in_checkpoint(m)
        threading.Thread(target=interlock.set).start()  # the driver, on its own thread
        assert wait_for_end(exp) is ExpStatus.ABORTED and not carried_on.is_set()
        assert not interlock.is_set()
    finally:
        m.abort_job()
        m.shutdown(timeout=TIMEOUT)


def test_an_event_registered_inside_a_job_is_cleared_when_it_ends(manager):
    registered = threading.Event()

    def job():
        manager.abort_events = [*manager.abort_events, registered]
        registered.set()  # the job's own driver gives up
        return "partial"

    exp = manager.queued_exec(job)()
    assert wait_for_end(exp) is ExpStatus.ABORTED
    assert not registered.is_set()
    assert manager.queued_exec(ran_in_full)().result(timeout=TIMEOUT) == "ran in full"


# -- an error during an abort ------------------------------------------------------


def test_an_error_while_stopping_is_logged_with_its_traceback_and_it_stays_aborted(manager, labqueue_log):
    errors = labqueue_log(lambda r: r.levelno >= logging.ERROR)
    started = threading.Event()

    def job():
        started.set()
        try:
            while True:
                checkpoint()
                manager.abort.wait(TIMEOUT)
        except Aborted:
            raise OSError("magnet controller does not answer") from None

    exp = manager.queued_exec(job)()
    assert started.wait(TIMEOUT)
    assert manager.abort_job()
    assert wait_for_end(exp) is ExpStatus.ABORTED
    assert isinstance(exp.exception().__cause__, OSError)
    assert "OSError: magnet controller does not answer" in exp.traceback
    assert errors.arrived.wait(TIMEOUT)
    (record,) = errors.records
    logged = logging.Formatter().format(record)
    assert exp.title in logged and "OSError: magnet controller does not answer" in logged
    assert "Traceback" in logged and "in job" in logged
    assert not manager.paused  # it was aborted, not a failure


# -- escalation for jobs that never check ------------------------------------------


def busy_until(stop: threading.Event, started: threading.Event):
    """A pure-Python loop that never calls checkpoint() and never looks at an abort event."""
    started.set()
    turns = 0
    while not stop.is_set():
        turns += 1
    return turns


def test_a_job_that_never_checks_is_aborted_by_force_after_the_grace_period(labqueue_log):
    warnings = labqueue_log(lambda r: r.levelno == logging.WARNING and "by force" in r.getMessage())
    m = Manager(abort_grace_seconds=0.05)
    stop, started = threading.Event(), threading.Event()
    try:
        exp = m.queued_exec(busy_until)(stop, started)
        assert started.wait(TIMEOUT)
        assert m.abort_job()
        assert m.state is WorkerState.ABORTING
        assert wait_for_end(exp) is ExpStatus.ABORTED
        assert "Aborted" in exp.traceback and "in busy_until" in exp.traceback
        assert warnings.arrived.wait(TIMEOUT)
        assert m.queued_exec(ran_in_full)().result(timeout=TIMEOUT) == "ran in full"
    finally:
        stop.set()
        m.shutdown(timeout=TIMEOUT)


def test_force_abort_stops_a_busy_job_at_once():
    m = Manager(abort_grace_seconds=3600)
    stop, started = threading.Event(), threading.Event()
    try:
        assert not m.force_abort()  # nothing running
        exp = m.queued_exec(busy_until)(stop, started)
        assert started.wait(TIMEOUT)
        assert m.abort_job()
        assert m.state is WorkerState.ABORTING  # the window offers "Force abort" now
        assert m.force_abort()
        assert wait_for_end(exp) is ExpStatus.ABORTED and "Aborted" in exp.traceback
        assert m.worker.is_alive()
    finally:
        stop.set()
        m.shutdown(timeout=TIMEOUT)


def test_a_job_stuck_in_a_c_call_gets_a_warning_pointing_to_the_isolated_lane(labqueue_log):
    stuck_warning = labqueue_log(lambda r: "isolate=True" in r.getMessage())
    m = Manager(abort_grace_seconds=0.05)
    instrument = threading.Lock()
    instrument.acquire()
    started = threading.Event()

    def read_forever():
        started.set()
        instrument.acquire()  # a C call: Python cannot raise anything inside it
        return "late reading"

    try:
        exp = m.queued_exec(read_forever)()
        assert started.wait(TIMEOUT)
        assert m.abort_job()
        assert stuck_warning.arrived.wait(TIMEOUT)
        (record,) = stuck_warning.records
        assert record.levelno == logging.WARNING and exp.title in record.getMessage()
        assert exp.status is ExpStatus.RUNNING and m.state is WorkerState.ABORTING
    finally:
        instrument.release()
    assert wait_for_end(exp) is ExpStatus.ABORTED
    m.shutdown(timeout=TIMEOUT)


def test_forced_aborts_never_land_in_the_worker_between_jobs():
    # Many short busy jobs and force_abort() from another thread all the while: an
    # exception raised late must hit a job or nothing, never the worker itself.
    m = Manager(abort_grace_seconds=3600, pause_on_failure=False)
    stop, started = threading.Event(), threading.Event()
    stop.set()  # every job returns after one look at the event
    exps = [m.queued_exec(busy_until)(stop, started) for _ in range(300)]
    forcing = threading.Event()

    def force_all_the_time():
        while not forcing.is_set():
            m.force_abort()

    forcer = threading.Thread(target=force_all_the_time)
    forcer.start()
    try:
        assert not futures.wait(exps, timeout=TIMEOUT).not_done
    finally:
        forcing.set()
        forcer.join(TIMEOUT)
    assert {exp.status for exp in exps} <= {ExpStatus.FINISHED, ExpStatus.ABORTED}
    assert m.worker.is_alive()
    assert m.queued_exec(ran_in_full)().result(timeout=TIMEOUT) == "ran in full"
    m.shutdown(timeout=TIMEOUT)


# -- cleanups: a safe state after an abort -------------------------------------------


class Calls:
    """Records each call with the experiment and the status it had then."""

    def __init__(self):
        self.seen = []

    def __call__(self, exp):
        self.seen.append((exp, exp.status))


def test_cleanups_run_after_abort_failure_and_forced_abort_but_not_after_success():
    m = Manager(pause_on_failure=False, abort_grace_seconds=3600)
    own, every = Calls(), Calls()
    assert m.on_abort(every) is every

    @m.queued_exec(cleanup=own)
    def fails():
        raise ValueError("no signal")

    @m.queued_exec
    def fine():
        return 1

    started = threading.Event()

    def waits_for_abort():
        started.set()
        m.abort.wait(TIMEOUT)

    stop, busy = threading.Event(), threading.Event()
    try:
        finished = fine()
        failed = fails()
        aborted = Experiment(waits_for_abort, cleanup=own)
        m.job_queue.put(aborted)
        assert started.wait(TIMEOUT) and m.abort_job()
        forced = m.queued_exec(busy_until, cleanup=own)(stop, busy)
        assert busy.wait(TIMEOUT) and m.force_abort()
        assert forced.exception(timeout=TIMEOUT) is not None
        assert m.wait_until_idle(TIMEOUT)
        assert finished.result() == 1
        ended = [failed, aborted, forced]
        assert [e.status for e in ended] == [ExpStatus.FAILED, ExpStatus.ABORTED, ExpStatus.ABORTED]
        # Before the outcome is recorded, so a crash meanwhile brings it back INTERRUPTED.
        assert own.seen == [(e, ExpStatus.RUNNING) for e in ended]
        assert every.seen == own.seen
    finally:
        stop.set()
        m.shutdown(timeout=TIMEOUT)


def test_a_cleanup_finishes_before_the_outcome_is_announced_and_the_next_job_starts(manager):
    order = []
    manager.on_abort(lambda exp: order.append("cleanup"))
    manager.pause_on_failure = False
    broken = manager.queued_exec(lambda: 1 / 0)()
    broken.add_done_callback(lambda exp: order.append("done"))
    manager.queued_exec(lambda: order.append("next job"))().result(timeout=TIMEOUT)
    assert order == ["cleanup", "done", "next job"]


def test_errors_in_cleanups_are_logged_and_never_stop_the_worker(manager, labqueue_log):
    errors = labqueue_log(lambda r: r.levelno >= logging.ERROR and "cleanup" in r.getMessage())
    manager.pause_on_failure = False
    ran = []

    def broken_cleanup(exp):
        raise OSError("power supply offline")

    def exits(exp):
        raise SystemExit(3)

    manager.on_abort(exits)
    manager.on_abort(ran.append)
    exp = manager.queued_exec(lambda: 1 / 0, cleanup=broken_cleanup)()
    with pytest.raises(ZeroDivisionError):
        exp.result(timeout=TIMEOUT)
    assert ran == [exp]  # one raising cleanup does not skip the others
    assert manager.queued_exec(ran_in_full)().result(timeout=TIMEOUT) == "ran in full"
    assert manager.worker.is_alive()
    assert errors.arrived.wait(TIMEOUT)
    logged = [logging.Formatter().format(r) for r in errors.records]
    assert any("OSError: power supply offline" in text and "broken_cleanup" in text for text in logged)
    assert any("SystemExit: 3" in text for text in logged)


def test_shutdown_with_a_running_job_runs_its_cleanup_before_it_returns():
    m = Manager()
    cleaned = Calls()
    started = threading.Event()

    def job():
        started.set()
        m.abort.wait(TIMEOUT)

    exp = m.queued_exec(job, cleanup=cleaned)()
    assert started.wait(TIMEOUT)
    m.shutdown(wait=True, timeout=TIMEOUT)
    assert cleaned.seen == [(exp, ExpStatus.RUNNING)]
    assert exp.status is ExpStatus.ABORTED


def test_queued_exec_takes_cleanup_with_and_without_arguments(manager):
    cleaned = Calls()

    def measure(x):
        raise RuntimeError(x)

    plain = manager.queued_exec(measure)
    with_cleanup = manager.queued_exec(cleanup=cleaned)(measure)
    called = manager.queued_exec(measure, cleanup=cleaned)
    assert plain.__name__ == with_cleanup.__name__ == called.__name__ == "measure"
    manager.pause_on_failure = False
    exps = [plain(1), with_cleanup(2), called(3)]
    for exp in exps:
        exp.exception(timeout=TIMEOUT)
    assert [e for e, _ in cleaned.seen] == exps[1:]
    assert exps[0].cleanup is None and exps[1].cleanup is cleaned
    with pytest.raises(TypeError, match="cleanup must be callable"):
        manager.queued_exec(measure, cleanup="ramp down")
    with pytest.raises(TypeError, match="cleanup must be callable"):
        Experiment(measure, cleanup=42)


def test_a_requeued_experiment_keeps_its_cleanup(manager):
    cleaned = Calls()
    manager.pause_on_failure = False
    first = manager.queued_exec(lambda: 1 / 0, cleanup=cleaned)()
    first.exception(timeout=TIMEOUT)
    again = manager.job_queue.requeue(first)
    again.exception(timeout=TIMEOUT)
    assert again.cleanup is cleaned
    assert [e for e, _ in cleaned.seen] == [first, again]


def test_an_abort_once_the_call_has_returned_is_refused_and_changes_nothing(manager):
    manager.pause_on_failure = False
    answers = []
    exp = manager.queued_exec(lambda: 1 / 0, cleanup=lambda e: answers.append(manager.abort_job()))()
    assert wait_for_end(exp) is ExpStatus.FAILED  # its outcome was decided before the cleanup ran
    assert answers == [False] and not manager.abort.is_set()


def test_after_a_forced_abort_a_traced_thread_still_runs():
    """Dropping a forced abort that had fired already left CPython's "asynchronous
    exception pending" flag set for good: a traced frame (debugpy's, which the console
    imports) then ran one line for ever, and the console never loaded."""
    stop, started = threading.Event(), threading.Event()
    manager = Manager(abort_grace_seconds=3600)
    exp = manager.queued_exec(busy_until)(stop, started)
    try:
        assert started.wait(TIMEOUT) and manager.force_abort()
        assert wait_for_end(exp) is ExpStatus.ABORTED
    finally:
        stop.set()
        manager.shutdown(timeout=TIMEOUT)

    def lines_after_dropping_the_trace() -> int:  # what debugpy checks as it is imported
        sys._getframe().f_trace = None
        line = 1
        line += 1
        return line

    def traced_lines() -> None:
        sys.settrace(lambda *_: None)
        try:
            lines_after_dropping_the_trace()  # a frame made while tracing: traced
        finally:
            sys.settrace(None)

    probe = threading.Thread(target=traced_lines, daemon=True)
    probe.start()
    probe.join(TIMEOUT)
    assert not probe.is_alive(), "a traced thread is stuck after the forced abort"
