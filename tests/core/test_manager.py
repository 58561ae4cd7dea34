"""Manager and Worker with a real worker thread: outcomes, pause, abort, checkpoint."""

import logging
import threading
import time
from concurrent.futures import CancelledError, ThreadPoolExecutor

import pytest

from labqueue import Aborted, Experiment, ExpStatus, Manager, WorkerState, checkpoint, plot_axes, publish, set_progress

TIMEOUT = 10


class Gate:
    """A job that signals when it starts and returns only when released."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, value=None):
        self.started.set()
        assert self.release.wait(TIMEOUT), "gate never released"
        return value


# -- the seed's own examples, adapted to our imports ---------------------------------


def test_seed_example_decorated_function(manager):
    @manager.queued_exec
    def decorated_test_func(*args):
        for _ in range(3):
            if manager.abort.is_set():
                break
        return args

    exp = decorated_test_func("test succeeded")
    res1 = manager.result_queue.get(timeout=TIMEOUT)
    res2 = exp.result(timeout=TIMEOUT)
    assert res1 == ("test succeeded",)
    assert res1 is res2


def test_seed_example_manual_experiment(manager):
    def stand_alone_test_func(*args):
        return args

    exp = Experiment(stand_alone_test_func, args=["test succeeded"], kwargs={})
    manager.job_queue.put(exp)
    assert exp.result(timeout=TIMEOUT) == ("test succeeded",)


def test_seed_example_registered_abort_event(manager):
    abort_event = threading.Event()
    manager.abort_events = [abort_event]
    gate = Gate()

    def long_job():
        gate.started.set()
        assert abort_event.wait(TIMEOUT)
        return "stopped early"

    exp = manager.queued_exec(long_job)()
    assert gate.started.wait(TIMEOUT)
    assert manager.abort_job()
    with pytest.raises(CancelledError):  # as in the seed: an aborted experiment has no result
        exp.result(timeout=TIMEOUT)
    assert exp.partial_result == "stopped early"
    assert exp.status is ExpStatus.ABORTED
    assert not abort_event.is_set() and not manager.abort.is_set()


# -- outcomes ------------------------------------------------------------------------


def test_queued_exec_rejects_non_callables_at_decoration(manager):
    with pytest.raises(TypeError, match="needs a callable"):
        manager.queued_exec("not a function")


def test_queued_exec_keeps_the_function_name_and_doc(manager):
    def measure_field():
        """Measure the field."""

    wrapped = manager.queued_exec(measure_field)
    assert wrapped.__name__ == "measure_field" and wrapped.__doc__ == "Measure the field."


def test_failure_is_recorded_with_traceback_and_pauses_the_queue(manager):
    def broken():
        raise ValueError("probe failed")

    exp = manager.queued_exec(broken)()
    after = manager.queued_exec(lambda: "after")()
    with pytest.raises(ValueError, match="probe failed"):
        exp.result(timeout=TIMEOUT)
    assert exp.status is ExpStatus.FAILED
    assert "ValueError: probe failed" in exp.traceback and "in broken" in exp.traceback
    assert manager.wait_until_idle(TIMEOUT)
    assert manager.paused and after.status is ExpStatus.QUEUED
    manager.resume_worker()
    assert after.result(timeout=TIMEOUT) == "after"


def test_pause_on_failure_can_be_turned_off():
    with Manager(pause_on_failure=False) as m:
        bad = m.queued_exec(lambda: 1 / 0)()
        good = m.queued_exec(lambda: "ok")()
        assert good.result(timeout=TIMEOUT) == "ok"
        assert bad.status is ExpStatus.FAILED and not m.paused


@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt, GeneratorExit, MemoryError])
def test_worker_survives_every_exception(exc_type):
    with Manager(pause_on_failure=False) as m:
        bad = m.queued_exec(lambda: (_ for _ in ()).throw(exc_type("x")))()
        good = m.queued_exec(lambda: "still alive")()
        assert good.result(timeout=TIMEOUT) == "still alive"
        assert bad.status is ExpStatus.FAILED
        assert m.worker.is_alive()


def test_none_results_do_not_go_to_the_result_queue(manager):
    manager.queued_exec(lambda: None)().result(timeout=TIMEOUT)
    manager.queued_exec(lambda: 5)().result(timeout=TIMEOUT)
    assert manager.result_queue.get(timeout=TIMEOUT) == 5
    assert manager.result_queue.empty()


def test_log_records_emitted_during_the_run_are_captured(manager):
    log = logging.getLogger("labqueue.test.instrument")
    log.setLevel(logging.INFO)

    def talkative():
        log.info("field at %s mT", 340)
        log.warning("temperature drift")
        return 1

    exp = manager.queued_exec(talkative)()
    exp.result(timeout=TIMEOUT)
    messages = [r.getMessage() for r in exp.log_records]
    assert messages == ["field at 340 mT", "temperature drift"]
    assert "WARNING" in exp.log_lines()[1]
    log.info("outside any job")
    assert len(exp.log_records) == 2


def test_timestamps_and_duration(manager):
    gate = Gate()
    exp = manager.queued_exec(gate)()
    assert gate.started.wait(TIMEOUT)
    assert exp.running() and exp.duration is not None
    gate.release.set()
    exp.result(timeout=TIMEOUT)
    assert exp.queued_at <= exp.started_at <= exp.finished_at
    assert exp.duration == pytest.approx(exp.finished_at - exp.started_at)


# -- pause, resume, abort ------------------------------------------------------------


def test_pause_takes_effect_between_jobs(manager):
    gate = Gate()
    first = manager.queued_exec(gate)(1)
    second = manager.queued_exec(lambda: 2)()
    assert gate.started.wait(TIMEOUT)
    manager.pause_worker()
    assert manager.state is WorkerState.RUNNING  # the running job is not interrupted
    gate.release.set()
    assert first.result(timeout=TIMEOUT) == 1
    assert manager.wait_until_idle(TIMEOUT)
    assert second.status is ExpStatus.QUEUED and manager.state is WorkerState.PAUSED
    manager.resume_worker()
    assert second.result(timeout=TIMEOUT) == 2


def test_wait_until_idle_returns_once_the_last_job_ended_however_the_queue_emptied(manager):
    gate = Gate()
    first = manager.queued_exec(gate)(1)
    assert gate.started.wait(TIMEOUT)
    second = manager.queued_exec(lambda: 2)()
    cancelled = manager.queued_exec(lambda: 3)()
    with ThreadPoolExecutor(max_workers=1) as pool:
        idle = pool.submit(manager.wait_until_idle, TIMEOUT)
        assert cancelled.cancel()
        assert not idle.done()  # first still runs, second waits
        gate.release.set()
        assert idle.result(TIMEOUT) is True
    assert (first.result(0), second.result(0), cancelled.status) == (1, 2, ExpStatus.CANCELLED)


def test_paused_worker_does_not_start_new_puts(manager):
    manager.pause_worker()
    exp = manager.queued_exec(lambda: 1)()
    assert manager.wait_until_idle(TIMEOUT)
    assert exp.status is ExpStatus.QUEUED
    manager.running.set()  # the CustomXepr way of resuming works too
    assert exp.result(timeout=TIMEOUT) == 1


def test_abort_only_affects_the_running_job_and_never_leaks(manager):
    def stubborn():
        started.set()
        manager.abort.wait(TIMEOUT)
        raise RuntimeError("gave up after abort")

    started = threading.Event()
    aborted = manager.queued_exec(stubborn)()
    following = manager.queued_exec(lambda: manager.abort.is_set())()
    assert started.wait(TIMEOUT)
    assert manager.abort_job()
    with pytest.raises(CancelledError):
        aborted.result(timeout=TIMEOUT)
    assert aborted.status is ExpStatus.ABORTED
    assert "gave up after abort" in aborted.traceback
    assert following.result(timeout=TIMEOUT) is False
    assert following.status is ExpStatus.FINISHED
    assert not manager.paused  # aborting is not a failure


def test_abort_with_nothing_running_does_nothing(manager):
    assert not manager.abort_job()
    assert not manager.abort.is_set()
    assert manager.queued_exec(lambda: "fine")().result(timeout=TIMEOUT) == "fine"


def test_abort_flag_is_cleared_after_a_failure_too(manager):
    def fail_after_abort():
        started.set()
        manager.abort.wait(TIMEOUT)
        raise ValueError("x")

    started = threading.Event()
    exp = manager.queued_exec(fail_after_abort)()
    assert started.wait(TIMEOUT)
    manager.abort_job()
    with pytest.raises(CancelledError):
        exp.result(timeout=TIMEOUT)
    assert not manager.abort.is_set()


def test_checkpoint_raises_aborted_on_abort(manager):
    started = threading.Event()

    def cooperative():
        started.set()
        while True:
            checkpoint()
            manager.abort.wait(0.01)

    exp = manager.queued_exec(cooperative)()
    assert started.wait(TIMEOUT)
    manager.abort_job()
    with pytest.raises(CancelledError):
        exp.result(timeout=TIMEOUT)
    assert exp.status is ExpStatus.ABORTED
    assert "Aborted" in exp.traceback


def test_checkpoint_waits_while_paused_and_abort_ends_the_wait(manager):
    hold = Gate()

    def paused_inside():
        hold()
        manager.checkpoint()
        return "after checkpoint"

    second = manager.queued_exec(paused_inside)()
    assert hold.started.wait(TIMEOUT)
    manager.pause_worker()
    hold.release.set()
    assert manager.wait_until_idle(timeout=0.05) is False  # stuck in checkpoint while paused
    assert second.running()
    manager.resume_worker()
    assert second.result(timeout=TIMEOUT) == "after checkpoint"

    third_hold = Gate()

    def paused_then_aborted():
        third_hold()
        manager.checkpoint()

    third = manager.queued_exec(paused_then_aborted)()
    assert third_hold.started.wait(TIMEOUT)
    manager.pause_worker()
    third_hold.release.set()
    manager.abort_job()
    with pytest.raises(CancelledError):
        third.result(timeout=TIMEOUT)
    assert third.status is ExpStatus.ABORTED


def test_a_job_waiting_in_checkpoint_is_paused_and_its_paused_time_is_not_run_time(manager):
    hold = Gate()
    states = []
    reached_pause = threading.Event()

    def on_state(state):
        states.append(state)
        if state is WorkerState.PAUSED:
            reached_pause.set()

    manager.state_changed_signal.connect(on_state)

    def paused_inside():
        hold()
        manager.checkpoint()
        return "after checkpoint"

    exp = manager.queued_exec(paused_inside)()
    assert hold.started.wait(TIMEOUT)
    assert not exp.paused and manager.state is WorkerState.RUNNING
    manager.pause_worker()
    assert not exp.paused and manager.state is WorkerState.RUNNING  # until it reaches its checkpoint
    hold.release.set()
    assert reached_pause.wait(TIMEOUT)
    assert exp.paused and exp.status is ExpStatus.RUNNING
    assert manager.state is WorkerState.PAUSED and states[-1] is WorkerState.PAUSED

    manager.resume_worker()
    assert exp.result(timeout=TIMEOUT) == "after checkpoint"
    assert not exp.paused and exp.paused_seconds > 0
    assert WorkerState.RUNNING in states[states.index(WorkerState.PAUSED) :]
    assert exp.duration == pytest.approx(exp.finished_at - exp.started_at - exp.paused_seconds)


def test_pause_after_the_current_job_lets_it_finish_and_starts_no_other(manager):
    hold = Gate()

    def with_checkpoints():
        hold()
        for _ in range(3):
            manager.checkpoint()  # does not wait: this job may finish
        return "finished"

    exp = manager.queued_exec(with_checkpoints)()
    following = manager.queued_exec(lambda: "next")()
    assert hold.started.wait(TIMEOUT)

    manager.pause_worker(after_current=True)
    assert manager.pausing_after_current and manager.state is WorkerState.RUNNING
    hold.release.set()

    assert exp.result(timeout=TIMEOUT) == "finished" and exp.paused_seconds == 0.0
    assert manager.wait_until_idle(TIMEOUT)
    assert following.status is ExpStatus.QUEUED and manager.state is WorkerState.PAUSED
    manager.resume_worker()
    assert not manager.pausing_after_current
    assert following.result(timeout=TIMEOUT) == "next"


def test_a_job_paused_at_its_checkpoint_is_let_go_by_pause_after_current(manager):
    hold = Gate()
    paused = threading.Event()
    manager.state_changed_signal.connect(lambda state: state is WorkerState.PAUSED and paused.set())

    def with_checkpoint():
        hold()
        manager.checkpoint()
        return "finished"

    exp = manager.queued_exec(with_checkpoint)()
    following = manager.queued_exec(lambda: "next")()
    assert hold.started.wait(TIMEOUT)
    manager.pause_worker()
    hold.release.set()
    assert paused.wait(TIMEOUT) and exp.paused

    manager.pause_worker(after_current=True)

    assert exp.result(timeout=TIMEOUT) == "finished"
    assert manager.wait_until_idle(TIMEOUT) and following.status is ExpStatus.QUEUED


def test_duration_leaves_out_the_time_paused():
    exp = Experiment(print)
    exp.started_at = 100.0
    exp._pause_began(110.0)
    assert exp.paused
    assert exp.duration == pytest.approx(10.0)  # frozen while paused, whatever the clock says
    exp._pause_ended(130.0)
    exp._pause_began(140.0)
    exp._pause_ended(145.0)
    exp.finished_at = 150.0
    assert not exp.paused and exp.paused_seconds == 25.0
    assert exp.duration == 25.0


def test_checkpoint_outside_a_job_is_a_no_op():
    checkpoint()
    set_progress(0.5, "nothing")
    publish("x", 1, 2)


def test_checkpoint_raises_aborted_class_directly_inside_job(manager):
    def job():
        manager.abort.set()
        try:
            manager.checkpoint()
        except Aborted:
            return "caught"

    exp = manager.queued_exec(job)()
    assert isinstance(exp.exception(timeout=TIMEOUT), CancelledError)
    assert exp.status is ExpStatus.ABORTED  # the abort flag was set when it returned
    assert exp.partial_result == "caught"


def test_progress_and_live_data_are_emitted_from_the_job(manager):
    progress, data = [], []
    manager.progress_signal.connect(lambda exp, fraction, message: progress.append((exp, fraction, message)))
    manager.data_signal.connect(lambda exp, series, x, y: data.append((exp, series, x, y)))

    def sweep():
        for i in range(3):
            publish("signal", i, i * i)
            set_progress((i + 1) / 3, f"point {i + 1}")
        set_progress(7, "clamped")

    exp = manager.queued_exec(sweep)()
    exp.result(timeout=TIMEOUT)
    assert [d[1:] for d in data] == [("signal", 0, 0), ("signal", 1, 1), ("signal", 2, 4)]
    assert all(d[0] is exp for d in data)
    assert progress[-1] == (exp, 1.0, "clamped")
    assert exp.progress == (1.0, "clamped")


def test_state_signal_follows_the_worker(manager):
    states = []
    manager.state_changed_signal.connect(states.append)
    gate = Gate()
    exp = manager.queued_exec(gate)()
    assert gate.started.wait(TIMEOUT)
    assert manager.state is WorkerState.RUNNING
    manager.abort_job()
    assert manager.state is WorkerState.ABORTING
    gate.release.set()
    assert isinstance(exp.exception(timeout=TIMEOUT), CancelledError)
    assert manager.wait_until_idle(TIMEOUT)
    manager.pause_worker()
    manager.resume_worker()
    assert states[:2] == [WorkerState.RUNNING, WorkerState.ABORTING]
    assert states[-2:] == [WorkerState.PAUSED, WorkerState.IDLE]


# -- independence, nesting, shutdown --------------------------------------------------


def test_two_managers_never_share_jobs():
    with Manager() as a, Manager() as b:
        a.pause_worker()
        exp = a.queued_exec(lambda: "a")()
        assert b.job_queue.qsize() == 0
        assert b.queued_exec(lambda: "b")().result(timeout=TIMEOUT) == "b"
        assert exp.status is ExpStatus.QUEUED
        assert a.running is not b.running and a.abort is not b.abort
        a.resume_worker()
        assert exp.result(timeout=TIMEOUT) == "a"


def test_shutdown_cancels_queued_and_aborts_running():
    m = Manager()
    gate = Gate()

    def running_job():
        gate.started.set()
        m.abort.wait(TIMEOUT)

    running = m.queued_exec(running_job)()
    queued = m.queued_exec(lambda: 1)()
    assert gate.started.wait(TIMEOUT)
    m.shutdown(wait=True, timeout=TIMEOUT)
    assert running.status is ExpStatus.ABORTED
    with pytest.raises(CancelledError):
        queued.result(timeout=TIMEOUT)
    assert m.state is WorkerState.STOPPED and not m.worker.is_alive()
    with pytest.raises(RuntimeError, match="cannot queue: the manager was shut down"):
        m.queued_exec(lambda: 2)()


def test_a_state_slot_may_call_abort_job_without_deadlock(manager):
    gate = Gate()
    exp = manager.queued_exec(gate)()
    assert gate.started.wait(TIMEOUT)
    calls = []

    def on_state(state):
        if state is WorkerState.ABORTING:
            calls.append(manager.abort_job())  # re-entrant: from inside the abort itself

    manager.state_changed_signal.connect(on_state)
    assert manager.abort_job()
    gate.release.set()
    exp.exception(timeout=TIMEOUT)
    assert exp.status is ExpStatus.ABORTED and calls == [True]


def test_context_manager_waits_for_the_queue():
    with Manager() as m:
        exps = [m.queued_exec(lambda i=i: i)() for i in range(20)]
    assert [e.result(timeout=0) for e in exps] == list(range(20))


def test_job_put_on_idle_worker_starts_promptly(manager):
    started = threading.Event()
    manager.queued_exec(lambda: None)().result(timeout=TIMEOUT)
    before = time.perf_counter()
    manager.queued_exec(started.set)()
    assert started.wait(TIMEOUT)
    # Not a timing assertion on the machine's speed: a polling worker would need
    # its poll interval; this one wakes on the put itself.
    assert manager.worker.is_alive() and time.perf_counter() - before < TIMEOUT


def test_notification_settings(manager):
    manager.notify_address = "lab@example.org"
    assert manager.notify_address == ["lab@example.org"]
    manager.email_handler_level = "error"
    assert manager.email_handler_level == logging.ERROR
    with pytest.raises(ValueError, match="must be one of INFO, WARNING"):
        manager.email_handler_level = "LOUD"
    manager.email_handler_level = "off"
    assert manager.email_handler_level > logging.CRITICAL
    assert manager.log_file_dir.name in {"logs", "log", "labqueue"}


def test_core_names_are_exported():
    import labqueue
    import labqueue.core

    expected = {"Manager", "Experiment", "ExpStatus", "ExperimentQueue", "Worker", "checkpoint", "publish"}
    assert set(labqueue.__all__) >= expected
    assert set(labqueue.core.__all__) >= expected
    assert all(getattr(labqueue, name) is getattr(labqueue.core, name) for name in expected)


def test_decorated_functions_are_listed_by_name_and_a_redefinition_replaces(manager):
    @manager.queued_exec
    def measure(field):
        return field

    @manager.queued_exec
    def ramp(start_k, stop_k):
        return stop_k

    first = measure.__wrapped__

    @manager.queued_exec
    def measure(field, n=2):  # noqa: F811 (typed again in the console)
        return field * n

    assert list(manager.queued_functions) == [
        "test_decorated_functions_are_listed_by_name_and_a_redefinition_replaces.<locals>.measure",
        "test_decorated_functions_are_listed_by_name_and_a_redefinition_replaces.<locals>.ramp",
    ]
    assert list(manager.queued_functions.values())[0] is measure.__wrapped__ is not first
    with Manager() as other:
        assert other.queued_functions == {}  # each manager its own


def test_a_function_declares_its_axes_once_and_publish_labels_win(manager):
    @plot_axes("signal", x_label="field", y_label="lock-in X", units=("mT", "V"))
    @manager.queued_exec
    @plot_axes("reference", y_label="power", units="dBm")
    def scan():
        publish("signal", 1.0, 2.0)
        publish("reference", 1.0, -3.0, y_label="attenuated power")
        publish("other", 1.0, 1.0)

    exp = scan()
    exp.result(timeout=TIMEOUT)

    series = manager.published_data(exp).series
    labels = {name: (s.x_label, s.y_label, s.x_units, s.y_units) for name, s in series.items()}
    assert labels == {
        "signal": ("field", "lock-in X", "mT", "V"),
        "reference": (None, "attenuated power", None, "dBm"),
        "other": (None, None, None, None),
    }


def test_declared_axes_reach_a_plain_function_and_a_chained_one(manager):
    @plot_axes("trace", x_label="time", units=("s", "A"))
    def trace(offset=0.0):
        publish("trace", 0.0, offset)
        return offset

    plain = manager.queued_exec(trace)(1.0)
    chained = plain.then(trace)
    chained.result(timeout=TIMEOUT)
    for exp in (plain, chained):
        found = manager.published_data(exp).series["trace"]
        assert (found.x_label, found.x_units, found.y_units) == ("time", "s", "A")


def test_published_series_are_kept_with_the_experiment_with_their_labels(manager):
    def scan():
        for i in range(3):
            publish("signal", None, i * 1.5, x_label="point", y_label="lock-in X", units="V")
        publish("signal", [10, 11], [7.0, 8.0])
        publish("reference", 0.5, 2.0, units=("GHz", "V"))
        publish("broken", "left", "right")

    exp = manager.queued_exec(scan)()
    exp.result(timeout=TIMEOUT)

    data = manager.published_data(exp)
    signal = data.series["signal"]
    assert list(signal.x) == [0, 1, 2, 10, 11] and list(signal.y) == [0, 1.5, 3.0, 7.0, 8.0]
    assert (signal.x_label, signal.y_label, signal.x_units, signal.y_units) == ("point", "lock-in X", None, "V")
    assert data.series["reference"].x_units == "GHz" and len(data.series["broken"].y) == 0
    assert list(data.series) == ["signal", "reference", "broken"] and data.points == 6
