"""Overhead of labqueue.multirun against a plain thread pool running the same commands, same process.

Both sides write the same files: one folder per run with ``params.json``, a trivial
command run there with its stdout and stderr in ``stdout.txt`` and ``stderr.txt``,
two at a time, and the completion marker ``LABQUEUE_FINISHED`` once it exited with 0:
labqueue through ``multirun(..., runner=ParallelLocalRunner(max_parallel=2))`` on a
manager with a journal (so every run is also journaled: queued, started, finished),
the baseline through ``ThreadPoolExecutor(2)`` and ``subprocess.run``. Prints
seconds for both and their ratio (target <= 1.2), then the abort latency of a command
that ignores SIGTERM (target <= grace + 1 s). The two sides take turns ``--repeat``
times and the medians are compared: on a small shared machine one pass of either
varies by a factor of two.

    python bench/multirun.py [--runs 1000] [--repeat 3] [--grace 1.0] [--command true|python] [--dir DIR]

``--dir`` puts the run folders and the journal there (default: the system's temporary
folder); on a tmpfs such as ``/dev/shm`` file operations cost almost nothing, so the
ratio is labqueue's bookkeeping against the bare minimum.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from labqueue import Manager
from labqueue.core.runs import FINISHED_MARKER, CommandExperiment
from labqueue.multirun import ParallelLocalRunner, multirun

COMMANDS = {
    "true": [shutil.which("true") or "/bin/true"],
    "python": [sys.executable, "-S", "-c", "pass"],
}
#: Ignores SIGTERM, says it is up on the named pipe argv[1], waits to be killed.
IGNORES_SIGTERM = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "open(sys.argv[1], 'w').write('up'); signal.pause()",
]


def bench_thread_pool(root: Path, runs: int, cmd: list[str]) -> float:
    def one(i: int) -> int:
        run_dir = root / f"run_{i:04d}"
        run_dir.mkdir()
        (run_dir / "params.json").write_text(json.dumps({"i": i}))
        with open(run_dir / "stdout.txt", "wb") as out, open(run_dir / "stderr.txt", "wb") as err:
            returncode = subprocess.run(cmd, cwd=run_dir, stdout=out, stderr=err, start_new_session=True).returncode
        if returncode == 0:  # the completion marker labqueue writes for a run that succeeded
            (run_dir / FINISHED_MARKER).write_text(json.dumps({"run": i, "at": time.time()}))
        return returncode

    started = time.perf_counter()
    root.mkdir()
    with ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(one, range(runs)))
    elapsed = time.perf_counter() - started
    assert codes == [0] * runs
    return elapsed


def bench_labqueue(root: Path, data_dir: Path, runs: int, cmd: list[str]) -> float:
    manager = Manager(data_dir=data_dir)
    try:
        started = time.perf_counter()
        done = multirun(
            runs=[{"i": i} for i in range(runs)],
            cmd=cmd,
            output_path=root,
            runner=ParallelLocalRunner(max_parallel=2, manager=manager),
        )
        elapsed = time.perf_counter() - started
        assert [run.status for run in done] == ["success"] * runs, [r.experiment.exception() for r in done[:3]]
    finally:
        manager.shutdown()
    return elapsed


def abort_latency(work: Path, grace: float) -> float:
    """Seconds from abort to the ABORTED outcome of a command that ignores SIGTERM."""
    fifo = work / "up.fifo"
    os.mkfifo(fifo)
    up = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # never blocks, and the command's write lands
    manager = Manager(kill_grace=grace)
    try:
        exp = CommandExperiment([*IGNORES_SIGTERM, str(fifo)], run_dir=work / "abort")
        manager.job_queue.put(exp)
        ready, _, _ = select.select([up], [], [], 30)
        assert ready, "the command never started"
        started = time.perf_counter()
        manager.abort_experiment(exp)
        exp.exception(timeout=grace + 30)
        return time.perf_counter() - started
    finally:
        os.close(up)
        manager.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--grace", type=float, default=1.0)
    parser.add_argument("--command", choices=sorted(COMMANDS), default="true")
    parser.add_argument("--dir", type=Path, default=None, help="where the run folders go")
    args = parser.parse_args()
    cmd = COMMANDS[args.command]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        bench_thread_pool(work / "warm-up", 20, cmd)
        pools, ourses = [], []
        for attempt in range(args.repeat):
            pools.append(bench_thread_pool(work / f"pool-{attempt}", args.runs, cmd))
            ourses.append(bench_labqueue(work / f"labqueue-{attempt}", work / f"data-{attempt}", args.runs, cmd))
        pool, ours = statistics.median(pools), statistics.median(ourses)
        print(f"{args.runs} runs of {' '.join(cmd)}, two at a time (median of {args.repeat})")
        print(f"  ThreadPoolExecutor(2) + subprocess.run: {pool:.2f} s ({pool / args.runs * 1000:.2f} ms per run)")
        print(f"  labqueue multirun (journal on):         {ours:.2f} s ({ours / args.runs * 1000:.2f} ms per run)")
        print(f"  overhead ratio: {ours / pool:.2f} (target <= 1.2)")
        latency = abort_latency(work, args.grace)
        print(f"abort of a command that ignores SIGTERM, grace {args.grace:g} s: {latency:.2f} s "
              f"(target <= {args.grace + 1:g} s)")  # fmt: skip


if __name__ == "__main__":
    main()
