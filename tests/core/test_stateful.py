"""Hypothesis state machine: queue operations from several threads against a live worker.

After every step: done() holds exactly in terminal states, no experiment is lost or
duplicated in the snapshot, none has run twice, qsize agrees with the snapshot, and
cancelled futures raise CancelledError. At teardown every experiment has ended in
exactly one terminal state, with its done-callbacks called exactly once. An abort
asked for from a slot on ``status_changed_signal`` as a job starts is never lost: it
returns True and that job ends ABORTED.
"""

import threading
from collections import Counter
from concurrent.futures import CancelledError

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from labqueue import Experiment, ExpStatus, Manager, checkpoint, current_experiment

TIMEOUT = 20

runs = Counter()
runs_lock = threading.Lock()


def lab_job(steps: int, outcome: str):
    """A job of random length (in short waits) whose outcome is chosen by the test."""
    with runs_lock:
        runs[current_experiment().id] += 1
    pause = threading.Event()
    for _ in range(steps):
        checkpoint()
        pause.wait(0.0005)
    if outcome == "fail":
        raise RuntimeError("simulated instrument error")
    return steps


job_specs = st.tuples(st.integers(0, 4), st.sampled_from(["ok", "ok", "ok", "fail"]))


class QueueMachine(RuleBasedStateMachine):
    @initialize(pause_on_failure=st.booleans())
    def start(self, pause_on_failure):
        runs.clear()
        self.manager = Manager(pause_on_failure=pause_on_failure)
        self.queue = self.manager.job_queue
        self.known: list[Experiment] = []
        self.callbacks = Counter()
        self.aborts_armed = 0  # the next this many jobs are aborted by a slot as they start
        self.slot_aborts: list[tuple[Experiment, bool]] = []
        self.queue.status_changed_signal.connect(self._abort_as_it_starts)

    def _abort_as_it_starts(self, index, status, exp):
        if status is not ExpStatus.RUNNING:
            return
        with runs_lock:
            if not self.aborts_armed:
                return
            self.aborts_armed -= 1
        self.slot_aborts.append((exp, self.manager.abort_job()))

    def teardown(self):
        manager = self.manager
        manager.resume_worker()
        # A failure may pause the queue again: keep resuming until nothing is queued.
        while True:
            assert manager.wait_until_idle(TIMEOUT)
            if not self.queue.qsize("queued"):
                break
            manager.resume_worker()
        manager.shutdown(timeout=TIMEOUT)
        for exp in self.known:
            assert exp.done() and exp.status.is_terminal, exp
            assert self.callbacks[exp.id] == 1, exp
            assert runs[exp.id] == (1 if exp.status in (ExpStatus.FINISHED, ExpStatus.FAILED) else runs[exp.id])
            assert runs[exp.id] <= 1
        for exp, answered in self.slot_aborts:
            assert answered and exp.status is ExpStatus.ABORTED, exp

    def _new(self, spec):
        exp = Experiment(lab_job, spec)
        exp.add_done_callback(lambda f: self._count_callback(f))
        self.known.append(exp)
        return exp

    def _count_callback(self, exp):
        with runs_lock:
            self.callbacks[exp.id] += 1

    def _queued_sample(self, data_index):
        queued = self.queue.queued
        return queued[data_index % len(queued)] if queued else None

    # -- operations, each also run concurrently from several threads ---------------------

    def _op(self, name, spec, index):
        q = self.queue
        if name == "put":
            q.put(self._new(spec))
        elif name == "put_many":
            q.put_many([self._new(spec) for _ in range(3)])
        elif name == "remove":
            exp = self._queued_sample(index)
            if exp is not None:
                q.remove([exp])
        elif name == "remove_index":
            try:
                q.remove_item(index % max(1, q.qsize()))
            except (ValueError, IndexError):
                pass  # it was running, finished, or the queue changed under us: refused cleanly
        elif name == "clear":
            q.clear()
        elif name == "move":
            exp = self._queued_sample(index)
            if exp is not None:
                try:
                    q.move(exp, index % 5)
                except ValueError:
                    pass  # started meanwhile
        elif name == "requeue":
            ended = [e for e in self.known if e.done()]
            if ended:
                again = q.requeue(ended[index % len(ended)])
                again.add_done_callback(lambda f: self._count_callback(f))
                self.known.append(again)
        elif name == "pause":
            self.manager.pause_worker()
        elif name == "resume":
            self.manager.resume_worker()
        elif name == "abort":
            self.manager.abort_job()
        elif name == "abort_from_slot":
            with runs_lock:
                self.aborts_armed += 1
        elif name == "cancel":
            exp = self._queued_sample(index)
            if exp is not None:
                exp.cancel()

    ops = st.sampled_from(
        [
            "put",
            "put",
            "put_many",
            "remove",
            "remove_index",
            "clear",
            "move",
            "requeue",
            "pause",
            "resume",
            "abort",
            "abort_from_slot",
            "cancel",
        ]
    )

    @rule(name=ops, spec=job_specs, index=st.integers(0, 50))
    def single(self, name, spec, index):
        self._op(name, spec, index)

    @rule(batch=st.lists(st.tuples(ops, job_specs, st.integers(0, 50)), min_size=2, max_size=4))
    def concurrently(self, batch):
        barrier = threading.Barrier(len(batch))
        errors = []

        def run(op):
            try:
                barrier.wait(TIMEOUT)
                self._op(*op)
            except Exception as exc:  # collected: an assertion below reports it
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(op,)) for op in batch]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        assert not errors, errors

    @rule(index=st.integers(-30, 30))
    def remove_by_index(self, index):
        """remove_item(i) cancels the experiment at i in the ``queue`` snapshot and no
        other, as in CustomXepr, while the worker runs: a job starting or ending keeps
        every experiment at its index."""
        q = self.queue
        before = q.queue
        try:
            q.remove_item(index)
        except IndexError:
            assert not -len(before) <= index < len(before)
            return
        except ValueError:
            assert before[index].status not in (ExpStatus.QUEUED, ExpStatus.CANCELLED), "a queued one was refused"
            return
        victim = before[index]
        assert victim.status is ExpStatus.CANCELLED
        assert q.queue == [exp for exp in before if exp is not victim]

    @rule()
    def run_until_idle(self):
        """Resume and let the worker run until the queue is empty or a failure pauses it."""
        self.manager.resume_worker()
        assert self.manager.wait_until_idle(TIMEOUT)

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def done_exactly_in_terminal_states(self):
        for exp in self.known:
            before = exp.status
            done = exp.done()
            after = exp.status
            if before.is_terminal:
                assert done, exp
            if done:
                assert after.is_terminal, exp

    @invariant()
    def snapshot_is_consistent_and_loses_nothing(self):
        q = self.queue
        with q._lock:  # one consistent moment, while the worker keeps running
            in_queue = q.queue
            everything = q.snapshot().experiments
            sizes = (q.qsize("history"), q.qsize("running"), q.qsize("queued"), q.qsize())
        assert sizes[3] == len(in_queue) == sizes[0] + sizes[1] + sizes[2]
        ids = [e.id for e in everything]
        assert len(ids) == len(set(ids)), "an experiment appears twice"
        assert set(ids) == {e.id for e in self.known}, "an experiment was lost"
        cancelled = {e.id for e in everything} - {e.id for e in in_queue}
        assert all(q.get(i).status is ExpStatus.CANCELLED for i in cancelled), "only cancelled ones leave the queue"
        assert not any(e.status is ExpStatus.CANCELLED for e in in_queue[: sizes[0]])
        assert sizes[1] <= 1
        queued_part = in_queue[sizes[0] + sizes[1] :]
        assert all(e.status in (ExpStatus.QUEUED, ExpStatus.CANCELLED) for e in queued_part)

    @invariant()
    def aborts_from_slots_are_never_lost(self):
        for exp, answered in list(self.slot_aborts):
            assert answered, f"abort_job() from a slot as {exp!r} started returned False"
            if exp.done():
                assert exp.status is ExpStatus.ABORTED, exp

    @invariant()
    def nothing_ran_twice(self):
        assert all(count <= 1 for count in runs.values())

    @invariant()
    def cancelled_futures_raise_cancelled_error(self):
        for exp in self.known:
            if exp.status is ExpStatus.CANCELLED:
                try:
                    exp.result(timeout=0)
                except CancelledError:
                    continue
                raise AssertionError(f"{exp!r} did not raise CancelledError")


QueueMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueMachine = QueueMachine.TestCase
