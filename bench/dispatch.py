"""Dispatch overhead of labqueue against ThreadPoolExecutor(max_workers=1), same process.

Prints microseconds per job for both and their ratio (target <= 2.0), the median time
from ``put`` on an idle worker to the call starting (target <= 0.2 ms), and the memory
per queued experiment (target <= 2 KB).

The durable mode runs the same jobs with the journal on (``Manager(data_dir=...)`` in
a temporary directory: three SQLite commits per job) against the same pool (target
ratio <= 3.0), and times a ``put_many`` of 100,000 experiments (target <= 2 s) and the
start of a manager whose journal holds them all queued (target <= 2 s). It also
prints the floor under the durable ratio: the in-memory manager plus the journal's
writes timed alone on one thread, with no second thread to hand the GIL to (see
``bench/thread_handoff.py`` for what that handing costs on this machine).

    python bench/dispatch.py [--jobs 20000] [--mode memory|durable|both]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from labqueue import Experiment, ExpStatus, Manager  # noqa: E402
from labqueue.core.journal import JOURNAL_FILE, Journal  # noqa: E402


def noop() -> None:
    return None


def bench_thread_pool(jobs: int) -> float:
    """Seconds to submit and finish ``jobs`` no-op calls on one pool thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(noop).result()  # thread started before timing
        start = time.perf_counter()
        futures = [pool.submit(noop) for _ in range(jobs)]
        wait(futures)
        return time.perf_counter() - start


def bench_manager(jobs: int, **manager_options) -> float:
    """Seconds to queue and finish ``jobs`` no-op experiments, a slot on every signal."""
    manager = Manager(**manager_options)
    counts = {"added": 0, "removed": 0, "status": 0}
    queue = manager.job_queue

    def on_added(index, exp):
        counts["added"] += 1

    def on_removed(i_start, n_items, experiments):
        counts["removed"] += 1

    def on_status(index, status, exp):
        counts["status"] += 1

    queue.added_signal.connect(on_added)
    queue.removed_signal.connect(on_removed)
    queue.status_changed_signal.connect(on_status)
    manager.queued_exec(noop)().result()
    try:
        start = time.perf_counter()
        experiments = [Experiment(noop) for _ in range(jobs)]
        for exp in experiments:
            queue.put(exp)
        wait(experiments)
        elapsed = time.perf_counter() - start
    finally:
        manager.shutdown()
    assert counts["status"] == 2 * (jobs + 1), counts
    return elapsed


def start_latencies(samples: int) -> list[float]:
    """Seconds from put() on an idle worker to the call starting, per sample."""
    manager = Manager()
    started = threading.Event()
    start_time = [0.0]

    def mark() -> None:
        start_time[0] = time.perf_counter()
        started.set()

    latencies = []
    try:
        for _ in range(samples):
            exp = Experiment(mark)
            manager.wait_until_idle()
            started.clear()
            put_time = time.perf_counter()
            manager.job_queue.put(exp)
            started.wait(5)
            latencies.append(start_time[0] - put_time)
            exp.result(5)
    finally:
        manager.shutdown()
    return latencies


def memory_per_queued(count: int) -> float:
    """Bytes of Python heap per queued experiment (worker paused, so none runs)."""
    manager = Manager()
    manager.pause_worker()
    try:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        manager.job_queue.put_many(Experiment(noop) for _ in range(count))
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    finally:
        manager.shutdown()
    return (after - before) / count


def bench_durable(jobs: int) -> float:
    """:func:`bench_manager` with the journal on, in a fresh data directory."""
    with tempfile.TemporaryDirectory() as data_dir:
        return bench_manager(jobs, data_dir=data_dir)


def run_prefilled_durable(jobs: int) -> float:
    """Seconds to run ``jobs`` no-op experiments already queued in a journal (one
    put_many while paused, then resume): the overnight case, two commits per job and
    no thread putting at the same time."""
    with tempfile.TemporaryDirectory() as data_dir:
        manager = Manager(data_dir=data_dir)
        try:
            manager.pause_worker()
            experiments = [Experiment(noop) for _ in range(jobs)]
            manager.job_queue.put_many(experiments)
            start = time.perf_counter()
            manager.resume_worker()
            wait(experiments)
            return time.perf_counter() - start
        finally:
            manager.shutdown()


