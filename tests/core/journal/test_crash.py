"""Crash tests: a real child process queues 1,000 experiments and is killed with SIGKILL.

The child (``crash_child.py``) acknowledges on a pipe what has happened; the parent
kills it at a seeded point (inside a job, inside a put_many transaction, between two
jobs, or at an arbitrary acknowledgement while everything runs), then opens a new
Manager on the same directory and checks that the journal holds exactly what was
acknowledged: every acknowledged put, in order; every acknowledged outcome with its
result; at most one INTERRUPTED; and of the put in flight, all of it or nothing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from labqueue import ExpStatus, Interrupted, Manager

from .crash_child import EXPERIMENTS, plan

CHILD = Path(__file__).with_name("crash_child.py")
KILL_POINTS = 24
SEED = 20240611
CHILD_TIMEOUT_S = 60


def kill_points() -> list[tuple[str, int, int]]:
    """(hold kind, hold at, plan seed): a quarter of each kind, drawn from SEED."""
    rng = random.Random(SEED)
    points = []
    for n in range(KILL_POINTS):
        kind = ("job", "put_many", "between", "none")[n % 4]
        seed = rng.randrange(1_000_000)
        if kind == "put_many":
            in_batches = [i for step in plan(seed) if len(step) > 1 for i in step[1:]]
            at = rng.choice(in_batches)
        elif kind == "none":
            at = rng.randrange(50, 2 * EXPERIMENTS)  # the acknowledgement after which to kill
        else:
            at = rng.randrange(EXPERIMENTS)
        points.append((kind, at, seed))
    return points


class Acknowledged:
    """What the child said before it died."""

    def __init__(self, lines: list[str]) -> None:
        self.put: list[int] = []
        self.started: set[int] = set()
        self.done: dict[int, str] = {}
        for line in lines:
            word, *numbers = line.split()
            if word == "put":
                self.put.append(int(numbers[0]))
            elif word == "batch":
                self.put += range(int(numbers[0]), int(numbers[1]))
            elif word == "start":
                self.started.add(int(numbers[0]))
            elif word == "done":
                self.done[int(numbers[0])] = numbers[1]


def run_child(data_dir: Path, kind: str, at: int, seed: int, stderr_path: Path) -> Acknowledged:
    env = dict(os.environ, CRASH_CHILD="1")
    if kind == "job":
        env["CRASH_HOLD_JOB"] = str(at)
    with open(stderr_path, "wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(data_dir), str(seed), kind, str(at)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    try:
        lines = []
        for raw in child.stdout:
            line = raw.decode().strip()
            lines.append(line)
            if line in ("holding", "idle") or (kind == "none" and len(lines) == at):
                break
        else:
            pytest.fail(f"the child ended before its kill point; stderr: {stderr_path.read_text()}")
        assert line != "idle" or kind == "none", "the child never reached its hold point"
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()  # what it wrote before the signal landed is acknowledged too
        assert child.wait(CHILD_TIMEOUT_S) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    complete = rest.decode().split("\n")[:-1]  # a line cut short by the kill is not acknowledged
    return Acknowledged(lines + [line.strip() for line in complete])


def index(exp) -> int:
    return int(exp.id, 16)


def check_journal(data_dir: Path, told: Acknowledged, seed: int, kind: str, at: int) -> None:
    manager = Manager(data_dir=data_dir, pause_on_failure=False)
    try:
        everything = manager.job_queue.queue
        by_index = {index(exp): exp for exp in everything}
        assert len(by_index) == len(everything)
        check_hold_point({i: exp.status for i, exp in by_index.items()}, kind, at)

        # Every acknowledged put is there; of the unacknowledged, only the whole put in flight.
        assert set(told.put) <= set(by_index)
        acknowledged = set(told.put)
        in_flight = next((set(step) for step in plan(seed) if step.start not in acknowledged), set())
        extra = set(by_index) - acknowledged
        assert extra in (set(), in_flight), f"half a put survived: {sorted(extra)[:10]}..."

        # Acknowledged outcomes are stored with their results and captured log lines.
        for i, status in told.done.items():
            exp = by_index[i]
            assert exp.status.name == status
            if status == "FINISHED":
                assert exp.result(0) == i * i
            else:
                with pytest.raises(ValueError, match=f"bad point {i}"):
                    exp.result(0)
                assert "ValueError" in exp.traceback
            assert any(f"point {i}" in line for line in exp.log_lines())

        # At most one was running; it comes back INTERRUPTED, never as done.
        interrupted = [exp for exp in everything if exp.status is ExpStatus.INTERRUPTED]
        assert len(interrupted) <= 1
        for exp in interrupted:
            assert index(exp) not in told.done
            with pytest.raises(Interrupted):
                exp.result(0)
        for i in told.started - set(told.done):
            assert by_index[i].status in (ExpStatus.INTERRUPTED, ExpStatus.FINISHED, ExpStatus.FAILED)

        # The queued ones are the rest of the put order, in that order.
        queued = [index(exp) for exp in manager.job_queue.queued]
        ran = [i for i, exp in by_index.items() if exp.status is not ExpStatus.QUEUED]
        assert queued == sorted(queued)
        assert not ran or not queued or min(queued) > max(ran)
        assert all(exp.status is ExpStatus.QUEUED for exp in manager.job_queue.queued)
        assert manager.paused == bool(queued or interrupted)

        # And they still run: their calls (defined in the child's __main__) came back by value.
        manager.resume_worker()
        assert manager.wait_until_idle(timeout=120)
        for i in queued:
            exp = by_index[i]
            if i % 37 == 5:
                assert exp.status is ExpStatus.FAILED
            else:
                assert exp.result(0) == i * i
    finally:
        manager.shutdown()


def check_hold_point(status: dict[int, ExpStatus], kind: str, at: int) -> None:
    """Where the child was held, the journal is exactly at that step."""
    if kind == "put_many":
        assert at not in status  # its transaction never committed
    if kind == "job":
        assert status[at] is ExpStatus.INTERRUPTED
    if kind == "between":
        assert status[at] in (ExpStatus.FINISHED, ExpStatus.FAILED)
    if kind in ("job", "between"):
        assert {s for i, s in status.items() if i > at} <= {ExpStatus.QUEUED}


@pytest.mark.parametrize(("kind", "at", "seed"), kill_points())
def test_sigkill_keeps_exactly_what_was_acknowledged(tmp_path, kind, at, seed):
    data_dir = tmp_path / "lab"
    told = run_child(data_dir, kind, at, seed, tmp_path / "child-stderr.txt")
    if kind == "job":
        assert at in told.started and at not in told.done
    if kind == "between":
        assert at in told.done
    check_journal(data_dir, told, seed, kind, at)
