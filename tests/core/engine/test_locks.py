"""YieldingRLock: mutual exclusion and re-entrance, also for a Condition built on it."""

import threading

from labqueue.core.engine import YieldingRLock


def test_mutual_exclusion_under_contention():
    lock = YieldingRLock()
    counter = {"n": 0}

    def bump():
        for _ in range(20_000):
            with lock:
                value = counter["n"]
                counter["n"] = value + 1

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert counter["n"] == 80_000


def test_reentrant_and_usable_by_a_condition():
    lock = YieldingRLock()
    condition = threading.Condition(lock.raw)
    ready = []

    def waiter():
        with lock:
            while not ready:
                condition.wait(10)

    thread = threading.Thread(target=waiter)
    thread.start()
    with lock, lock:  # re-entrant
        ready.append(True)
        condition.notify_all()
    thread.join(10)
    assert not thread.is_alive()


def test_a_holder_that_keeps_the_lock_long_makes_others_block_not_fail():
    lock = YieldingRLock()
    held = threading.Event()
    release = threading.Event()
    got_it = threading.Event()

    def holder():
        with lock:
            held.set()
            release.wait(10)

    def contender():
        with lock:
            got_it.set()

    h = threading.Thread(target=holder)
    h.start()
    assert held.wait(10)
    c = threading.Thread(target=contender)
    c.start()
    assert not got_it.wait(0.05)  # still held: the contender has fallen back to blocking
    release.set()
    assert got_it.wait(10)
    h.join(10)
    c.join(10)
