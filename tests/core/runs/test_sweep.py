"""manager.sweep: a Python function over a grid, as one group of experiments."""

from __future__ import annotations

import os

import pytest

from labqueue import Experiment, ExpStatus
from labqueue.core.runs import parameter_sets


def power(base, exponent):
    return base**exponent, os.getpid()


def test_a_dict_of_lists_is_the_cartesian_product_and_a_list_of_dicts_is_taken_as_it_is():
    assert parameter_sets({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    assert parameter_sets([{"a": 1}, {"a": 1}]) == [{"a": 1}, {"a": 1}]
    with pytest.raises(TypeError, match="must be a list of values"):
        parameter_sets({"a": 3})
    with pytest.raises(TypeError, match="run 1 of the grid must be a dict"):
        parameter_sets([{"a": 1}, 2])
    with pytest.raises(ValueError, match="no parameter set"):
        parameter_sets([])


def test_a_grid_that_does_not_fit_the_function_is_refused_before_anything_is_queued(open_manager):
    manager = open_manager(data_dir=None)
    with pytest.raises(TypeError, match=r"power\(base, exponent\) takes no parameter 'power', which the sweep sets"):
        manager.sweep(power, {"base": [2, 3], "power": [1]})
    with pytest.raises(TypeError, match="missing a required argument: 'exponent'"):
        manager.sweep(power, [{"base": 2, "exponent": 1}, {"base": 3}])
    assert manager.job_queue.queue == [] and manager.groups == {}


def test_a_sweep_on_the_worker_runs_in_order_as_one_group(open_manager):
    manager = open_manager(data_dir=None)
    sweep = manager.sweep(power, {"base": [2, 3], "exponent": [1, 2]})
    assert sweep.wait(timeout=30)
    assert [value for value, _ in sweep.results()] == [2, 4, 3, 9]
    assert {pid for _, pid in sweep.results()} == {os.getpid()}
    assert {exp.lane for exp in sweep.experiments} == {"instrument"}
    assert manager.groups[sweep.group.id].title == "power × 4"
    assert sweep.experiments[1].title == "power(base=2, exponent=2)"
    assert sweep.statistics().success_count == 4


def test_an_isolated_sweep_runs_in_processes_and_is_kept_in_the_journal(open_manager, lab):
    manager = open_manager()
    sweep = manager.sweep(power, [{"base": 2, "exponent": 10}] * 3, isolate=True, max_parallel=2, title="powers")
    assert [value for value, _ in sweep.results(timeout=60)] == [1024] * 3
    assert os.getpid() not in {pid for _, pid in sweep.results()}
    manager.shutdown()

    again = open_manager()
    group = again.groups[sweep.group.id]
    assert (group.title, group.kind, group.max_parallel) == ("powers", "sweep", 2)
    members = [exp for exp in again.job_queue.history if exp.group_id == group.id]
    assert sorted(exp.id for exp in members) == sorted(exp.id for exp in sweep.experiments)  # in the order they ended
    assert {exp.lane for exp in members} == {"process"}


def test_a_sweeps_failed_run_does_not_pause_the_queue(open_manager):
    manager = open_manager(data_dir=None)
    sweep = manager.sweep(power, [{"base": 2, "exponent": 1}, {"base": "x", "exponent": 2}, {"base": 3, "exponent": 1}])
    assert sweep.wait(timeout=30)
    assert not manager.paused
    stats = sweep.statistics()
    assert (stats.success_count, stats.failure_count) == (2, 1)


def test_a_held_sweep_stays_held_after_a_restart_and_its_release_is_kept_too(open_manager):
    first = open_manager(start=False)
    sweep = first.sweep(power, {"base": [2, 3], "exponent": [1]})
    group_id = sweep.group.id
    first.pause_group(group_id)
    first.shutdown()

    second = open_manager()
    assert second.groups[group_id].held and second.job_queue.is_held(group_id)
    second.resume_worker()  # it starts paused: it found queued experiments
    after_the_sweep = Experiment(power, (5, 1))
    second.job_queue.put(after_the_sweep)
    assert after_the_sweep.result(timeout=30) == (5, os.getpid())  # the held runs were passed over
    held_runs = [exp for exp in second.job_queue.queued if exp.group_id == group_id]
    assert [exp.status for exp in held_runs] == [ExpStatus.QUEUED] * 2
    second.pause_worker()
    second.resume_group(group_id)
    second.shutdown()

    third = open_manager(start=False)
    assert not third.groups[group_id].held and not third.job_queue.is_held(group_id)
