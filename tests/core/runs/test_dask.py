"""The Dask lane on real clusters: a LocalCluster shared by the module (two small
workers), and a real ``dask scheduler`` + ``dask worker`` started as subprocesses."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import dask
import pytest
from distributed import Client, LocalCluster

from labqueue import ExpStatus, Manager
from labqueue.core.manager import checkpoint, publish, set_progress
from labqueue.core.runs import CommandExperiment, DaskUnavailable, DaskWorkerDied, DaskWorkerRestarted, is_finished
from labqueue.multirun import DaskRunner, multirun

from .helpers import child, wait_gone

TIMEOUT = 60
ROOT = Path(__file__).resolve().parents[3]
SWEEP_CHILD = Path(__file__).with_name("sweep_child.py")


@pytest.fixture(scope="module")
def cluster():
    """Two one-thread workers with little memory; Dask re-runs a task whose worker died once."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        made = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="300MiB",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
        )
    yield made
    made.close()


@pytest.fixture
def dask_manager(cluster):
    """``dask_manager(**kwargs)``: a Manager whose Dask lane uses the module's cluster."""
    made: list[Manager] = []

    def open_(**kwargs) -> Manager:
        kwargs.setdefault("dask_scheduler", cluster.scheduler_address)
        kwargs.setdefault("pause_on_failure", False)
        manager = Manager(**kwargs)
        made.append(manager)
        return manager

    yield open_
    for manager in made:
        manager.shutdown(timeout=30)


def ended(exp) -> ExpStatus:
    assert not futures.wait([exp], timeout=TIMEOUT).not_done, f"{exp!r} did not end"
    return exp.status


def tell(fifo: str, text: str) -> None:
    with open(fifo, "w") as f:
        f.write(text + "\n")


# -- the calls run on the workers --------------------------------------------------------


def reporting(n: int, fifo: str) -> int:
    set_progress(0.5, f"half of {n}")
    publish("signal", [0, 1], [n, n + 1], x_label="t", units="V")
    logging.getLogger("labqueue.test").warning("measured %d on %d", n, os.getpid())
    tell(fifo, str(n))  # once per run: replicates run twice
    return n * 10


def failing() -> None:
    raise ValueError("no signal on channel 3")


def looping(fifo: str) -> None:
    tell(fifo, str(os.getpid()))
    while True:
        checkpoint()
        threading.Event().wait(0.01)


def stuck(fifo: str) -> None:
    tell(fifo, str(os.getpid()))
    threading.Event().wait()  # never reaches a checkpoint


def param_square(x: int) -> int:
    return x * x


def test_calls_run_as_tasks_with_their_reports_and_replicates_apart(dask_manager, pipe):
    manager = dask_manager()
    call = manager.queued_exec(lane="dask")(reporting)
    first, replicate = call(4, str(pipe.path)), call(4, str(pipe.path))
    broken = manager.queued_exec(lane="dask")(failing)()
    assert first.result(TIMEOUT) == 40 and replicate.result(TIMEOUT) == 40
    assert sorted([pipe.line(), pipe.line()]) == ["4", "4"]  # pure=False: never merged into one task
    assert first.lane == "dask" and first.status is ExpStatus.FINISHED
    assert first.progress == (0.5, "half of 4")
    series = first.published.series["signal"]
    assert list(series.y) == [4, 5] and series.x_label == "t"
    [record] = [r for r in first.log_records if r.name == "labqueue.test"]
    assert record.getMessage().startswith("measured 4 on ") and record.levelno == logging.WARNING
    assert ended(broken) is ExpStatus.FAILED
    assert isinstance(broken.exception(), ValueError) and "no signal on channel 3" in broken.traceback
    assert "failing" in broken.traceback  # the worker's own traceback


def test_abort_stops_a_running_task_at_its_checkpoint_and_cancels_a_queued_one(dask_manager, pipe):
    manager = dask_manager(kill_grace=30)
    manager.dask_lane.max_in_flight = 1
    running = manager.queued_exec(lane="dask")(looping)(str(pipe.path))
    waiting = manager.queued_exec(lane="dask")(looping)(str(pipe.path))
    worker_pid = int(pipe.line())
    assert running.progress == (None, "on the Dask cluster")  # until it reports progress of its own
    assert waiting.status is ExpStatus.QUEUED
    assert manager.abort_experiment(waiting) and waiting.status is ExpStatus.CANCELLED
    assert manager.abort_experiment(running)
    assert ended(running) is ExpStatus.ABORTED
    assert running.traceback.rstrip().endswith("Aborted: aborted by request")  # the worker's own, at checkpoint()
    assert [r.getMessage() for r in running.log_records if "was aborted" in r.getMessage()] == [
        f"{running.title} was aborted: it stopped at a checkpoint."
    ]
    assert not wait_gone(worker_pid, 0), "a task that stops at its checkpoint keeps its worker"


