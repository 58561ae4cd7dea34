"""A function queued again is pickled again unless the journal would store the very
same thing: after a restart every experiment runs with what its function captured
at its own put."""

from __future__ import annotations

import importlib
import pickle
import sys

import pytest

from labqueue.core.journal import codec as journal_codec
from labqueue.core.journal.codec import FunctionPickles

from .journal_helpers import restart

CONSOLE_CODE = """
OFFSET = 1
SETTINGS = {"gain": 1}

def shifted(x: float) -> float:
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

    def counting(value, limit=None):
        if callable(value):
            made.append(value)
        return real(value, limit)

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


def _dynamic_module_changed(ns):
    ns["config"].gain = 3


def _defaults_moved_to_keywords(ns):
    ns["f"].__defaults__ = None
    ns["f"].__kwdefaults__ = {"k": 2}


@pytest.mark.parametrize(
    ("code", "change"),
    [
        pytest.param(
            "import types\nconfig = types.ModuleType('config')\nconfig.gain = 2\ndef f():\n    return config.gain\n",
            _dynamic_module_changed,
            id="module that is not imported, stored by value",
        ),
        pytest.param(
            "def f(x: 'int'):\n    return x\n",
            lambda ns: ns["f"].__annotations__.update(x="float"),
            id="annotations",
        ),
        pytest.param(
            "def f(a, b, *, k=None):\n    return a, b, k\nf.__defaults__ = ('k', 2)\nf.__kwdefaults__ = None\n",
            _defaults_moved_to_keywords,
            id="defaults moved to keyword defaults",
        ),
        pytest.param(
            "def f():\n    return 1\n",  # a relative import inside would use it
            lambda ns: ns.update(__package__="lab"),
            id="the namespace's package",
        ),
    ],
)
def test_a_change_that_pickling_would_store_is_stored(code, change):
    namespace = {"__name__": "__console__"}
    exec(compile(code, "<console>", "exec"), namespace)
    remembered = FunctionPickles()
    remembered.get(namespace["f"])
    change(namespace)
    assert remembered.get(namespace["f"])[1] == journal_codec.pickle_value(namespace["f"])


def test_a_function_that_reads_a_package_is_pickled_at_every_put(pickles_made):
    # cloudpickle stores a package with the submodules imported so far
    namespace = {"__name__": "__console__"}
    exec("import json\ndef f(x):\n    return json.dumps(x)\n", namespace)
    remembered = FunctionPickles()
    remembered.get(namespace["f"])
    remembered.get(namespace["f"])
    assert len(pickles_made) == 2


def test_a_function_replaced_by_a_reload_of_its_module_is_stored_by_value(tmp_path, monkeypatch):
    module_file = tmp_path / "reloaded_lab_module.py"
    module_file.write_text("def f(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("reloaded_lab_module")
    monkeypatch.setitem(sys.modules, "reloaded_lab_module", module)  # removed again at the end
    old_f = module.f
    remembered = FunctionPickles()
    by_name = remembered.get(old_f)[1]

    module_file.write_text("def f(x):\n    return x - 1\n")
    importlib.reload(module)
    stored = remembered.get(old_f)[1]
    assert stored != by_name
    assert pickle.loads(stored)(10) == 11
