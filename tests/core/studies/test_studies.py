"""Studies: run a spec, its records, status, cancel with each flag, restart skipping finished work."""

from __future__ import annotations

import itertools
import os
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from labqueue import ExpStatus, Manager
from labqueue.core.studies.records import Tables
from labqueue.studies import (
    FINISHED_MARKER,
    RunNotFoundError,
    SpecChanged,
    StudyManager,
    StudyNotFoundError,
)

from ..job_helpers import kill_once_holding

TIMEOUT = 30

SPEC = """
[study]
name = "resonance"
workspace = "ws"
[study.samples]
field = [1, 2, 3]
n = {{ range = [10, 30, 10] }}

[steps.calibrate]
python = "tests.core.studies.lab_steps:calibrate"
foreach = false

[steps.measure]
python = "tests.core.studies.lab_steps:measure"
depends = ["calibrate"]
{measure_options}

[steps.record]
command = "python -c \\"open('value.txt', 'w').write('{{field}}-{{n}}')\\""
depends = ["measure"]

[steps.summary]
python = "tests.core.studies.lab_steps:summarise"
parameters = {{ folder = "{{workspace}}/record" }}
foreach = false
depends = ["record"]
"""


def write_spec(folder: Path, measure_options: str = "") -> Path:
    path = folder / "study.toml"
    path.write_text(textwrap.dedent(SPEC.format(measure_options=measure_options)))
    return path


@pytest.fixture
def studies():
    made = StudyManager()
    yield made
    made.close()


def test_a_study_runs_every_step_in_order_with_its_runs_recorded(studies, tmp_path):
    study = studies.run(write_spec(tmp_path))
    assert studies.wait(study, TIMEOUT)
    status = studies.status(study.name)
    assert [(s.step, s.counts) for s in status.steps] == [
        ("calibrate", {"finished": 1}),
        ("measure", {"finished": 6}),
        ("record", {"finished": 6}),
        ("summary", {"finished": 1}),
    ]
    assert status.study.status == "finished"
    assert status.steps[1].mean_s is not None and status.steps[1].stdev_s is not None
    workspace = tmp_path / "ws"
    assert (workspace / "record" / "0" / "value.txt").read_text() == "1-10"
    assert all((workspace / "measure" / str(i) / FINISHED_MARKER).is_file() for i in range(6))
    (summary,) = studies.runs.get_all({"study_id": study.id, "step": "summary"})
    assert studies.manager.get(summary.experiment_id).result(0) == [str(i) for i in range(6)]
    # Each run followed all of its step's upstreams.
    history = studies.manager.job_queue.history
    first_record = min(e.started_at for e in history if "/record[" in e.title)
    assert max(e.finished_at for e in history if "/measure[" in e.title and e.title.endswith("n=10)")) > 0
    assert first_record >= min(e.finished_at for e in history if "/measure[" in e.title)


