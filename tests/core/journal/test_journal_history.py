"""History queries (``Manager.history``, ``get``, ``purge``), with and without a journal."""

from __future__ import annotations

import datetime as dt

import pytest

from labqueue import Experiment, ExpStatus, Manager
from labqueue.core.journal import store as journal_module

from .journal_helpers import fail, restart, square


def _run_some(manager: Manager) -> list[Experiment]:
    """Three finished (one titled), one failed, one cancelled, in that order."""
    manager.pause_on_failure = False
    exps = [
        manager.queued_exec(square)(1),
        manager.queued_exec(fail)(2),
        manager.queued_exec(square)(3),
        Experiment(square, (4,), title="Calibration run"),
    ]
    manager.job_queue.put(exps[3])
    assert manager.wait_until_idle(timeout=10)
    manager.pause_worker()
    cancelled = manager.queued_exec(square)(5)
    cancelled.cancel()
    return [*exps, cancelled]


@pytest.fixture(params=["journal", "memory"])
def history_source(request, open_manager, tmp_path):
    """The same history, queried through a journal (after a restart) or in memory."""
    if request.param == "memory":
        manager = Manager()
        exps = _run_some(manager)
        yield manager, exps
        manager.shutdown()
    else:
        manager = open_manager()
        exps = _run_some(manager)
        yield restart(manager, open_manager), exps


def ids(exps) -> list[str]:
    return [e.id for e in exps]


def test_history_filters_by_status_time_title_and_limit(history_source):
    manager, exps = history_source
    assert ids(manager.history()) == ids(exps)
    assert ids(manager.history(status=ExpStatus.FINISHED)) == ids([exps[0], exps[2], exps[3]])
    assert ids(manager.history(status=["failed", "Cancelled"])) == ids([exps[1], exps[4]])
    assert ids(manager.history(since=exps[2].finished_at)) == ids(exps[2:])
    assert ids(manager.history(until=exps[2].finished_at)) == ids(exps[:2])
    # datetimes hold microseconds: bounds halfway between two finish times
    since = dt.datetime.fromtimestamp((exps[0].finished_at + exps[1].finished_at) / 2)
    until = dt.datetime.fromtimestamp((exps[2].finished_at + exps[3].finished_at) / 2)
    assert ids(manager.history(since=since, until=until)) == ids(exps[1:3])
    assert ids(manager.history(title_contains="CALIBRATION")) == ids([exps[3]])
    assert ids(manager.history(title_contains="square(x=")) == ids([exps[0], exps[2], exps[4]])
    assert ids(manager.history(limit=2)) == ids(exps[3:])
    assert manager.history(limit=0) == []
    assert ids(manager.history(status="finished", limit=1)) == ids([exps[3]])


def test_history_returns_the_experiments_in_the_queue_themselves(open_manager):
    manager = open_manager()
    exp = manager.queued_exec(square)(6)
    exp.result(timeout=10)
    assert manager.history()[0] is exp
    assert manager.get(exp.id) is exp


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"status": "exploded"}, ValueError),
        ({"limit": -1}, ValueError),
        ({"since": "yesterday"}, TypeError),
        ({"title_contains": 3}, TypeError),
    ],
)
def test_bad_history_arguments_are_refused_clearly(open_manager, kwargs, error):
    manager = open_manager()
    name = next(iter(kwargs))
    with pytest.raises(error, match=name if name != "status" else "unknown status 'exploded'"):
        manager.history(**kwargs)


def test_get_reaches_history_older_than_what_was_restored(open_manager, monkeypatch):
    manager = open_manager()
    exps = [manager.queued_exec(square)(i) for i in range(5)]
    assert manager.wait_until_idle(timeout=10)
    monkeypatch.setattr(journal_module, "RESTORED_HISTORY", 2)
    again = restart(manager, open_manager)
    assert ids(again.job_queue.history) == ids(exps[3:])
    oldest = again.get(exps[0].id)
    assert oldest.status is ExpStatus.FINISHED and oldest.result(0) == 0
    assert ids(again.history()) == ids(exps)
    with pytest.raises(KeyError, match="no experiment with id 'nope'"):
        again.get("nope")


def test_purge_deletes_old_history_from_the_journal(open_manager):
    manager = open_manager()
    exps = [manager.queued_exec(square)(i) for i in range(4)]
    assert manager.wait_until_idle(timeout=10)
    manager.pause_worker()
    waiting = manager.queued_exec(square)(9)
    assert manager.purge(older_than=exps[2].finished_at) == 2
    assert ids(manager.history()) == ids(exps[2:])
    assert manager.purge(older_than=dt.timedelta(days=1)) == 0
    assert manager.purge(older_than=dt.datetime.now() + dt.timedelta(seconds=1)) == 2

    again = restart(manager, open_manager)
    assert again.job_queue.history == []
    assert ids(again.job_queue.queued) == [waiting.id]  # queued ones are never purged
    with pytest.raises(TypeError, match="older_than"):
        again.purge(older_than="last week")


def test_purge_needs_a_journal():
    manager = Manager(start=False)
    try:
        with pytest.raises(RuntimeError, match="data_dir=None"):
            manager.purge(older_than=dt.timedelta(days=1))
    finally:
        manager.shutdown()
