"""StudyManager: run, cancel and restart studies (after Merlin's), on a labqueue Manager.

A study's runs are experiments on the manager's queue, linked by their steps'
dependencies (see :mod:`core.engine.chains`); its records (:mod:`.records`) live in
the same journal file. Each run works in its own directory under the study's
workspace and leaves the completion marker there when it succeeds, which is what
:meth:`StudyManager.restart` skips.
"""

from __future__ import annotations

import functools
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from psygnal import Signal

from ..engine import Experiment, ExpStatus, cancel_with_reason, emit_safely
from ..manager import Manager
from .records import (
    STUDY_CANCELLED,
    RunManager,
    RunRecord,
    StudyNotFoundError,
    StudyRecord,
    StudyRecordManager,
    Tables,
)
from .spec import StudySpec, load_spec
from .steps import StepCall, command_call, fill_template, is_finished, step_experiment

__all__ = ["FailedRun", "SpecChanged", "StepStatus", "StudyExists", "StudyManager", "StudyStatus"]

_ENDED = {s.value for s in ExpStatus if s.is_terminal}
_UNENDED = [ExpStatus.QUEUED.value, ExpStatus.RUNNING.value]


class SpecChanged(RuntimeError):
    """The spec of a study differs from the one it was run with (restart needs force=True)."""


class StudyExists(RuntimeError):
    """A study of that name is already stored (restart its workspace, or delete it)."""


class FailedRun(NamedTuple):
    """A run of a step that did not finish: its run directory, status and why."""

    run_dir: str
    status: str
    reason: str


@dataclass
class StepStatus:
    """Counts per status of one step's runs, their mean and spread of run time, and the failed ones."""

    step: str
    counts: dict[str, int] = field(default_factory=dict)
    mean_s: float | None = None
    stdev_s: float | None = None
    failed: list[FailedRun] = field(default_factory=list)


@dataclass
class StudyStatus:
    """A study's state: its record and one StepStatus per step, in spec order."""

    study: StudyRecord
    steps: list[StepStatus]

    def as_dict(self) -> dict[str, Any]:
        return {
            "study": self.study.name,
            "workspace": self.study.workspace,
            "status": self.study.status,
            "steps": [{**vars(step), "failed": [run._asdict() for run in step.failed]} for step in self.steps],
        }