def test_a_task_that_ignores_the_abort_has_its_worker_restarted(dask_manager, pipe, caplog):
    manager = dask_manager(kill_grace=0.5)
    exp = manager.queued_exec(lane="dask")(stuck)(str(pipe.path))
    worker_pid = int(pipe.line())
    assert manager.abort_experiment(exp)
    assert ended(exp) is ExpStatus.ABORTED
    assert isinstance(exp.exception().__cause__, DaskWorkerRestarted)
    assert "did not stop at a checkpoint within 0.5 s, so its Dask worker" in exp.traceback
    assert "was restarted" in exp.traceback
    assert any("was restarted" in r.getMessage() for r in exp.log_records)
    assert wait_gone(worker_pid, TIMEOUT)
    assert any("was restarted" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    again = manager.queued_exec(lane="dask")(param_square)(3)
    assert again.result(TIMEOUT) == 9  # the cluster goes on


def test_a_worker_killed_mid_task_reruns_it_once_then_fails_it(dask_manager, pipe):
    manager = dask_manager()
    exp = manager.queued_exec(lane="dask")(stuck)(str(pipe.path))
    first_worker = int(pipe.line())
    os.kill(first_worker, signal.SIGKILL)
    second_worker = int(pipe.line())  # run again, on a worker alive
    assert second_worker != first_worker
    os.kill(second_worker, signal.SIGKILL)
    assert ended(exp) is ExpStatus.FAILED
    assert isinstance(exp.exception(), DaskWorkerDied)
    assert "the Dask worker running it died" in str(exp.exception())


def test_an_unreachable_scheduler_fails_the_experiment_naming_it_and_pauses_only_the_dask_lane(dask_manager):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"  # nobody listens there
    manager = dask_manager(dask_scheduler=address)
    manager.dask_lane.connect_timeout = 1
    exp = manager.queued_exec(lane="dask")(param_square)(2)
    assert ended(exp) is ExpStatus.FAILED
    assert isinstance(exp.exception(), DaskUnavailable)
    assert f"cannot reach the Dask scheduler at {address} within 1 s" in str(exp.exception())
    assert manager.dask_lane.paused_because is not None
    assert manager.queued_exec(param_square)(5).result(TIMEOUT) == 25  # the instrument lane runs


def test_sweeps_and_command_runs_through_the_dask_runner(dask_manager, tmp_path):
    manager = dask_manager()
    sweep = manager.sweep(param_square, {"x": [1, 2, 3]}, lane="dask", max_parallel=2)
    assert sweep.results(TIMEOUT) == [1, 4, 9]
    assert {exp.lane for exp in sweep.experiments} == {"dask"}
    runs = multirun(
        runs=[{"i": i} for i in range(3)],
        cmd=child("--params", "--stderr", "on stderr"),
        output_path=tmp_path / "sweep",
        runner=DaskRunner(manager=manager),
    )
    assert [run.status for run in runs] == ["success"] * 3
    for run in runs:
        assert run.experiment.lane == "dask" and is_finished(run.path)
        assert json.loads((run.path / "stdout.txt").read_text()) == {"i": run.index}
    failed = CommandExperiment(child("--stderr", "bad input", "--exit", "3"), run_dir=tmp_path / "f", lane="dask")
    manager.job_queue.put(failed)
    assert ended(failed) is ExpStatus.FAILED and "exited with status 3" in str(failed.exception())


def test_an_aborted_command_on_a_worker_is_terminated(dask_manager, tmp_path, pipe):
    manager = dask_manager(kill_grace=1)
    exp = CommandExperiment(child("--tell", str(pipe.path), "--hang"), run_dir=tmp_path / "r", lane="dask")
    manager.job_queue.put(exp)
    pid, _ = pipe.pids()
    assert manager.abort_experiment(exp)
    assert ended(exp) is ExpStatus.ABORTED
    assert wait_gone(pid, 5)
    assert any("stopped at a checkpoint" in r.getMessage() for r in exp.log_records)  # its worker was kept


def test_the_embedded_cluster_starts_at_first_use_and_closes_at_shutdown():
    manager = Manager(pause_on_failure=False)
    manager.dask_lane.n_workers = 1
    try:
        assert manager.dask_lane.cluster_info() is None  # nothing started for a lane never used
        assert manager.queued_exec(lane="dask")(param_square)(7).result(TIMEOUT) == 49
        info = manager.dask_lane.cluster_info()
        assert info.embedded and info.workers == 1 and info.threads == 1 and info.state == "connected"
        assert "Dask local cluster: 1 workers · 1 threads" in info.text
        address = info.address
    finally:
        manager.shutdown(timeout=30)
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()


def test_labqueue_without_distributed_runs_and_says_how_to_install_it(tmp_path):
    script = (
        "import sys; sys.modules['distributed'] = None\n"
        "from labqueue import Manager\n"
        "m = Manager(pause_on_failure=False)\n"
        "assert m.queued_exec(abs)(-2).result(30) == 2\n"
        "exp = m.queued_exec(lane='dask')(abs)(-3)\n"
        "print(type(exp.exception(30)).__name__, exp.exception())\n"
        "m.shutdown()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "DaskUnavailable the Dask lane needs Dask distributed: pip install labqueue[dask]"


# -- a real scheduler and worker, and losing the scheduler -------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_real_scheduler_and_worker_then_the_scheduler_is_lost(dask_manager, pipe, tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dask_cli = [sys.executable, "-m", "dask"]
    scheduler = subprocess.Popen(
        [*dask_cli, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [*dask_cli, "worker", address, "--nthreads", "1", "--memory-limit", "300MiB", "--no-dashboard"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its nanny and worker are killed together at the end
    )
    try:
        with Client(address, timeout=TIMEOUT) as client:
            client.wait_for_workers(1, timeout=TIMEOUT)
        manager = dask_manager(dask_scheduler=address)
        manager.dask_lane.connect_timeout = 2
        sweep = manager.sweep(param_square, [{"x": 2}, {"x": 2}, {"x": 5}], lane="dask")
        assert sweep.results(TIMEOUT) == [4, 4, 25]
        info = manager.dask_lane.cluster_info()
        assert info.address == address and info.workers == 1 and not info.embedded

        hanging = manager.queued_exec(lane="dask")(looping)(str(pipe.path))
        pipe.line()
        release = threading.Event()
        instrument = manager.queued_exec(lambda: release.wait(TIMEOUT))()
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait(TIMEOUT)
        assert ended(hanging) is ExpStatus.INTERRUPTED
        assert f"lost the Dask scheduler at {address}" in str(hanging.exception()) in hanging.traceback
        assert manager.dask_lane.paused_because.startswith("lost the Dask scheduler")
        later = manager.queued_exec(lane="dask")(param_square)(3)
        assert not manager.paused and instrument.status is ExpStatus.RUNNING
        release.set()
        assert ended(instrument) is ExpStatus.FINISHED  # the instrument lane went on
        assert later.status is ExpStatus.QUEUED  # the Dask lane waits for a human
        assert "paused" in manager.dask_lane.cluster_info().state
    finally:
        scheduler.kill()
        os.killpg(worker.pid, signal.SIGKILL)
        scheduler.wait()
        worker.wait()


# -- a labqueue killed mid-sweep ---------------------------------------------------------


def test_a_labqueue_killed_mid_sweep_reruns_only_the_unfinished_runs_on_restart(cluster, tmp_path, pipe):
    data_dir, out, release = tmp_path / "lab", tmp_path / "sweep", tmp_path / "release"
    runs = [{"i": i, "hang": i in (2, 3)} for i in range(4)]
    cmd = child("--hang-if-param", str(release), "--tell", str(pipe.path), "--hang")
    labqueue = subprocess.Popen(
        [sys.executable, str(SWEEP_CHILD), str(data_dir), str(out), json.dumps(cmd), json.dumps(runs), "dask"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,  # a group of its own, to clean up whatever a failure leaves
    )
    try:
        done = [labqueue.stdout.readline().split() for _ in range(2)]
        hanging = [pipe.pids(), pipe.pids()]
        labqueue.send_signal(signal.SIGKILL)  # labqueue alone: its workers and their runs follow
        assert labqueue.wait(TIMEOUT) == -signal.SIGKILL
        for pid, _ in hanging:
            assert wait_gone(pid, 10), "a run outlived the labqueue that started it"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(labqueue.pid, signal.SIGKILL)
        labqueue.wait()
        labqueue.stdout.close()
    assert sorted(done) == [["done", "0", "FINISHED"], ["done", "1", "FINISHED"]]

    release.write_text("")
    manager = Manager(data_dir=data_dir, dask_scheduler=cluster.scheduler_address)
    try:
        interrupted = [exp for exp in manager.job_queue.history if exp.status is ExpStatus.INTERRUPTED]
        assert sorted(exp.title.split()[0] for exp in interrupted) == ["run_2", "run_3"]
        assert {exp.lane for exp in interrupted} == {"dask"}
        manager.resume_worker()
        again = multirun(runs=runs, cmd=cmd, output_path=out, runner=DaskRunner(manager=manager))
        assert [run.status for run in again] == ["skipped", "skipped", "success", "success"]
        assert all(run.experiment.lane == "dask" for run in again[2:])
    finally:
        manager.shutdown(timeout=30)


def test_nothing_goes_to_the_cluster_while_the_queue_is_paused(dask_manager):
    manager = dask_manager()
    manager.pause_worker()
    exp = manager.queued_exec(lane="dask")(param_square)(4)
    assert manager.wait_until_idle(TIMEOUT)  # idle: paused, with it queued
    assert exp.status is ExpStatus.QUEUED and manager.dask_lane.statistics().running == 0
    manager.resume_worker()
    assert exp.result(TIMEOUT) == 16