def test_a_failed_run_skips_its_downstream_and_status_says_why(studies, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STEPS_FAIL_FIELD", "2")
    study = studies.run(write_spec(tmp_path))
    assert studies.wait(study, TIMEOUT)
    status = studies.status(study)
    by_step = {s.step: s for s in status.steps}
    assert by_step["measure"].counts == {"finished": 4, "failed": 2}
    assert by_step["record"].counts == {"finished": 4, "cancelled": 2}
    assert by_step["summary"].counts == {"cancelled": 1}
    reasons = {run.run_dir: run.reason for run in by_step["measure"].failed}
    assert reasons[str(tmp_path / "ws" / "measure" / "2")] == "OSError: no signal at field 2"
    assert all(reason.startswith("upstream resonance/measure[") for _, _, reason in by_step["record"].failed)


def test_retries_in_the_spec_keep_each_attempt(studies, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STEPS_FAIL_FIELD", "3")
    study = studies.run(write_spec(tmp_path, 'retries = 2\nretry_on = ["OSError"]'))
    assert studies.wait(study, TIMEOUT)
    failed = [e for e in studies.manager.job_queue.history if "field=3" in e.title and "/measure[" in e.title]
    assert sorted(e.attempt for e in failed) == [1, 1, 2, 2, 3, 3]
    by_step = {s.step: s for s in studies.status(study).steps}
    assert by_step["measure"].counts == {"finished": 4, "failed": 2}
    assert by_step["record"].counts == {"finished": 4, "cancelled": 2}
    assert by_step["measure"].failed[0].reason == "OSError: no signal at field 3"


def test_restart_skips_runs_whose_marker_exists_and_refuses_a_changed_spec(tmp_path, monkeypatch):
    spec = write_spec(tmp_path)
    data_dir = tmp_path / "lab"
    monkeypatch.setenv("LAB_STEPS_FAIL_FIELD", "1")
    with StudyManager(data_dir) as studies:
        study = studies.run(spec)
        studies.wait(study, TIMEOUT)
        assert {s.step: s.counts for s in studies.status(study).steps}["measure"] == {"finished": 4, "failed": 2}
        ran_before = len(studies.manager.job_queue.history)
    monkeypatch.delenv("LAB_STEPS_FAIL_FIELD")
    with StudyManager(data_dir) as studies:
        studies.manager.resume_worker()
        studies.restart(tmp_path / "ws")
        studies.wait(study, TIMEOUT)
        status = {s.step: s.counts for s in studies.status(study.name).steps}
        assert status == {
            "calibrate": {"finished": 1},
            "measure": {"finished": 6},
            "record": {"finished": 6},
            "summary": {"finished": 1},
        }
        rerun = [e for e in studies.manager.job_queue.history if e.queued_at and e.id not in ()]
        # Only the two failed measure runs, their two records and the summary ran again.
        assert len(rerun) - ran_before == 5

        spec.write_text(spec.read_text().replace("[1, 2, 3]", "[1, 2, 3, 4]"))
        with pytest.raises(SpecChanged, match="changed since the study 'resonance' ran"):
            studies.restart(tmp_path / "ws")
        with pytest.raises(StudyNotFoundError, match="is not the workspace of a study"):
            studies.restart(tmp_path)


@pytest.mark.parametrize(
    ("purge_queues", "stop_workers", "mark_runs_cancelled"), list(itertools.product([True, False], repeat=3))
)
def test_cancel_does_what_each_flag_says(tmp_path, purge_queues, stop_workers, mark_runs_cancelled):
    manager = Manager(pause_on_failure=False)
    manager.pause_worker()
    studies = StudyManager(manager)
    try:
        study = studies.run(write_spec(tmp_path))
        gate = manager.job_queue.queued[0]  # calibrate: make it the running one, held by an abortable wait
        assert gate.title == "resonance/calibrate"
        started, release = threading.Event(), threading.Event()

        def hold():
            started.set()
            while not release.wait(0.01):
                manager.checkpoint()

        held = manager.queued_exec(hold)()
        held.study_id = study.id
        manager.job_queue.move(held, 0)
        manager.resume_worker()
        assert started.wait(TIMEOUT)
        done = studies.cancel(study, purge_queues, stop_workers, mark_runs_cancelled)
        # Purged runs are cancelled by then, so only unpurged ones are left to mark.
        marked = 14 if mark_runs_cancelled and not purge_queues else 0
        assert done == {"stopped": int(stop_workers), "purged": 14 if purge_queues else 0, "marked": marked}
        manager.pause_worker()  # nothing else starts once the held job ends
        release.set()
        held.exception(TIMEOUT)
        assert held.status is (ExpStatus.ABORTED if stop_workers else ExpStatus.FINISHED)
        runs = studies.runs.get_all({"study_id": study.id})
        if purge_queues or mark_runs_cancelled:
            assert {run.status for run in runs} == {"cancelled"}
            assert manager.job_queue.queued == [] or not purge_queues
        else:
            assert "cancelled" not in {run.status for run in runs}
        if not purge_queues:
            assert len([e for e in manager.job_queue.queued if e.study_id == study.id]) == 14
    finally:
        manager.shutdown()


def test_run_records_keep_types_filters_and_deletes(studies):
    run = studies.runs.create("typed", "/tmp/run-a", ["q1"], step="s", workers=["w1"], code="007", count=7)
    assert run.additional_data == {"code": "007", "count": 7}
    again = studies.runs.get(run.id)
    assert again.additional_data == {"code": "007", "count": 7}
    assert studies.runs.get("/tmp/run-a").id == run.id
    other = studies.runs.create("typed", "/tmp/run-b", ["q2"], status="failed")
    study = studies.studies.get("typed")
    assert sorted(study.runs) == sorted([run.id, other.id])
    assert [r.id for r in studies.runs.get_all({"status": "FAILED"})] == [other.id]
    assert [r.id for r in studies.runs.get_all({"queues": ["q1", "q9"]})] == [run.id]
    assert [r.id for r in studies.runs.get_all({"workers": "w1", "study_id": study.id})] == [run.id]
    with pytest.raises(ValueError, match="unknown filter colour"):
        studies.runs.get_all({"colour": "red"})
    studies.runs.delete(run.id)
    assert studies.studies.get("typed").runs == [other.id]
    with pytest.raises(RunNotFoundError, match="no run with id or workspace"):
        studies.runs.get(run.id)
    studies.runs.delete_all()
    assert studies.runs.get_all() == []
    studies.studies.delete_all()
    with pytest.raises(StudyNotFoundError):
        studies.studies.get("typed")


def test_run_outcomes_are_stored_together_and_every_read_sees_them(studies, monkeypatch):
    first, second, third = studies.runs.create_many("batched", [(f"/tmp/batched-{i}", ["q"], {}) for i in range(3)])
    writes = []
    real_transaction = Tables.transaction

    def counted(tables, action):
        writes.append(action)
        return real_transaction(tables, action)

    monkeypatch.setattr(Tables, "transaction", counted)
    studies.runs.record_outcome(first.id, "finished", None, 1.5)
    studies.runs.record_outcome(second.id, "failed", "OSError: no signal", 0.5)
    assert writes == []  # a run's end costs its step no write of its own
    assert studies.runs.get(first.id).duration == 1.5  # a read stores what was recorded first
    assert writes == ["store the outcome of 2 run(s)"]
    assert studies.runs.get(second.id).reason == "OSError: no signal"

    # A run marked cancelled with its study keeps the mark when its experiment's end comes after.
    third.status, third.reason = "cancelled", "study cancelled"
    studies.runs.update(third)
    studies.runs.record_outcome(third.id, "aborted", None, 2.0)
    assert (studies.runs.get(third.id).status, studies.runs.get(third.id).reason) == ("cancelled", "study cancelled")

    # Many ends are stored without a read once a batch is full.
    monkeypatch.setattr(studies.runs, "OUTCOME_BATCH", 2)
    writes.clear()
    studies.runs.record_outcome(first.id, "aborted", None, 3.0)
    studies.runs.record_outcome(second.id, "aborted", None, 3.0)
    assert writes == ["store the outcome of 2 run(s)"]


def test_run_outcomes_not_stored_when_the_process_is_killed_come_back_from_the_journal(tmp_path):
    spec = tmp_path / "crash.toml"
    spec.write_text(
        textwrap.dedent("""
        [study]
        name = "crash"
        workspace = "ws"
        [study.samples]
        field = [1, 2, 3]
        [steps.measure]
        python = "tests.core.studies.lab_steps:measure"
        parameters = { field = "{field}", n = 2 }
        [steps.hold]
        python = "tests.core.studies.lab_steps:announce_and_hold"
        parameters = {}
        foreach = false
        depends = ["measure"]
        """)
    )
    data_dir = tmp_path / "lab"
    root = Path(__file__).parents[3]
    child = [sys.executable, str(Path(__file__).with_name("study_crash_child.py")), str(spec), str(data_dir)]
    kill_once_holding(child, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})

    with StudyManager(data_dir) as studies:
        counts = {step.step: step.counts for step in studies.status("crash").steps}
        assert counts == {"measure": {"finished": 3}, "hold": {"interrupted": 1}}
