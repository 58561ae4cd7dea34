"""A function queued again is pickled again unless the journal would store the very
same thing: after a restart every experiment runs with what its function captured
at its own put."""

from __future__ import annotations

import pytest

from core import journal_codec
from core.journal_codec import FunctionPickles

from .journal_helpers import restart

CONSOLE_CODE = """
OFFSET = 1
SETTINGS = {"gain": 1}

def shifted(x):
    return x + OFFSET

def amplified(x):
    return x * SETTINGS["gain"]

def scaled(x, factor=2):
    return x * factor

def counter_at(start):
    count = start
    def read():
        return count
    def bump():
        nonlocal count
        count += 1
    return read, bump
"""


def console():
    """Functions defined as in the console: in a module nobody can import, so by value."""
    namespace = {"__name__": "__console__"}
    exec(compile(CONSOLE_CODE, "<console>", "exec"), namespace)
    return namespace


@pytest.fixture
def pickles_made(monkeypatch):
    """The functions pickled, in order."""
    made = []
    real = journal_codec.pickle_value

    def counting(value):
        if callable(value):
            made.append(value)
        return real(value)

    monkeypatch.setattr(journal_codec, "pickle_value", counting)
    return made


def test_a_function_that_captures_nothing_mutable_is_pickled_once(open_manager, pickles_made):
    ns = console()
    manager = open_manager(start=False)
    for x in range(5):
        manager.queued_exec(ns["shifted"])(x)
    assert pickles_made == [ns["shifted"]]


def test_each_experiment_comes_back_with_what_its_function_captured_at_its_put(open_manager, pickles_made):
    ns = console()
    manager = open_manager(start=False)
    queue = manager.queued_exec

    queue(ns["shifted"])(10)
    ns["OFFSET"] = 5  # a global rebound
    queue(ns["shifted"])(10)

    queue(ns["amplified"])(10)
    ns["SETTINGS"]["gain"] = 3  # a global changed in place
    queue(ns["amplified"])(10)

    queue(ns["scaled"])(10)
    ns["scaled"].__defaults__ = (4,)
    queue(ns["scaled"])(10)

    read, bump = ns["counter_at"](7)
    queue(read)()
    bump()  # a closure cell rebound
    queue(read)()

    exec("def shifted(x):\n    return x - OFFSET\n", ns)  # redefined under the same name
    queue(ns["shifted"])(10)

    again = restart(manager, open_manager)
    again.resume_worker()
    results = [exp.result(timeout=10) for exp in again.job_queue.queued]
    assert results == [11, 15, 10, 30, 20, 40, 7, 8, 5]
    assert len(pickles_made) == 9  # each function at each put: every one of them changed


def test_only_the_most_recently_queued_functions_are_kept(pickles_made):
    ns = console()
    remembered = FunctionPickles(kept=2)
    oldest, middle, newest = ns["shifted"], ns["scaled"], ns["counter_at"]
    digest = remembered.get(oldest)[0]
    remembered.get(middle)
    remembered.get(middle)
    remembered.get(newest)
    assert pickles_made == [oldest, middle, newest]
    assert remembered.get(oldest)[0] == digest
    assert pickles_made == [oldest, middle, newest, oldest]  # it had made room for the newest


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: (lambda: None).__get__(object()), id="bound method"),
        pytest.param(lambda: [].append, id="builtin bound to a list"),
    ],
)
def test_other_callables_are_pickled_at_every_put(make, pickles_made):
    remembered = FunctionPickles()
    func = make()
    remembered.get(func)
    remembered.get(func)
    assert len(pickles_made) == 2
