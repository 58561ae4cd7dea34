"""What handing work between two Python threads costs on this machine.

The durable dispatch benchmark has two threads each committing to SQLite once per job:
the one that puts and the worker. ``sqlite3`` releases the GIL around every statement,
so each commit lets the other thread in, and the committing thread must then wait to
get the GIL back. This models that pattern without labqueue: a producer that does some
Python work and inserts a row, a consumer that takes the row and does Python work and
one update, the same work as one thread alone, and the same two threads pinned to one
core (Linux only), where a released GIL is not taken by the other core at once.

Prints microseconds per item for each, and the round trip of a plain lock ping-pong
between two threads.

    python bench/thread_handoff.py [--items 20000] [--work-us 8]
"""

from __future__ import annotations

import argparse
import collections
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path


def busy(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i
    return total


def loops_for(microseconds: float) -> int:
    """Iterations of :func:`busy` that take about ``microseconds``."""
    loops = 100_000
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        busy(loops)
        timings.append(time.perf_counter() - start)
    per_loop = min(timings) / loops
    return max(0, round(microseconds * 1e-6 / per_loop))


def open_table(folder: str) -> sqlite3.Connection:
    """A table set up as the journal's: WAL, synchronous=NORMAL, exclusive lock, 1 KB pages."""
    conn = sqlite3.connect(Path(folder) / "model.db", isolation_level=None, check_same_thread=False)
    for pragma in ("page_size = 1024", "locking_mode = EXCLUSIVE", "journal_mode = WAL", "synchronous = NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("CREATE TABLE items (seq INTEGER PRIMARY KEY, status TEXT, at REAL)")
    return conn


def one_thread(items: int, loops: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        conn = open_table(folder)
        start = time.perf_counter()
        for i in range(items):
            busy(loops)
            conn.execute("INSERT INTO items VALUES (?, 'queued', 0)", (i,))
            conn.execute("UPDATE items SET status = 'done', at = ? WHERE seq = ?", (time.time(), i))
            busy(loops)
        elapsed = time.perf_counter() - start
        conn.close()
    return elapsed


def two_threads(items: int, loops: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        conn = open_table(folder)
        write_lock = threading.Lock()
        available = threading.Condition()
        pending: collections.deque[int] = collections.deque()

        def consume() -> None:
            for _ in range(items):
                with available:
                    while not pending:
                        available.wait()
                    i = pending.popleft()
                with write_lock:
                    conn.execute("UPDATE items SET status = 'done', at = ? WHERE seq = ?", (time.time(), i))
                busy(loops)

        consumer = threading.Thread(target=consume)
        consumer.start()
        start = time.perf_counter()
        for i in range(items):
            busy(loops)
            with write_lock:
                conn.execute("INSERT INTO items VALUES (?, 'queued', 0)", (i,))
            with available:
                pending.append(i)
                available.notify()
        consumer.join()
        elapsed = time.perf_counter() - start
        conn.close()
    return elapsed


def pinned_to_one_core(run, *args) -> float | None:
    """``run(*args)`` with this thread, and the threads it starts, on one core; None if
    the system cannot pin threads."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        return run(*args)
    finally:
        os.sched_setaffinity(0, cores)


def lock_round_trip(rounds: int) -> float:
    """Seconds per round trip of a lock ping-pong: each side wakes the other once."""
    ping, pong = threading.Lock(), threading.Lock()
    ping.acquire()
    pong.acquire()

    def answer() -> None:
        for _ in range(rounds):
            ping.acquire()
            pong.release()

    other = threading.Thread(target=answer)
    other.start()
    start = time.perf_counter()
    for _ in range(rounds):
        ping.release()
        pong.acquire()
    elapsed = time.perf_counter() - start
    other.join()
    return elapsed / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--work-us", type=float, default=8.0, help="Python work per item on each side")
    args = parser.parse_args()
    loops = loops_for(args.work_us)

    def best(run) -> float:
        return min(run(args.items, loops) for _ in range(3)) * 1e6 / args.items

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores: {cores}")
    print(f"items: {args.items}, Python work per item on each side: {args.work_us:.0f} us")
    print(f"one thread, all the work:           {best(one_thread):6.1f} us")
    print(f"two threads:                        {best(two_threads):6.1f} us")
    pinned = pinned_to_one_core(best, two_threads)
    if pinned is not None:
        print(f"two threads pinned to one core:     {pinned:6.1f} us")
    print(f"lock ping-pong round trip:          {lock_round_trip(args.items) * 1e6:6.1f} us")


if __name__ == "__main__":
    main()
