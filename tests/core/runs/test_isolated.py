"""Isolated calls: a Python call in a fresh process, relayed live, killable like a command."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

from labqueue import Experiment, ExpStatus, checkpoint, plot_axes, publish, set_progress
from labqueue.core.runs import IsolatedCallFailed


def where_and_twice(x):
    logging.getLogger("labqueue.test.isolated").warning("computing %s", x)
    set_progress(0.5, "half way")
    publish("signal", 1, x, x_label="step", units="V")
    checkpoint()
    return os.getpid(), 2 * x


def fails():
    raise KeyError("no such sample")


def tell_then(fifo, then):
    with open(fifo, "w") as f:
        f.write(f"{os.getpid()} 0\n")
    if then == "checkpoints":
        while True:
            checkpoint()
            threading.Event().wait(0.01)  # the child's own pace, not the test's
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        signal.pause()  # stuck, deaf to SIGTERM: only SIGKILL ends it


def test_an_isolated_call_runs_in_another_process_and_relays_what_it_reports(open_manager):
    manager = open_manager(data_dir=None)
    progress, data = [], []
    manager.progress_signal.connect(lambda exp, fraction, message: progress.append((exp, fraction, message)))
    manager.data_signal.connect(lambda exp, series, x, y: data.append((exp, series, x, y)))

    @manager.queued_exec(isolate=True)
    @plot_axes("signal", y_label="voltage", units=("mV", "mV"))  # declared in the parent
    def measure(x):
        return where_and_twice(x)

    exp = measure(21)
    pid, value = exp.result(timeout=60)
    assert value == 42 and pid != os.getpid()
    assert exp.lane == "process" and exp.status is ExpStatus.FINISHED
    assert progress == [(exp, 0.5, "half way")] and exp.progress == (0.5, "half way")
    assert data == [(exp, "signal", 1, 21)]
    kept = exp.published.series["signal"]  # kept with the experiment, labels too, as in-process
    assert list(kept.y) == [21.0] and kept.x_label == "step" and kept.y_units == "V"
    assert (kept.y_label, kept.x_units) == ("voltage", "mV")  # the function's own labels, under publish's
    assert any("computing 21" in line for line in exp.log_lines())


def test_the_calls_exception_comes_back_with_its_traceback(open_manager):
    manager = open_manager(data_dir=None, pause_on_failure=False)
    exp = Experiment(fails, isolate=True)
    manager.job_queue.put(exp)
    with pytest.raises(KeyError, match="no such sample"):
        exp.result(timeout=60)
    assert exp.status is ExpStatus.FAILED
    assert "in fails" in exp.traceback and "KeyError" in exp.traceback


def test_a_call_that_cannot_be_pickled_fails_clearly(open_manager):
    manager = open_manager(data_dir=None, pause_on_failure=False)
    lock = threading.Lock()
    exp = Experiment(lambda: lock, isolate=True)
    manager.job_queue.put(exp)
    with pytest.raises(IsolatedCallFailed, match="cannot be sent to a process of its own"):
        exp.result(timeout=60)


def test_abort_reaches_a_checkpoint_in_the_isolated_process(open_manager, pipe):
    manager = open_manager(data_dir=None, kill_grace=60)  # long: the checkpoint, not SIGKILL, ends it
    exp = Experiment(tell_then, (str(pipe.path), "checkpoints"), isolate=True)
    manager.job_queue.put(exp)
    pipe.pids()
    started = time.monotonic()
    manager.abort_experiment(exp)
    exp.exception(timeout=30)
    assert exp.status is ExpStatus.ABORTED
    assert time.monotonic() - started < 30


def test_abort_kills_an_isolated_call_stuck_where_no_checkpoint_comes(open_manager, pipe):
    grace = 0.5
    manager = open_manager(data_dir=None, kill_grace=grace)
    exp = Experiment(tell_then, (str(pipe.path), "stuck"), isolate=True)
    manager.job_queue.put(exp)
    pipe.pids()
    started = time.monotonic()
    manager.abort_experiment(exp)
    exp.exception(timeout=grace + 1)
    assert time.monotonic() - started <= grace + 1
    assert exp.status is ExpStatus.ABORTED


def test_an_isolated_experiment_keeps_its_lane_through_a_restart(open_manager):
    first = open_manager(start=False)
    exp = Experiment(where_and_twice, (5,), isolate=True)
    first.job_queue.put(exp)
    first.shutdown()
    second = open_manager()
    [restored] = second.job_queue.queued
    assert restored.lane == "process"
    second.resume_worker()
    assert restored.result(timeout=60)[1] == 10
