"""The pieces of the headless report: experiment lines, the time left and its format."""

from __future__ import annotations

import time

import pytest

from labqueue import Experiment, ExpStatus
from labqueue.app.run_report import DurationEstimates, experiment_line, format_seconds


def sweep(points):
    return points


def ramp(kelvin):
    return kelvin


def ended(func, seconds: float, status: ExpStatus = ExpStatus.FINISHED, result=None) -> Experiment:
    exp = Experiment(func, (1,))
    exp.set_running_or_notify_cancel()
    exp.started_at, exp.finished_at = 1000.0, 1000.0 + seconds
    exp._complete(status, result, RuntimeError("no lock-in") if status is ExpStatus.FAILED else None)
    return exp


def test_the_time_left_is_the_mean_duration_of_finished_runs_of_each_function():
    estimates = DurationEstimates([ended(sweep, 2.0), ended(sweep, 4.0), ended(sweep, 60.0, ExpStatus.FAILED)])
    assert estimates.estimate("sweep") == 3.0  # the failed run says nothing of how long one takes
    assert estimates.estimate("ramp") is None

    running = Experiment(sweep, (1,))
    running.set_running_or_notify_cancel()
    running.started_at = time.time() - 1.0
    queued = [Experiment(sweep, (i,)) for i in range(2)] + [Experiment(ramp, (4,))]
    seconds, unknown = estimates.time_left(running, queued)
    assert seconds == pytest.approx(2.0 + 2 * 3.0, abs=0.5)  # what is left of the running one, then two more
    assert unknown == 1  # ramp never finished yet

    estimates.add(ended(ramp, 10.0))
    assert estimates.time_left(None, queued) == (16.0, 0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "0 s"), (59.4, "59 s"), (61, "1 min 01 s"), (3599, "59 min 59 s"), (7260, "2 h 01 min")],
)
def test_times_left_are_shown_to_the_second_at_best(seconds, text):
    assert format_seconds(seconds) == text


def test_an_experiment_line_gives_status_duration_title_and_outcome():
    assert experiment_line(ended(sweep, 1.5, result=[1, 2])) == "FINISHED        1.50 s  sweep(points=1)  -> [1, 2]"
    assert experiment_line(ended(ramp, 0.25, ExpStatus.FAILED)) == (
        "FAILED          0.25 s  ramp(kelvin=1)  !! RuntimeError: no lock-in"
    )
    queued = Experiment(sweep, (3,))
    assert experiment_line(queued, left_queued=True, earlier=True) == (
        "QUEUED             -    sweep(points=3)  (not run; it stays queued in the journal)  [queued by an earlier run]"
    )