class StudyManager:
    """Run, cancel and restart studies.

    ``db``: a :class:`Manager` to queue on, a data directory (a Manager is opened on
    it, not pausing on failures: each link's policy decides), or None (in memory).
    ``studies`` and ``runs`` are the record managers. Raises what Manager raises.

    Signal (fires on the thread that made the change, often the worker):
    ``records_changed_signal(study_id)``: a study, or runs of it, were stored anew.
    """

    records_changed_signal = Signal(str)

    def __init__(self, db: Manager | str | Path | None = None, *, start: bool = True) -> None:
        self._own_manager = not isinstance(db, Manager)
        self.manager = Manager(data_dir=db, pause_on_failure=False, start=start) if self._own_manager else db
        tables = Tables(self.manager.journal)
        self.studies = StudyRecordManager(tables)
        self.runs = RunManager(tables, self.studies)
        self._follow_restored_runs()

    def close(self) -> None:
        """Store the runs' outcomes recorded so far, then shut down the manager this
        StudyManager opened (not one it was given)."""
        self.runs.flush()
        if self._own_manager:
            self.manager.shutdown()

    def __enter__(self) -> StudyManager:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- run and restart ---------------------------------------------------------------

    def run(self, spec: StudySpec | str | Path) -> StudyRecord:
        """Store the study of ``spec`` (a path or a loaded spec) and queue all its runs.

        Raises SpecError for a bad spec (nothing is queued), StudyExists when a study of
        that name is stored already, JournalError when the journal fails.
        """
        spec = spec if isinstance(spec, StudySpec) else load_spec(spec)
        try:
            self.studies.get(spec.name)
        except StudyNotFoundError:
            pass
        else:
            raise StudyExists(f"a study named {spec.name!r} exists; restart {spec.workspace} or delete it first")
        spec.workspace.mkdir(parents=True, exist_ok=True)
        study = self.studies.create(spec.name, spec.workspace, spec_path=str(spec.path), spec_digest=spec.digest)
        planned = []
        for step in spec.steps:
            for series, sample in self._series(spec, step):
                planned.append((str(self._run_dir(spec, step.name, series, step.foreach)), ["instrument"], {
                    "step": step.name, "parameters": sample, "series": series}))  # fmt: skip
        runs = self.runs.create_many(spec.name, planned)
        self._queue_runs(spec, study, runs)
        study.status = "running"
        self.studies.update(study)
        emit_safely(self.records_changed_signal, study.id)
        return self.studies.get(study.id)

    def restart(self, workspace: str | Path, force: bool = False) -> StudyRecord:
        """Queue again the runs of the study in ``workspace`` that did not finish, skipping
        those whose run directory has the completion marker.

        Raises StudyNotFoundError when ``workspace`` is not a study's workspace,
        SpecChanged when the spec file changed since the study ran (unless ``force``),
        SpecError when it is no longer valid.
        """
        workspace = Path(workspace).resolve()
        try:
            study = self.studies.get(workspace)
        except StudyNotFoundError:
            raise StudyNotFoundError(
                f"{workspace} is not the workspace of a study in this journal; run a spec with 'labqueue study run'"
            ) from None
        spec = load_spec(study.spec_path)
        if spec.digest != study.spec_digest and not force:
            raise SpecChanged(
                f"the spec {study.spec_path} changed since the study {study.name!r} ran; "
                "restart with force=True (--force) to run the new one on the same workspace"
            )
        runs = self.runs.get_all({"study_id": study.id})
        self._queue_runs(spec, study, runs)
        study.status, study.spec_digest = "running", spec.digest
        self.studies.update(study)
        emit_safely(self.records_changed_signal, study.id)
        return self.studies.get(study.id)

    def _series(self, spec: StudySpec, step) -> list[tuple[int, dict[str, Any]]]:
        return list(enumerate(spec.samples)) if step.foreach else [(0, {})]

    @staticmethod
    def _run_dir(spec: StudySpec, step: str, series: int, foreach: bool) -> Path:
        return spec.workspace / step / str(series) if foreach else spec.workspace / step

    def _queue_runs(self, spec: StudySpec, study: StudyRecord, runs: list[RunRecord]) -> None:
        """Queue the runs that are neither finished (marker) nor still queued or running
        here, linked to their upstream steps' runs."""
        by_step: dict[str, dict[int, RunRecord]] = {}
        for run in runs:
            by_step.setdefault(run.step, {})[run.additional_data.get("series", 0)] = run
        live: dict[str, Experiment] = {}  # run id -> its experiment, queued now or still pending
        to_put: list[tuple[Experiment, RunRecord]] = []
        finished_runs: list[RunRecord] = []
        for step in spec.steps:
            for series, run in sorted(by_step.get(step.name, {}).items()):
                pending = self._pending_experiment(run)
                if pending is not None:
                    live[run.id] = pending
                    continue
                if is_finished(run.workspace):
                    if run.status != ExpStatus.FINISHED.value:
                        run.status, run.reason = ExpStatus.FINISHED.value, "finished earlier (marker found)"
                        finished_runs.append(run)
                    continue
                upstreams = []
                for dependency in step.depends:
                    upstream_runs = by_step.get(dependency, {})
                    wanted = (
                        [upstream_runs[series]]
                        if step.foreach and spec.step(dependency).foreach and series in upstream_runs
                        else list(upstream_runs.values())
                    )
                    upstreams += [live[r.id] for r in wanted if r.id in live]
                exp = self._experiment(spec, step, series, run, upstreams, study.id)
                live[run.id] = exp
                to_put.append((exp, run))
        for exp, run in to_put:
            run.experiment_id, run.status, run.reason, run.duration = exp.id, ExpStatus.QUEUED.value, None, None
        self.runs.update_many([run for _, run in to_put] + finished_runs)
        self.manager.job_queue.put_many([exp for exp, _ in to_put])
        for exp, run in to_put:
            self._follow(exp, run)

    def _pending_experiment(self, run: RunRecord) -> Experiment | None:
        if run.experiment_id is None:
            return None
        try:
            exp = self.manager.job_queue.get(run.experiment_id)
        except KeyError:
            return None
        while exp.repeated_by is not None:
            exp = exp.repeated_by
        return None if exp.done() else exp

    def _experiment(self, spec, step, series, run, upstreams, study_id) -> Experiment:
        context = {**run.parameters, "run_dir": run.workspace, "workspace": str(spec.workspace), "series": series,
                   "step": step.name, "study": spec.name}  # fmt: skip
        if step.command is not None:
            call = command_call(fill_template(step.command, context), run.workspace)
            kwargs = {}
        else:
            call = StepCall(run.workspace, step.func, step.name)
            kwargs = fill_template(step.parameters, context) if step.parameters else dict(run.parameters)
        shown = ", ".join(f"{key}={value!r}" for key, value in run.parameters.items())
        exp = step_experiment(
            call,
            kwargs,
            title=f"{spec.name}/{step.name}[{series}]({shown})" if step.foreach else f"{spec.name}/{step.name}",
            after=upstreams,
            on_failure=step.on_failure,
            retries=step.retries,
            retry_delay=step.retry_delay,
            retry_on=step.retry_on,
            isolate=step.isolate,
        )
        exp.study_id = study_id
        return exp

    # -- following the runs' experiments -----------------------------------------------

    def _follow(self, exp: Experiment, run: RunRecord) -> None:
        exp.add_own_done_callback(functools.partial(self._experiment_done, run.id, run.study_id))

    def _experiment_done(self, run_id: str, study_id: str, exp: Experiment) -> None:
        if exp.repeated_by is None:
            # Stored with the next outcomes (a run marked cancelled with its study keeps the mark).
            self.runs.record_outcome(run_id, exp.status.value, exp.cancel_reason or _failure_text(exp), exp.duration)
        else:  # a retry took over: stored at once, so that a restart follows the retry
            run = self.runs.get(run_id)
            if run.status == ExpStatus.CANCELLED.value and run.reason == STUDY_CANCELLED:
                return  # marked by cancel(mark_runs_cancelled=True); the experiment's end does not undo it
            run.experiment_id, run.status = exp.repeated_by.id, ExpStatus.QUEUED.value
            run.reason = f"attempt {exp.attempt} failed, retrying"
            self._follow(exp.repeated_by, run)
            self.runs.update(run)
        emit_safely(self.records_changed_signal, study_id)

    def _follow_restored_runs(self) -> None:
        """Runs left queued or running by an earlier session: follow their experiments
        (restored from the journal), or record how they ended."""
        self._reconcile(self.runs.get_all({"status": _UNENDED}), follow=True)

    def _latest_experiment(self, run: RunRecord) -> Experiment | None:
        """The experiment of the run's latest attempt (a retry or requeue follows it), or None."""
        try:
            exp = self.manager.get(run.experiment_id) if run.experiment_id else None
        except KeyError:
            return None
        while exp is not None and exp.repeated_by is not None:
            exp = exp.repeated_by
        return exp

    def _reconcile(self, runs: list[RunRecord], follow: bool = False) -> None:
        """Record the outcome of the experiments of ``runs`` that have ended.

        Needed besides the done-callbacks: a callback may still be on its way when the
        queue is idle (callbacks of one experiment run one after another), and after a
        restart nothing followed the restored ones yet."""
        changed = []
        for run in runs:
            if run.status not in _UNENDED:
                continue
            exp = self._latest_experiment(run)
            if exp is not None and not exp.done():
                if follow:
                    run.experiment_id = exp.id
                    self._follow(exp, run)
                continue
            run.status = exp.status.value if exp is not None else ExpStatus.INTERRUPTED.value
            run.duration = exp.duration if exp is not None else None
            run.reason = (exp.cancel_reason or _failure_text(exp)) if exp is not None else "its experiment is gone"
            changed.append(run)
        if changed:
            self.runs.update_many(changed)
            for study_id in {run.study_id for run in changed}:
                emit_safely(self.records_changed_signal, study_id)

    # -- cancel and status -------------------------------------------------------------

    def cancel(
        self,
        study: str | StudyRecord,
        purge_queues: bool = True,
        stop_workers: bool = True,
        mark_runs_cancelled: bool = True,
    ) -> dict[str, int]:
        """Cancel a study (name, id, workspace or record): ``stop_workers`` aborts its
        running steps (the instrument job; command and isolated runs get SIGTERM, then
        SIGKILL after the manager's ``kill_grace``), ``purge_queues`` removes its queued
        experiments (CANCELLED, reason "study cancelled"), ``mark_runs_cancelled`` marks
        its unfinished runs CANCELLED in the journal; each on its own. Returns how many
        of each happened.

        Raises StudyNotFoundError.
        """
        record = study if isinstance(study, StudyRecord) else self.studies.get(study)
        done = {"stopped": 0, "purged": 0, "marked": 0}
        if purge_queues:  # first, so that no queued run starts in a slot a stopped one frees
            queued = [exp for exp in self.manager.job_queue.queued if exp.study_id == record.id]
            done["purged"] = len(cancel_with_reason(queued, STUDY_CANCELLED))
        if stop_workers:
            running = [exp for exp in self.manager.job_queue.running_experiments if exp.study_id == record.id]
            stopped = [exp for exp in running if self.manager.abort_experiment(exp)]
            done["stopped"] = len(stopped)
        if mark_runs_cancelled:
            unfinished = [run for run in self.runs.get_all({"study_id": record.id}) if run.status not in _ENDED]
            # A run whose experiment has just finished (its done-callback still on its way) did finish.
            finished = [
                run for run in unfinished if getattr(self._latest_experiment(run), "status", None) is ExpStatus.FINISHED
            ]
            self._reconcile(finished)
            unfinished = [run for run in unfinished if run.status not in _ENDED]
            for run in unfinished:
                run.status, run.reason = ExpStatus.CANCELLED.value, STUDY_CANCELLED
            self.runs.update_many(unfinished)
            done["marked"] = len(unfinished)
            record.status = "cancelled"
            self.studies.update(record)
        emit_safely(self.records_changed_signal, record.id)
        return done

    def status(self, study: str | StudyRecord) -> StudyStatus:
        """Counts per step and status, mean and spread of run times, failed runs and why.
        Raises StudyNotFoundError."""
        record = study if isinstance(study, StudyRecord) else self.studies.get(study)
        steps: dict[str, StepStatus] = {}
        durations: dict[str, list[float]] = {}
        self._reconcile(self.runs.get_all({"study_id": record.id, "status": _UNENDED}))
        for run in self.runs.get_all({"study_id": record.id}):
            step = steps.setdefault(run.step, StepStatus(run.step))
            step.counts[run.status] = step.counts.get(run.status, 0) + 1
            if run.status == ExpStatus.FINISHED.value and run.duration is not None:
                durations.setdefault(run.step, []).append(run.duration)
            if run.status in (ExpStatus.FAILED.value, ExpStatus.CANCELLED.value, ExpStatus.ABORTED.value):
                step.failed.append(FailedRun(run.workspace, run.status, run.reason or run.status))
        for name, times in durations.items():
            steps[name].mean_s = statistics.fmean(times)
            steps[name].stdev_s = statistics.stdev(times) if len(times) > 1 else 0.0
        if record.status == "running" and all(status in _ENDED for step in steps.values() for status in step.counts):
            # Every run ended: "finished" only if every one of them did.
            finished = all(status == ExpStatus.FINISHED.value for step in steps.values() for status in step.counts)
            record.status = "finished" if finished else "incomplete"
            self.studies.update(record)
        return StudyStatus(record, list(steps.values()))

    def wait(self, study: str | StudyRecord, timeout: float | None = None) -> bool:
        """Wait until the manager is idle (every run of the study ended, or the queue
        paused); False if ``timeout`` passed first."""
        return self.manager.wait_until_idle(timeout)


def _failure_text(exp: Experiment) -> str | None:
    if exp.status is not ExpStatus.FAILED:
        return None
    error = exp.exception(0)
    return f"{type(error).__name__}: {error}"
