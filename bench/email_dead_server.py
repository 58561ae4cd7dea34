"""Worker throughput while every job logs a warning, with the email handler pointing at
a live server, a closed port and a server that never answers, against no handler at all.

Prints jobs per second for each and the ratio to the baseline, and the cost of one
warning on the logging thread with and without the handler. What matters is that the
dead servers score like the live one: the worker pays for ``emit`` and for the sender
thread's grouping (GIL time), never for waiting on SMTP.

    python bench/email_dead_server.py [--jobs 3000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import time
from contextlib import contextmanager

from labqueue import Manager  # noqa: E402
from labqueue.core.notify import (
    EmailDigestHandler,  # noqa: E402
    SmtpSettings,  # noqa: E402
)
from tests.smtp_server import closed_port, free_port, running_server, silent_server  # noqa: E402

log = logging.getLogger("labqueue.bench")


@contextmanager
def live_server():
    with running_server() as server:
        yield server.port


@contextmanager
def dead_port():
    yield closed_port()


def job(i: int) -> int:
    log.warning("reading %d out of range", i)
    return i


def jobs_per_second(jobs: int) -> float:
    with Manager() as manager:
        start = time.perf_counter()
        experiments = [manager.queued_exec(job)(i) for i in range(jobs)]
        manager.wait_until_idle()
        elapsed = time.perf_counter() - start
    assert all(e.result() == i for i, e in enumerate(experiments))
    return jobs / elapsed


def with_handler(server, jobs: int, repeats: int) -> float:
    best = 0.0
    with server() as port:
        notify = Manager(start=False)
        notify.notify_address = ["bench@lab.example"]
        smtp = SmtpSettings("127.0.0.1", port, "none", timeout=60)
        handler = EmailDigestHandler(notify, smtp, digest_seconds=0.5, shutdown_timeout=0.5)
        log.addHandler(handler)
        try:
            for _ in range(repeats):
                best = max(best, jobs_per_second(jobs))
        finally:
            log.removeHandler(handler)
            handler.close()
            notify.shutdown()
    return best


def microseconds_per_record(records: int) -> float:
    start = time.perf_counter()
    for i in range(records):
        log.warning("reading %d out of range", i)
    return (time.perf_counter() - start) / records * 1e6


def emit_cost(records: int) -> tuple[float, float]:
    """Microseconds per warning on the logging thread, without and with the handler."""
    without = microseconds_per_record(records)
    notify = Manager(start=False)
    notify.notify_address = ["bench@lab.example"]
    handler = EmailDigestHandler(notify, SmtpSettings("127.0.0.1", free_port(), "none"), shutdown_timeout=0.5)
    log.addHandler(handler)
    try:
        return without, microseconds_per_record(records)
    finally:
        log.removeHandler(handler)
        handler.close()
        notify.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    log.propagate = False  # measure the handler, not console output
    log.addHandler(logging.NullHandler())  # and not logging's last-resort stderr handler
    logging.getLogger("labqueue.email").propagate = False
    baseline = max(jobs_per_second(args.jobs) for _ in range(args.repeats))
    print(f"{'no email handler':<28} {baseline:10.0f} jobs/s   ratio 1.00")
    for name, server in [("live server", live_server), ("closed port", dead_port), ("never answers", silent_server)]:
        rate = with_handler(server, args.jobs, args.repeats)
        print(f"{'handler, ' + name:<28} {rate:10.0f} jobs/s   ratio {rate / baseline:.2f}")
    without, with_handler_ = emit_cost(args.jobs * 10)
    print(f"logging a warning: {without:.1f} us without the handler, {with_handler_:.1f} us with it (closed port)")


if __name__ == "__main__":
    main()
