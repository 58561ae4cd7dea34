"""The Dask lane: isolated calls and command runs as tasks on a Dask cluster.

Without an address the lane starts an embedded :class:`distributed.LocalCluster`
(worker processes sized from the CPU count, no dashboard unless asked) when its
first experiment is taken, and closes it when the lane stops. With one it connects
to that scheduler (one started by ``dask scheduler``, or by dask-jobqueue on a batch
cluster). ``distributed`` is imported only then, so labqueue runs without it.

Each experiment is taken from the queue like any lane's (in queue order, a sweep's
``max_parallel`` respected), submitted with ``pure=False`` (replicates are never
merged) and completed on the queue with its outcome, its relayed reports and log
records. Several ready ones go to the cluster in one ``client.map``. Dask cannot
interrupt a running task (dask/distributed#4694): abort sets the experiment's
:class:`distributed.Event`, which ``checkpoint()`` reads on the worker; a task that
has not stopped after the grace period has its worker restarted, and the
experiment's error says which of the two happened.
"""

from __future__ import annotations

import logging
import os
import queue as std_queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cloudpickle

from ..engine import (
    DASK_LANE,
    Aborted,
    Experiment,
    ExperimentQueue,
    ExpStatus,
    Interrupted,
    failure_message,
    format_failure,
)
from .command import command_of
from .dask_task import TaskSpec, abort_event_name, run_dask_task
from .isolated import IsolatedCallFailed, Relay, _configured_levels, _record
from .lane import LaneStatistics, QueueLane
from .process_lane import DEFAULT_KILL_GRACE_S

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "ClusterInfo",
    "DaskLane",
    "DaskUnavailable",
    "DaskWorkerDied",
    "DaskWorkerRestarted",
]

logger = logging.getLogger("labqueue")

#: Seconds to wait for a scheduler to answer before the lane says it cannot be reached.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
#: Experiments handed to the cluster at least, whatever its size: an adaptive cluster
#: with no worker yet must see work to grow, and small tasks need maps of many (with 8,
#: 10,000 tiny tasks on two workers took 1.8 times as long as one client.map; with 32, 1.15).
MIN_IN_FLIGHT = 32
#: What a running experiment says until its task reports progress of its own.
ON_THE_CLUSTER = "on the Dask cluster"
#: Seconds an ended task's relayed reports may still take to arrive.
RELAY_WAIT_S = 5.0
#: Seconds between two looks at the cluster (workers, threads, memory).
CLUSTER_INFO_S = 1.0
#: Dask's own re-runs of a task whose worker died: one, then it fails (embedded cluster).
ALLOWED_FAILURES = 1
INSTALL_HINT = "the Dask lane needs Dask distributed: pip install labqueue[dask]"


class DaskUnavailable(RuntimeError):
    """The Dask lane cannot run: distributed is not installed, or the scheduler cannot be reached."""


class DaskWorkerDied(RuntimeError):
    """The Dask workers running an experiment died more often than the scheduler allows."""


class DaskWorkerRestarted(Aborted):
    """An aborted task did not stop at a checkpoint within the grace period: its worker was restarted."""


@dataclass(frozen=True)
class ClusterInfo:
    """What the window shows of the cluster: where it is, its workers, threads and memory."""

    address: str
    embedded: bool
    workers: int
    threads: int
    memory_bytes: int
    state: str  # "starting", "connected", or why the lane is paused

    @property
    def text(self) -> str:
        where = "local cluster" if self.embedded else self.address
        if self.state != "connected":
            return f"Dask {where}: {self.state}"
        gib = self.memory_bytes / 2**30
        return f"Dask {where}: {self.workers} workers · {self.threads} threads · {gib:.1f} GiB"


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailable(INSTALL_HINT) from exc
    return distributed


class _Task:
    """A submitted experiment: its future and what became of an abort of it."""

    __slots__ = ("experiment", "future", "abort_note", "received", "worker", "worker_restarted", "outcome")

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.future = None
        self.abort_note: str | None = None
        self.received = 0
        self.worker: str | None = None
        self.worker_restarted = False
        self.outcome: bytes | None = None  # the pickled outcome, when it came as an event