def journal_writes_alone(jobs: int) -> float:
    """Seconds for the journal's writes of ``jobs`` no-op experiments on one thread, with
    no queue, worker or second thread: store the call, RUNNING, the outcome."""
    with tempfile.TemporaryDirectory() as data_dir:
        journal = Journal(Path(data_dir) / JOURNAL_FILE)
        experiments = [Experiment(noop) for _ in range(jobs)]
        start = time.perf_counter()
        for exp in experiments:
            journal.record_added([exp], journal.prepare_added([exp]))
            exp.started_at = time.time()
            journal.record_started(exp)
            exp.finished_at = time.time()
            journal.record_finished(exp, ExpStatus.FINISHED, journal.prepare_outcome(exp, None, None))
        elapsed = time.perf_counter() - start
        journal.close()
    return elapsed


def put_many_and_restore(count: int) -> tuple[float, float]:
    """Seconds for one put_many of ``count`` experiments into a journal, and to start
    a manager on that journal (lock, open, check, restore them all queued)."""
    with tempfile.TemporaryDirectory() as data_dir:
        manager = Manager(data_dir=data_dir, start=False)
        experiments = [Experiment(noop) for _ in range(count)]
        start = time.perf_counter()
        manager.job_queue.put_many(experiments)
        put_seconds = time.perf_counter() - start
        manager.shutdown()
        del experiments, manager
        gc.collect()
        start = time.perf_counter()
        restored = Manager(data_dir=data_dir, start=False)
        restore_seconds = time.perf_counter() - start
        assert restored.job_queue.qsize("queued") == count
        restored.shutdown()
    return put_seconds, restore_seconds


def per_job_against_pool(jobs: int, bench) -> tuple[float, float]:
    """Microseconds per job of the pool and of ``bench(jobs)``: best of three, interleaved
    so that both see the same machine load."""
    pool_runs, runs = [], []
    for _ in range(3):
        pool_runs.append(bench_thread_pool(jobs))
        runs.append(bench(jobs))
    return min(pool_runs) / jobs * 1e6, min(runs) / jobs * 1e6


def print_in_memory(jobs: int) -> None:
    pool_us, manager_us = per_job_against_pool(jobs, bench_manager)
    print(f"jobs: {jobs}")
    print(f"ThreadPoolExecutor(max_workers=1): {pool_us:7.1f} us/job")
    print(f"labqueue Manager (in memory):     {manager_us:7.1f} us/job")
    print(f"ratio manager / pool:             {manager_us / pool_us:7.2f}  (target <= 2.0)")

    latencies = start_latencies(200)
    print(
        f"put -> call start on idle worker: median {statistics.median(latencies) * 1e3:.3f} ms, "
        f"p90 {statistics.quantiles(latencies, n=10)[-1] * 1e3:.3f} ms  (target median <= 0.2 ms)"
    )

    per_exp = memory_per_queued(10_000)
    print(f"memory per queued experiment:     {per_exp:7.0f} bytes  (target <= 2048)")


def print_durable(jobs: int, big: int) -> None:
    pool_us, durable_us = per_job_against_pool(jobs, bench_durable)
    print(f"jobs: {jobs}, journal on")
    print(f"ThreadPoolExecutor(max_workers=1): {pool_us:7.1f} us/job")
    print(f"labqueue Manager (durable):       {durable_us:7.1f} us/job")
    print(f"ratio durable / pool:             {durable_us / pool_us:7.2f}  (target <= 3.0)")
    memory_us = min(bench_manager(jobs) for _ in range(3)) / jobs * 1e6
    writes_us = min(journal_writes_alone(jobs) for _ in range(3)) / jobs * 1e6
    print(
        f"floor: in memory {memory_us:.1f} + journal writes alone {writes_us:.1f} = "
        f"{memory_us + writes_us:.1f} us/job ({(memory_us + writes_us) / pool_us:.2f} x pool)"
    )
    prefilled_us = run_prefilled_durable(jobs) / jobs * 1e6
    print(
        f"journal on, queue filled first, then run: {prefilled_us:7.1f} us/job "
        f"({prefilled_us / pool_us:.2f} x pool; two commits per job)"
    )
    put_seconds, restore_seconds = put_many_and_restore(big)
    print(f"put_many of {big:,} into the journal:   {put_seconds:6.2f} s  (target <= 2 s)")
    print(f"start with {big:,} queued in the journal: {restore_seconds:6.2f} s  (target <= 2 s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--mode", choices=("memory", "durable", "both"), default="both")
    parser.add_argument("--big", type=int, default=100_000, help="experiments for put_many and restore")
    args = parser.parse_args(argv)
    if args.mode in ("memory", "both"):
        print_in_memory(args.jobs)
    if args.mode in ("durable", "both"):
        print_durable(args.jobs, args.big)


if __name__ == "__main__":
    main()
