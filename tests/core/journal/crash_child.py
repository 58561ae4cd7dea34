"""Child process of tests/core/test_crash.py: queues 1,000 experiments and is killed.

Usage: ``python crash_child.py DATA_DIR SEED HOLD_KIND HOLD_AT``

It puts experiment ``i`` (ids are ``i`` in hex, so the parent knows them) singly or
by ``put_many`` following a plan drawn from SEED, while the worker runs them. Every
fact is acknowledged on stdout, one short line per ``os.write`` (atomic on a pipe),
only once it holds:

* ``put I`` / ``batch A B``: ``put(I)`` / ``put_many(A..B-1)`` returned;
* ``start I``: experiment I's call began (RUNNING was stored before);
* ``done I STATUS``: its outcome was stored (a done-callback, run after the journal write).

HOLD_KIND makes the child stop at an exact point and print ``holding``, where the
parent kills it: ``job`` inside the call of experiment HOLD_AT, ``put_many`` while
inserting the row of experiment HOLD_AT (the parent picks one put by put_many, so
this is inside that transaction), ``between`` after the
outcome of experiment HOLD_AT and before the next job, ``none`` nowhere. When all is
done it prints ``idle`` and waits to be killed too.
"""

import logging
import os
import random
import sys
import threading

from labqueue import Experiment, Manager, current_experiment

EXPERIMENTS = 1000


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def hold_forever() -> None:
    say("holding")
    threading.Event().wait()


def measure(i):
    """The experiment: defined in __main__, so the journal must store it by value.

    Run again by the parent after the restart, it acknowledges nothing."""
    if os.environ.get("CRASH_CHILD"):
        os.write(1, f"start {int(current_experiment().id, 16)}\n".encode())
    if os.environ.get("CRASH_HOLD_JOB") == str(i):
        os.write(1, b"holding\n")
        threading.Event().wait()
    logging.getLogger("crash").info("point %d", i)
    if i % 37 == 5:
        raise ValueError(f"bad point {i}")
    return i * i


def plan(seed: int) -> list[range]:
    """Steps of the put phase: single puts and put_many batches, 1,000 experiments in all."""
    rng = random.Random(seed)
    steps, start = [], 0
    while start < EXPERIMENTS:
        size = 1 if rng.random() < 0.6 else rng.randint(20, 250)
        size = min(size, EXPERIMENTS - start)
        steps.append(range(start, start + size))
        start += size
    return steps


def experiment(i: int, hold_between: bool) -> Experiment:
    exp = Experiment(measure, (i,))
    exp.id = f"{i:032x}"

    def acknowledge(done: Experiment) -> None:
        say(f"done {i} {done.status.name}")
        if hold_between:
            hold_forever()

    exp.add_done_callback(acknowledge)
    return exp


def hold_inside_insert(manager: Manager, index: int) -> None:
    """Stop while SQLite inserts the row of experiment ``index`` (inside its transaction)."""
    inserted = 0

    def trace(statement: str) -> None:
        nonlocal inserted
        if statement.startswith("INSERT INTO experiments"):
            if inserted == index:
                hold_forever()
            inserted += 1

    manager._journal._conn.set_trace_callback(trace)


def main() -> None:
    data_dir, seed, hold_kind, hold_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    logging.getLogger("crash").setLevel(logging.INFO)  # captured into each experiment
    manager = Manager(data_dir=data_dir, pause_on_failure=False)
    if hold_kind == "put_many":
        hold_inside_insert(manager, hold_at)
    for step in plan(seed):
        exps = [experiment(i, hold_kind == "between" and i == hold_at) for i in step]
        if len(step) == 1:
            manager.job_queue.put(exps[0])
            say(f"put {step.start}")
        else:
            manager.job_queue.put_many(exps)
            say(f"batch {step.start} {step.stop}")
    manager.wait_until_idle()
    say("idle")
    threading.Event().wait()


if __name__ == "__main__":
    main()
