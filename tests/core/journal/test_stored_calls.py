"""Calls typed into a console refer to `manager`; stored by value they must come back
attached to the manager that loads them, not fail to store."""

import pickle

from labqueue import Aborted, ExpStatus, Manager
from labqueue.core.journal.codec import load_exception, load_result

CONSOLE_CODE = """
calls = []

@manager.queued_exec
def calibrate(x):
    manager.checkpoint()          # the seed's pattern: the body uses the global manager
    return x * 3

@manager.queued_exec
def measure(x):
    return calibrate(x) + 1   # a decorated function calling another: inline, its plain value (CustomXepr)
"""


def console_namespace(manager):
    """Functions defined as in the console: in a module nobody can import."""
    namespace = {"__name__": "__console__", "manager": manager}
    exec(compile(CONSOLE_CODE, "<console>", "exec"), namespace)
    return namespace


def test_console_functions_that_use_the_manager_are_stored_and_run_after_a_restart(tmp_path, caplog):
    data = tmp_path / "lab"
    first = Manager(data_dir=data)
    first.pause_worker()
    namespace = console_namespace(first)
    queued = [namespace["calibrate"](2), namespace["measure"](5)]
    assert all(exp.stored is True for exp in queued), [exp.store_error for exp in queued]
    assert "not stored" not in caplog.text.lower()
    first.shutdown()

    second = Manager(data_dir=data)
    try:
        restored = second.job_queue.queued
        assert [exp.id for exp in restored] == [exp.id for exp in queued]
        second.resume_worker()
        assert restored[0].result(timeout=10) == 6
        assert restored[1].result(timeout=10) == 16
    finally:
        second.shutdown()


def test_a_restored_call_is_attached_to_the_manager_that_runs_it(tmp_path):
    data = tmp_path / "lab"
    first = Manager(data_dir=data)
    first.pause_worker()
    seen = []
    namespace = {"__name__": "__console__", "manager": first, "seen": seen}
    exec("def whose():\n    return manager\n", namespace)
    first.queued_exec(namespace["whose"])()
    first.shutdown()

    with Manager() as bystander:  # another manager made later must not steal the call
        second = Manager(data_dir=data)
        try:
            (exp,) = second.job_queue.queued
            second.resume_worker()
            assert exp.result(timeout=10) is second
            assert exp.status is ExpStatus.FINISHED and bystander is not second
        finally:
            second.shutdown()


def _as_before_the_move(value) -> bytes:
    """``value`` pickled as labqueue 0.1 wrote it, naming the flat top-level ``core`` modules."""
    text = pickle.dumps(value, protocol=0)  # protocol 0 names each class on a text line
    old = text.replace(b"labqueue.core.engine.experiment\n", b"core.experiment\n")
    old = old.replace(b"labqueue.core.manager\n", b"core.manager\n")
    assert b"labqueue" not in old
    return old


def test_a_journal_written_before_the_package_move_still_loads():
    with Manager() as manager:
        stored_result = _as_before_the_move({"status": ExpStatus.FINISHED, "by": manager})
        result = load_result(stored_result, None)
        assert result == {"status": ExpStatus.FINISHED, "by": manager}
        failure = load_exception(_as_before_the_move(Aborted("stopped by the user")), None, "measure()")
        assert isinstance(failure, Aborted) and str(failure) == "stopped by the user"
