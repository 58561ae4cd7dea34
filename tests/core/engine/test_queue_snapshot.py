"""ExperimentQueue.snapshot(): the queue and the sizes of its parts, taken together."""

from labqueue import Experiment, ExperimentQueue, ExpStatus


def _noop() -> None:
    return None


def test_snapshot_reports_history_running_and_queued_parts():
    queue = ExperimentQueue()
    first, second, third = (Experiment(_noop) for _ in range(3))
    queue.put_many([first, second, third])
    queue.get_next_job()
    queue.job_done(ExpStatus.FINISHED)
    queue.get_next_job()

    snap = queue.snapshot()

    assert snap.experiments == [first, second, third]
    assert snap.ended_size == 1
    assert snap.running is second
    assert snap.first_queued == 2


def test_snapshot_of_an_idle_queue_has_no_running_part():
    queue = ExperimentQueue()
    exp = Experiment(_noop)
    queue.put(exp)

    snap = queue.snapshot()

    assert (snap.ended_size, snap.running, snap.first_queued) == (0, None, 0)
