"""Overhead of the Dask lane against raw ``client.map`` + ``wait`` on the same cluster, same process.

One LocalCluster (``--workers`` one-thread worker processes) serves both sides. Python
tasks: ``--tasks`` calls of a trivial function, queued through labqueue
(``manager.sweep(..., lane="dask")`` on an in-memory manager, so each is an experiment
taken from the queue, submitted, its outcome gathered and completed on the queue)
against ``client.map(func, range(n), pure=False)`` + ``wait`` + ``gather``. Commands:
``--commands`` runs of ``true`` through ``multirun(..., runner=DaskRunner())`` (a folder,
``params.json``, stdout/stderr files and a completion marker each) against
``client.map`` of a function doing ``subprocess.run`` in the same kind of folders.
The sides take turns ``--repeat`` times and the medians are compared (target <= 1.5).

    python bench/dask_lane.py [--tasks 10000] [--commands 200] [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from distributed import Client, LocalCluster, wait

from labqueue import Manager
from labqueue.multirun import DaskRunner, multirun

TRUE = shutil.which("true") or "/bin/true"


def square(x: int) -> int:
    return x * x


def raw_tasks(client: Client, tasks: int) -> float:
    started = time.perf_counter()
    futures = client.map(square, range(tasks), pure=False)
    wait(futures)
    results = client.gather(futures)
    elapsed = time.perf_counter() - started
    assert results[-1] == (tasks - 1) ** 2
    del futures
    return elapsed


def labqueue_tasks(address: str, tasks: int) -> float:
    manager = Manager(pause_on_failure=False, dask_scheduler=address)
    try:
        manager.queued_exec(lane="dask")(square)(0).result(60)  # the connection, outside the timing
        started = time.perf_counter()
        sweep = manager.sweep(square, {"x": list(range(tasks))}, lane="dask")
        results = sweep.results(600)
        elapsed = time.perf_counter() - started
        assert results[-1] == (tasks - 1) ** 2
    finally:
        manager.shutdown()
    return elapsed


def run_command(run_dir: str, i: int) -> int:
    folder = Path(run_dir)
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps({"i": i}))
    with open(folder / "stdout.txt", "wb") as out, open(folder / "stderr.txt", "wb") as err:
        return subprocess.run([TRUE], cwd=folder, stdout=out, stderr=err, start_new_session=True).returncode


def raw_commands(client: Client, root: Path, runs: int) -> float:
    started = time.perf_counter()
    root.mkdir()
    futures = client.map(run_command, [str(root / f"run_{i:04d}") for i in range(runs)], range(runs), pure=False)
    wait(futures)
    codes = client.gather(futures)
    elapsed = time.perf_counter() - started
    assert codes == [0] * runs
    return elapsed


def labqueue_commands(address: str, root: Path, runs: int) -> float:
    manager = Manager(pause_on_failure=False, dask_scheduler=address)
    try:
        manager.queued_exec(lane="dask")(square)(0).result(60)
        started = time.perf_counter()
        done = multirun(
            runs=[{"i": i} for i in range(runs)], cmd=[TRUE], output_path=root, runner=DaskRunner(manager=manager)
        )
        elapsed = time.perf_counter() - started
        assert [run.status for run in done] == ["success"] * runs, [r.experiment.exception() for r in done[:3]]
    finally:
        manager.shutdown()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("labqueue").setLevel(logging.WARNING)
    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    raw_task_times, task_times, raw_command_times, command_times = [], [], [], []
    try:
        raw_tasks(client, 100)  # warm both sides' imports on the workers
        for _ in range(args.repeat):
            raw_task_times.append(raw_tasks(client, args.tasks))
            task_times.append(labqueue_tasks(cluster.scheduler_address, args.tasks))
        with tempfile.TemporaryDirectory(prefix="labqueue-bench-dask-") as tmp:
            for turn in range(args.repeat):
                raw_command_times.append(raw_commands(client, Path(tmp) / f"raw{turn}", args.commands))
                command_times.append(
                    labqueue_commands(cluster.scheduler_address, Path(tmp) / f"lq{turn}", args.commands)
                )
    finally:
        client.close()
        cluster.close()
    raw_t, lq_t = statistics.median(raw_task_times), statistics.median(task_times)
    raw_c, lq_c = statistics.median(raw_command_times), statistics.median(command_times)
    print(f"{args.tasks} Python tasks on {args.workers} workers (medians of {args.repeat}):")
    print(f"  client.map + wait + gather: {raw_t:.2f} s ({args.tasks / raw_t:,.0f}/s)  runs: {raw_task_times}")
    print(f"  labqueue Dask lane:         {lq_t:.2f} s ({args.tasks / lq_t:,.0f}/s)  runs: {task_times}")
    print(f"  ratio {lq_t / raw_t:.2f} (target <= 1.5)")
    print(f"{args.commands} command runs of `true` in their own folders:")
    print(f"  client.map of subprocess.run: {raw_c:.2f} s  runs: {raw_command_times}")
    print(f"  labqueue multirun DaskRunner: {lq_c:.2f} s  runs: {command_times}")
    print(f"  ratio {lq_c / raw_c:.2f}")


if __name__ == "__main__":
    main()
