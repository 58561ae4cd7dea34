"""``labqueue study run|status|cancel|restart``: studies from the command line.

``run`` and ``restart`` queue the study on the data directory's journal and run it in
this process until the queue is idle; ``status`` and ``cancel`` open the journal
without starting the worker. Another program holding the data directory is an error
(one program per data directory).
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import sys
from pathlib import Path

from labqueue.core import config
from labqueue.core.studies import SpecChanged, SpecError, StudyExists, StudyManager, StudyNotFoundError

from .exit_codes import ExitCode

__all__ = ["build_study_parser", "run_study_command"]


def build_study_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labqueue study", description="Run, watch, cancel and restart studies.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, metavar="DIR", help="the data directory whose journal keeps studies")
    commands = parser.add_subparsers(dest="command", required=True)
    add = functools.partial(commands.add_parser, parents=[common])
    run = add("run", help="store the study of SPEC and run all its steps")
    run.add_argument("spec", type=Path, metavar="SPEC")
    status = add("status", help="counts per step and status, run times, failed runs and why")
    status.add_argument("study", nargs="?", metavar="STUDY", help="name, id or workspace (default: every study)")
    formats = status.add_mutually_exclusive_group()
    formats.add_argument("--json", action="store_true")
    formats.add_argument("--csv", action="store_true")
    cancel = add("cancel", help="cancel a study's queued runs and mark its runs cancelled")
    cancel.add_argument("study", metavar="STUDY")
    restart = add("restart", help="run again what did not finish in WORKSPACE")
    restart.add_argument("workspace", type=Path, metavar="WORKSPACE")
    restart.add_argument("--force", action="store_true", help="run even though the spec changed")
    return parser


def run_study_command(argv: list[str]) -> int:
    """Run ``labqueue study ...`` with ``argv`` (after "study"); returns the exit code.

    Raises what opening the data directory raises (DataDirectoryInUse, JournalError),
    for the caller to report."""
    args = build_study_parser().parse_args(argv)
    data_dir = config.data_dir(args.data_dir)
    running = args.command in ("run", "restart")
    with StudyManager(data_dir, start=running) as studies:
        try:
            if args.command == "run":
                study = studies.run(args.spec)
            elif args.command == "restart":
                study = studies.restart(args.workspace, force=args.force)
            elif args.command == "cancel":
                done = studies.cancel(args.study)
                print(f"labqueue: study {args.study}: {done['purged']} queued run(s) cancelled, "
                      f"{done['marked']} more marked cancelled")  # fmt: skip
                return ExitCode.OK
            else:
                return _print_status(studies, args)
        except (SpecError, SpecChanged, StudyExists, StudyNotFoundError) as exc:
            print(f"labqueue: {exc}", file=sys.stderr)
            return ExitCode.SCRIPT_ERROR
        studies.manager.resume_worker()  # runs restored from an earlier session start paused
        studies.wait(study)
        status = studies.status(study.id)
        _print_table([status])
        failed = any(step.failed for step in status.steps)
        return ExitCode.FAILED if failed else ExitCode.OK


def _print_status(studies: StudyManager, args: argparse.Namespace) -> int:
    try:
        records = [studies.studies.get(args.study)] if args.study else studies.studies.get_all()
    except StudyNotFoundError as exc:
        print(f"labqueue: {exc}", file=sys.stderr)
        return ExitCode.SCRIPT_ERROR
    statuses = [studies.status(record) for record in records]
    if args.json:
        json.dump([status.as_dict() for status in statuses], sys.stdout, indent=2)
        print()
    elif args.csv:
        # One table: a row per step and status with its count, then a row per run that
        # did not finish, with its folder and why (count left empty, so sums stay right).
        writer = csv.writer(sys.stdout)
        writer.writerow(["study", "step", "status", "count", "mean_s", "stdev_s", "run_dir", "reason"])
        for status in statuses:
            for step in status.steps:
                for name, count in sorted(step.counts.items()):
                    writer.writerow([status.study.name, step.step, name, count, step.mean_s, step.stdev_s, "", ""])
            for step in status.steps:
                for run in step.failed:
                    writer.writerow([status.study.name, step.step, run.status, "", "", "", run.run_dir, run.reason])
    else:
        _print_table(statuses)
    return ExitCode.OK


def _print_table(statuses) -> None:
    for status in statuses:
        print(f"{status.study.name} ({status.study.status})  {status.study.workspace}")
        for step in status.steps:
            counts = ", ".join(f"{count} {name}" for name, count in sorted(step.counts.items()))
            timing = f"  {step.mean_s:.3f} s ± {step.stdev_s:.3f}" if step.mean_s is not None else ""
            print(f"  {step.step:<16} {counts}{timing}")
            for run in step.failed:
                print(f"      {run.run_dir}: {run.reason}")
