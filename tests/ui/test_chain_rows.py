"""The queue's rows say what a queued step waits for and why a step was cancelled."""

from labqueue import Experiment, Manager
from labqueue.ui.display_text import outcome_text


def double(x):
    return 2 * x


def test_the_row_says_what_a_queued_step_waits_for():
    manager = Manager()
    manager.pause_worker()
    try:
        upstream = Experiment(double, (1,))
        manager.job_queue.put(upstream)
        downstream = upstream.then(double)
        assert outcome_text(downstream) == "waiting for double(x=1)"
        upstream.cancel()
        assert outcome_text(downstream) == "Cancelled: upstream double(x=1) was cancelled"
    finally:
        manager.shutdown()


def test_the_row_says_who_must_act_when_the_upstream_is_on_no_queue():
    manager = Manager()
    try:
        never_queued = Experiment(double, (1,))
        downstream = Experiment(double, (2,), after=[never_queued])
        manager.job_queue.put(downstream)
        assert outcome_text(downstream) == "waiting for double(x=1); double(x=1) is on no queue: put it on one"
    finally:
        manager.shutdown()