class DaskLane(QueueLane):
    """Runs the queue's Dask-lane experiments as tasks on a Dask cluster.

    Args:
        queue: the queue to take experiments from.
        running: the manager's event, set while experiments may start.
        result_queue: receives each non-None result, as the worker's do.
        relay: where the tasks' progress, data and log records go.
        address: the scheduler to use; None: an embedded LocalCluster.
        kill_grace: seconds from the abort event to the restart of a task's worker.
        connect_timeout: seconds a scheduler has to answer.
        n_workers: workers of the embedded cluster (default: the CPU count, one thread each).
        dashboard_address: the embedded cluster's dashboard (default: none).
        max_in_flight: experiments handed to the cluster at once (default: twice its
            threads, at least :data:`MIN_IN_FLIGHT`); the others wait in the queue.
        group_limit, pause_on_failure, checkpoints_wait: as for the process lane.
    """

    name = DASK_LANE

    def __init__(
        self,
        queue: ExperimentQueue,
        running: threading.Event,
        *,
        result_queue: std_queue.Queue,
        relay: Relay,
        address: str | None = None,
        kill_grace: float = DEFAULT_KILL_GRACE_S,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        n_workers: int | None = None,
        dashboard_address: str | None = None,
        max_in_flight: int | None = None,
        group_limit: Callable[[str], int | None] = lambda group_id: None,
        pause_on_failure: Callable[[Experiment], bool] = lambda experiment: False,
        checkpoints_wait: Callable[[], bool] | None = None,
    ) -> None:
        self._queue = queue
        self._running = running
        self._result_queue = result_queue
        self._relay = relay
        self.address = address
        self.kill_grace = kill_grace
        self.connect_timeout = connect_timeout
        self.n_workers = n_workers
        self.dashboard_address = dashboard_address
        self.max_in_flight = max_in_flight
        self._group_limit = group_limit
        self._pause_on_failure = pause_on_failure
        self._checkpoints_wait = checkpoints_wait or (lambda: not running.is_set())
        self._lock = threading.Lock()
        self._active: dict[Experiment, _Task] = {}
        self._by_id: dict[str, _Task] = {}
        self._relayed = threading.Condition(self._lock)
        self._running_in_group: Counter[str] = Counter()
        self._ended: Counter[ExpStatus] = Counter()
        # The connection, made on first use by the dispatching thread.
        self._client = None
        self._cluster = None
        self._completed = None  # distributed.as_completed of the submitted futures
        self._has_work = threading.Condition(threading.Lock())
        self._topic = f"labqueue-relay-{uuid.uuid4().hex}"
        self._go_event = f"labqueue-go-{uuid.uuid4().hex}"
        self._reports: std_queue.SimpleQueue = std_queue.SimpleQueue()
        self._info: ClusterInfo | None = None
        self._threads_in_cluster = 0
        self._paused_because: str | None = None
        self._used = False
        self._relaying = False
        self._started = False
        self._stopping = False
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- the lane interface ------------------------------------------------------------

    def kill(self, experiment: Experiment) -> bool:
        """Abort the running ``experiment``: cancelled on the cluster if no worker has
        started it, else asked to stop through its abort event and, if it has not after
        :attr:`kill_grace`, stopped by restarting its worker. It ends ABORTED, its error
        saying which happened. False if it is not running on this lane."""
        with self._lock:
            task = self._active.get(experiment)
            if task is None or task.abort_note is not None:
                return task is not None
            task.abort_note = "asked to stop"
        threading.Thread(target=self._abort, args=(task,), name="labqueue-dask-abort", daemon=True).start()
        return True

    def statistics(self) -> LaneStatistics:
        with self._lock:
            return LaneStatistics(
                self.name,
                self._capacity(),
                len(self._active),
                self._ended[ExpStatus.FINISHED],
                self._ended[ExpStatus.FAILED],
                self._ended[ExpStatus.ABORTED],
            )

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self._start_thread(self._serve, "labqueue-dask-dispatch")

    def stop(self, abort_running: bool = True, timeout: float | None = None) -> None:
        """Take no more; abort what runs (if asked: its abort event, then up to
        :attr:`kill_grace` to stop at a checkpoint), wait up to ``timeout`` for the tasks
        to end, cancel those left (ABORTED), then close the connection (and the embedded
        cluster, whose workers end with it; a scheduler's own workers are not restarted)."""
        self._stopping = True
        self._queue.wake()
        with self._lock:
            tasks = list(self._active.values())
        if abort_running:
            for task in tasks:
                if task.abort_note is None:
                    task.abort_note = "cancelled when labqueue stopped"
                self._set_abort_event(task)
            timeout = self.kill_grace if timeout is None else min(timeout, self.kill_grace)
        if not self._wait_for_tasks(timeout):
            with self._lock:
                tasks = list(self._active.values())
            for task in tasks:
                if task.abort_note is None:
                    task.abort_note = "cancelled when labqueue stopped"
            self._cancel_futures([task.future for task in tasks if task.future is not None])
            self._wait_for_tasks(self.connect_timeout)
        self._stopped.set()
        self._reports.put(None)
        with self._has_work:
            self._has_work.notify_all()
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(self.connect_timeout)
        self._disconnect()
        self._info = None

    # -- beyond the interface ----------------------------------------------------------

    def running_experiments(self) -> list[Experiment]:
        with self._lock:
            return list(self._active)

    @property
    def in_use(self) -> bool:
        """True once the lane has taken an experiment (it then has, or tries, a cluster)."""
        return self._used

    @property
    def paused_because(self) -> str | None:
        """Why the lane starts nothing (a scheduler lost or out of reach), or None."""
        return self._paused_because

    def use_address(self, address: str | None) -> None:
        """Use the scheduler at ``address`` (None: the embedded cluster) from the next
        connection on. ValueError while connected elsewhere."""
        if address == self.address:
            return
        if self._client is not None:
            raise ValueError(
                f"the Dask lane is connected to {self.address or 'its local cluster'}; "
                f"it cannot switch to {address or 'a local cluster'} while in use"
            )
        self.address = address

    def resume(self) -> None:
        """Go on after a lost or unreachable scheduler: the next experiment connects again."""
        if self._paused_because is None:
            return
        self._disconnect()
        self._paused_because = None
        logger.info("The Dask lane goes on: it connects again at its next experiment.")
        self._queue.wake()

    def cluster_info(self) -> ClusterInfo | None:
        """The cluster as last seen (refreshed every second on the lane's own thread; this
        never waits for the cluster), or None while the lane has not been used."""
        return self._info

    def follow_running(self) -> None:
        """The manager was paused or resumed: tell the tasks' checkpoints, and wake the lane."""
        client = self._client
        if client is not None:
            threading.Thread(target=self._set_go, args=(client,), name="labqueue-dask-go", daemon=True).start()
        self._queue.wake()

    # -- dispatching -------------------------------------------------------------------

    def _capacity(self) -> int:
        if self.max_in_flight is not None:
            return self.max_in_flight
        return max(MIN_IN_FLIGHT, 2 * self._threads_in_cluster)

    def _may_start(self) -> bool:
        return self._running.is_set() and self._paused_because is None and len(self._active) < self._capacity()

    def _may_start_batch(self) -> bool:
        """A new batch starts once half the experiments in flight have ended, so that many
        small tasks go in maps of many (each map is one graph update on the scheduler)
        while the workers still have the other half to run."""
        return self._may_start() and len(self._active) <= self._capacity() // 2

    def _serve(self) -> None:
        def should_stop() -> bool:
            return self._stopping

        while True:
            first = self._queue.wait_next_lane_job(self.name, self._may_start_batch, should_stop, self._claim)
            if first is None:
                return
            batch = [first]
            while True:  # the others ready now go in the same map
                exp = self._queue.wait_next_lane_job(self.name, self._may_start, should_stop, self._claim, block=False)
                if exp is None:
                    break
                batch.append(exp)
            try:
                self._dispatch(batch)
            except Exception as exc:  # the lane outlives anything a submission raises, as the worker does
                logger.exception("The Dask lane could not submit %d experiment(s)", len(batch))
                with self._lock:
                    unsent = [exp for exp in batch if exp in self._active and self._active[exp].future is None]
                for exp in unsent:
                    self._complete(exp, ExpStatus.FAILED, None, exc)

    def _claim(self, experiment: Experiment) -> bool:
        """Under the queue's journal order: True takes ``experiment`` (counted as in flight at once)."""
        with self._lock:
            if len(self._active) >= self._capacity():
                return False
            group_id = experiment.group_id
            if group_id is not None:
                limit = self._group_limit(group_id)
                if limit is not None and self._running_in_group[group_id] >= limit:
                    return False
                self._running_in_group[group_id] += 1
            task = _Task(experiment)
            self._active[experiment] = task
            self._by_id[experiment.id] = task
        return True

    def _dispatch(self, batch: list[Experiment]) -> None:
        self._used = True
        try:
            client = self._connected()
        except DaskUnavailable as exc:
            self._pause(str(exc))
            for exp in batch:
                self._complete(exp, ExpStatus.FAILED, None, exc)
            return
        levels = _configured_levels()
        specs, keys, ready = [], [], []
        for exp in batch:
            try:
                specs.append(self._spec(exp, levels))
            except IsolatedCallFailed as exc:
                self._complete(exp, ExpStatus.FAILED, None, exc)
                continue
            keys.append(f"{_key_name(exp)}-{exp.id}")
            ready.append(exp)
        if not ready:
            return
        for exp in ready:  # RUNNING from here, though it may wait for a free worker: say where it is
            exp.progress = (None, ON_THE_CLUSTER)
        try:
            if len(ready) == 1:
                futures = [client.submit(run_dask_task, specs[0], key=keys[0], pure=False)]
            else:
                futures = client.map(run_dask_task, specs, key=keys, pure=False)
        except Exception as exc:  # the connection broke as we submitted
            self._pause(f"cannot submit to the Dask scheduler at {self._where()}: {exc}")
            for exp in ready:
                self._complete(exp, ExpStatus.INTERRUPTED, None, Interrupted(self._paused_because))
            return
        with self._lock:
            for exp, future in zip(ready, futures, strict=True):
                self._active[exp].future = future
            late_aborts = [self._active[exp] for exp in ready if self._active[exp].abort_note is not None]
        with self._has_work:
            self._completed.update(futures)
            self._has_work.notify_all()
        for task in late_aborts:  # aborted while it was being submitted
            threading.Thread(target=self._abort, args=(task,), daemon=True).start()

    def _spec(self, exp: Experiment, levels: dict[str, int]) -> TaskSpec:
        command = command_of(exp)
        payload = None
        if command is None:
            try:
                payload = cloudpickle.dumps((exp.func, exp.args, exp.kwargs))
            except Exception as exc:
                raise IsolatedCallFailed(
                    f"{exp.title} cannot be sent to the Dask cluster: {type(exc).__name__}: {exc}"
                ) from exc
        return TaskSpec(exp.id, exp.title, payload, command, self._topic, self._go_event, self.kill_grace, levels)

    # -- the connection ----------------------------------------------------------------

    def _where(self) -> str:
        return self.address or "the local cluster"

    def _connected(self):
        """The client, connecting first (in the dispatching thread) if needed. Raises DaskUnavailable."""
        client = self._client
        if client is not None and client.status == "running":
            return client
        if client is not None:
            self._disconnect()
        distributed = _distributed()
        self._info = ClusterInfo(self.address or "", self.address is None, 0, 0, 0, "starting")
        try:
            if self.address is None:
                import dask

                n_workers = self.n_workers or max(1, os.cpu_count() or 1)
                with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
                    self._cluster = distributed.LocalCluster(
                        n_workers=n_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=self.dashboard_address,
                        # Without a dashboard the scheduler still serves its health page: on
                        # a free port, not on 8787 where another cluster may be.
                        scheduler_kwargs=None if self.dashboard_address else {"dashboard_address": ":0"},
                        silence_logs=logging.ERROR,
                    )
                client = distributed.Client(self._cluster, timeout=self.connect_timeout, set_as_default=False)
            else:
                client = distributed.Client(self.address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self._close_cluster()
            raise DaskUnavailable(
                f"cannot reach the Dask scheduler at {self._where()} within {self.connect_timeout:g} s: {exc}"
            ) from exc
        client.subscribe_topic(self._topic, self._reports.put)
        self._client = client
        self._completed = distributed.as_completed(loop=client.loop)
        self._set_go(client)
        self._refresh_info()
        if not self._relaying:
            self._relaying = True
            self._start_thread(self._relay_reports, "labqueue-dask-relay")
        for target, name in ((self._collect, "labqueue-dask-collect"), (self._watch_cluster, "labqueue-dask-cluster")):
            self._start_thread(target, name, client)
        logger.info("The Dask lane uses %s (%s).", self._where(), client.scheduler.address)
        return client

    def _start_thread(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _set_go(self, client) -> None:
        event = _distributed().Event(self._go_event, client=client)
        try:
            if self._checkpoints_wait():
                event.clear()
            else:
                event.set()
        except Exception as exc:  # the scheduler is gone: the lane is paused by the tasks' ends
            logger.debug("Could not tell the Dask tasks the queue's state: %s", exc)

    def _pause(self, reason: str) -> None:
        with self._lock:
            first = self._paused_because is None
            self._paused_because = reason
        if first:
            logger.error("The Dask lane is paused: %s. Resume to try again.", reason)
            info = self._info
            if info is not None:
                self._info = ClusterInfo(info.address, info.embedded, 0, 0, 0, f"paused ({reason})")

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=self.connect_timeout)
            except Exception as exc:
                logger.debug("Closing the Dask client: %s", exc)
        self._close_cluster()

    def _close_cluster(self) -> None:
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            try:
                cluster.close(timeout=self.connect_timeout)
            except Exception as exc:
                logger.debug("Closing the local Dask cluster: %s", exc)

    def _refresh_info(self) -> None:
        client = self._client
        if client is None or self._paused_because is not None:
            return
        try:
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
        except Exception as exc:  # lost: the tasks' ends pause the lane
            logger.debug("Could not read the Dask cluster's workers: %s", exc)
            return
        threads = sum(w.get("nthreads", 0) for w in workers)
        memory = sum(w.get("memory_limit", 0) or 0 for w in workers)
        self._threads_in_cluster = threads
        self._info = ClusterInfo(
            self.address or client.scheduler.address, self.address is None, len(workers), threads, memory, "connected"
        )

    def _watch_cluster(self, client) -> None:
        while not self._stopped.wait(CLUSTER_INFO_S) and self._client is client:
            self._refresh_info()
            self._queue.wake()  # the cluster may have grown: more may go in flight

    # -- aborting ----------------------------------------------------------------------

    def _set_abort_event(self, task: _Task) -> None:
        client = self._client
        if client is None:
            return
        try:
            _distributed().Event(abort_event_name(task.experiment.id), client=client).set()
        except Exception as exc:
            logger.debug("Could not set the abort event of %s: %s", task.experiment.title, exc)

    def _abort(self, task: _Task) -> None:
        """On a thread of its own: stop ``task`` as :meth:`kill` says."""
        future = task.future
        client = self._client
        if future is None or client is None:
            return  # not submitted yet: _dispatch calls this again once it is
        worker = self._worker_of(client, future.key)
        if worker is None:
            task.abort_note = "cancelled on the Dask cluster before a worker started it"
            self._cancel_futures([future])
            return
        task.worker = worker
        self._set_abort_event(task)
        stopped = threading.Event()
        future.add_done_callback(lambda _: stopped.set())
        if stopped.wait(self.kill_grace):
            return  # at a checkpoint (or it ended anyway)
        if not _executing_on(client, worker, future.key):  # given to the worker, still waiting there
            task.abort_note = "cancelled on the Dask cluster before a worker started it"
            self._cancel_futures([future])
            return
        task.abort_note = (
            f"it did not stop at a checkpoint within {self.kill_grace:g} s, so its Dask worker {worker} was restarted"
        )
        task.worker_restarted = True
        self._cancel_futures([future])
        try:
            client.restart_workers([worker], timeout=max(30.0, self.connect_timeout), raise_for_error=False)
        except Exception as exc:
            logger.error("Could not restart the Dask worker %s: %s", worker, exc)

    @staticmethod
    def _worker_of(client, key: str) -> str | None:
        try:
            processing = client.processing()
        except Exception:
            return None
        return next((worker for worker, keys in processing.items() if key in keys), None)

    def _cancel_futures(self, futures: list) -> None:
        client = self._client
        if client is None or not futures:
            return
        try:
            client.cancel(futures, force=True)
        except Exception as exc:
            logger.debug("Could not cancel Dask tasks: %s", exc)

    # -- collecting --------------------------------------------------------------------

    def _collect(self, client) -> None:
        completed = self._completed
        while True:
            with self._has_work:
                while completed.is_empty() and not self._stopped.is_set() and self._client is client:
                    self._has_work.wait()
                if completed.is_empty():
                    return
            for batch in completed.batches():
                self._take_outcomes(client, batch)

    def _take_outcomes(self, client, futures: list) -> None:
        tasks = {}
        with self._lock:
            for future in futures:
                task = self._by_id.get(future.key.rsplit("-", 1)[-1])
                if task is not None:
                    tasks[future] = task
        # A small outcome comes as an event (the task returned None); a big one is gathered.
        finished = [f for f, task in tasks.items() if f.status == "finished" and f.type is not type(None)]
        outcomes: dict[str, Any] = {}
        if finished:
            try:
                outcomes = dict(zip((f.key for f in finished), client.gather(finished), strict=True))
            except Exception as exc:  # lost on the way: each is looked at below
                logger.debug("Could not gather %d Dask results at once: %s", len(finished), exc)
        for future, task in tasks.items():
            data = outcomes.get(future.key)
            if data is None and future.status == "finished" and future.type is type(None):
                with self._relayed:
                    self._relayed.wait_for(lambda task=task: task.outcome is not None, RELAY_WAIT_S)
                data = task.outcome
            try:
                self._end(task, future, data)
            except Exception:
                logger.exception("Could not record the outcome of %s", task.experiment.title)

    def _end(self, task: _Task, future, data: bytes | None) -> None:
        exp = task.experiment
        status = future.status
        reason = None
        if data is None and status == "finished":
            try:
                data = future.result(timeout=self.connect_timeout)
            except Exception as exc:
                reason = f"its result was lost: {type(exc).__name__}: {exc}"
        if data is not None:
            self._end_with_outcome(task, cloudpickle.loads(data))
            return
        if status == "error":
            exc = future.exception()
            if type(exc).__name__ == "KilledWorker":
                error = DaskWorkerDied(
                    f"{exp.title}: the Dask worker running it died (killed, or out of memory) and so did the "
                    f"one it was given again; the scheduler gave up on it ({exc})"
                )
            else:
                error = DaskUnavailable(f"{exp.title} could not run on the Dask cluster: {type(exc).__name__}: {exc}")
            self._complete(exp, ExpStatus.FAILED, None, error)
            return
        reason = reason or _cancel_reason(future)
        if task.abort_note is not None:
            error_class = DaskWorkerRestarted if task.worker_restarted else Aborted
            self._complete(exp, ExpStatus.ABORTED, None, error_class(f"{exp.title} was aborted: {task.abort_note}"))
        elif reason == "scheduler-connection-lost" or self._paused_because is not None:
            self._pause(f"lost the Dask scheduler at {self._where()}")
            self._complete(exp, ExpStatus.INTERRUPTED, None, Interrupted(f"{exp.title}: {self._paused_because}"))
        else:
            self._complete(
                exp, ExpStatus.INTERRUPTED, None, Interrupted(f"{exp.title}: cancelled on the cluster ({reason})")
            )

    def _end_with_outcome(self, task: _Task, outcome: tuple) -> None:
        exp = task.experiment
        sent = outcome[-1]
        with self._relayed:  # its reports first, as a process-lane run has them all before it ends
            self._relayed.wait_for(lambda: task.received >= sent, RELAY_WAIT_S)
        if outcome[0] == "result":
            if task.abort_note is not None:
                self._complete(
                    exp, ExpStatus.ABORTED, outcome[1], Aborted(f"{exp.title} was aborted: {task.abort_note}")
                )
            else:
                self._complete(exp, ExpStatus.FINISHED, outcome[1], None)
            return
        _, exception, traceback_text, aborted, _ = outcome
        exp.traceback = traceback_text
        if aborted or task.abort_note is not None:
            note = task.abort_note if task.abort_note not in (None, "asked to stop") else "it stopped at a checkpoint"
            if task.abort_note == "asked to stop":
                task.abort_note = note
            self._complete(exp, ExpStatus.ABORTED, None, Aborted(f"{exp.title} was aborted: {note}"))
            return
        if not isinstance(exception, BaseException):
            exception = IsolatedCallFailed(traceback_text)
        self._complete(exp, ExpStatus.FAILED, None, exception)

    def _complete(self, exp: Experiment, status: ExpStatus, result: Any, exception: BaseException | None) -> None:
        with self._lock:
            task = self._active.pop(exp, None)
            self._by_id.pop(exp.id, None)
            if exp.group_id is not None:
                self._running_in_group[exp.group_id] -= 1
            self._ended[status] += 1
        if exception is not None and exp.traceback is None:
            exp.traceback = format_failure(exception)
        if status is ExpStatus.ABORTED and task is not None and task.abort_note not in (None, "asked to stop"):
            # Said in the log and kept with the experiment: Dask cannot interrupt a task,
            # so the window must tell a stop at a checkpoint from a restarted worker.
            note = f"{exp.title} was aborted: {task.abort_note}."
            exp.add_log_record(_record(time.time(), logging.WARNING, logger.name, note))
            logger.warning("%s", note)
        if status is ExpStatus.FAILED and self._pause_on_failure(exp):
            self._running.clear()  # before the outcome is announced, as the worker does
            logger.warning("Queue paused after %s failed; resume to continue.", exp.title)
        if result is not None and status is ExpStatus.FINISHED:
            self._result_queue.put(result)
        try:
            self._queue.lane_job_done(exp, status, result, exception=exception)
        except Exception:
            logger.exception("Could not record the outcome of %s", exp.title)
        if status is ExpStatus.FAILED:
            logger.error("%s failed: %s", exp.title, failure_message(exception))
        if task is not None and task.abort_note is not None and self._client is not None:
            self._clear_abort_event(exp)
        with self._has_work:
            self._has_work.notify_all()

    def _clear_abort_event(self, exp: Experiment) -> None:
        try:
            _distributed().Event(abort_event_name(exp.id), client=self._client).clear()
        except Exception as exc:
            logger.debug("Could not clear the abort event of %s: %s", exp.title, exc)

    def _wait_for_tasks(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._has_work:
            while self._active:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._has_work.wait(remaining)
        return True

    # -- relaying ----------------------------------------------------------------------

    def _relay_reports(self) -> None:
        """Apply the tasks' reports, in the order they came (a thread of its own: the
        subscription's handler runs on the client's event loop, which must not wait)."""
        while True:
            event = self._reports.get()
            if event is None:
                return
            _, message = event
            with self._lock:
                task = self._by_id.get(message["id"])
            if task is None:
                continue
            if "outcome" in message:
                with self._relayed:
                    task.outcome = message["outcome"]
                    self._relayed.notify_all()
                continue
            try:
                self._apply_report(task.experiment, cloudpickle.loads(message["data"]))
            except Exception:
                logger.exception("Could not apply a report of %s", task.experiment.title)
            with self._relayed:
                task.received += 1
                self._relayed.notify_all()

    def _apply_report(self, exp: Experiment, report: tuple) -> None:
        kind = report[0]
        if kind == "progress":
            self._relay.relay_progress(exp, report[1], report[2])
        elif kind == "publish":
            self._relay.relay_data(exp, *report[1:])
        elif kind == "log":
            _, created, levelno, name, text = report
            self._relay.relay_log(exp, _record(created, levelno, name, text))


def _key_name(exp: Experiment) -> str:
    """The task's name on the dashboard: the call's or the command's program."""
    return "".join(c if c.isalnum() or c in "_." else "_" for c in getattr(exp.func, "__qualname__", "call"))[:60]


def _executing_on(client, worker: str, key: str) -> bool:
    """Whether ``worker`` runs the task ``key`` now (True when it cannot be asked: a
    restart is then the safe side of an abort)."""

    def executing(dask_worker, key=key) -> bool:
        task = dask_worker.state.tasks.get(key)
        return task is not None and task.state in ("executing", "long-running")

    try:
        return bool(client.run(executing, workers=[worker]).get(worker, True))
    except Exception:
        return True


def _cancel_reason(future) -> str:
    """Why Dask cancelled ``future`` ("scheduler-connection-lost", ...), from its state:
    asking for its result would go through the event loop of a client that may be gone."""
    error = getattr(getattr(future, "_state", None), "exception", None)
    return getattr(error, "reason", None) or "unknown"
