"""The email digest handler against a real SMTP server (aiosmtpd on 127.0.0.1).

Windows and the hourly limit run on a fake clock, and ``flush()`` asks for the
pending digest now, so nothing here waits for time to pass: tests wait for mail to
arrive (or for the handler to settle) with generous timeouts.
"""

import base64
import logging
import time

import pytest

from labqueue import ExpStatus, Manager
from labqueue.app.log_setup import LOG_FILE_NAME, configure_logging, remove_logging
from labqueue.core.config import EMAIL_OFF
from labqueue.core.notify import PASSWORD_ENV, EmailDigestHandler, SmtpSettings
from tests.keyrings import swapped_keyring
from tests.log_records import records_of
from tests.smtp_server import (
    ALLOW_PLAIN_AUTH,
    GOOD_PASSWORD,
    GOOD_USER,
    SmtpTestServer,
    closed_port,
    running_server,
    silent_server,
)

pytestmark = pytest.mark.filterwarnings(ALLOW_PLAIN_AUTH)

log = logging.getLogger("labqueue.test")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def email_log():
    """Records of the handler's own logger ``labqueue.email``."""
    with records_of("labqueue.email") as waiter:
        yield waiter


@pytest.fixture
def notify():
    manager = Manager(start=False)
    manager.notify_address = ["ana@lab.example"]
    yield manager
    manager.shutdown()


@pytest.fixture
def server():
    with running_server() as smtp_server:
        yield smtp_server


@pytest.fixture
def make_handler(notify):
    """Build a handler on the ``labqueue`` logger; it is closed and detached after the test."""
    made = []

    def make(port: int, *, timeout: float = 5.0, username: str = "", **options) -> EmailDigestHandler:
        smtp = SmtpSettings("127.0.0.1", port, "none", username, "lab@example.org", timeout)
        options.setdefault("digest_seconds", 3600)
        handler = EmailDigestHandler(options.pop("notify", notify), smtp, host_name="testhost", **options)
        logging.getLogger("labqueue").addHandler(handler)
        made.append(handler)
        return handler

    yield make
    for handler in made:
        logging.getLogger("labqueue").removeHandler(handler)
        handler.close()


# -- digests ---------------------------------------------------------------------------


def test_a_burst_of_50_warnings_is_one_email_with_the_count(server, make_handler):
    handler = make_handler(server.port)
    for _ in range(50):
        log.warning("Pressure above limit")
    handler.flush()
    (mail,) = server.wait_for(1)
    assert handler.wait_idle(10)
    assert len(server.messages) == 1
    assert mail.subject == "[labqueue] testhost: WARNING, 50 messages"
    assert mail.rcpt_tos == ["ana@lab.example"]
    assert mail.body.count("Pressure above limit") == 1
    assert "WARNING, 50 times, " in mail.body


def test_the_window_closes_by_itself(server, make_handler):
    make_handler(server.port, digest_seconds=0.05)
    log.warning("Chiller off")
    (mail,) = server.wait_for(1)
    assert "Chiller off" in mail.body


def test_distinct_messages_each_once_with_experiment_time_and_traceback(server, make_handler, notify):
    manager = Manager()
    manager.notify_address = notify.notify_address
    handler = make_handler(server.port, notify=manager)

    def measure(n):
        for _ in range(n):
            log.warning("Field drifted")
        try:
            return n / 0
        except ZeroDivisionError:
            log.exception("Calibration failed")

    with manager:
        manager.queued_exec(measure)(n=3)
    handler.flush()
    (mail,) = server.wait_for(1)
    assert mail.subject == "[labqueue] testhost: ERROR, 4 messages"
    body = mail.body
    assert body.count("Field drifted") == 1 and "WARNING, 3 times, " in body
    assert body.count("Calibration failed") == 1 and "ERROR, once, " in body
    assert body.count("Experiment: test_distinct_messages_each_once_with_experiment_time_and_traceback.") == 2
    assert "measure(n=3)" in body
    assert "ZeroDivisionError: division by zero" in body
    assert "Traceback (most recent call last)" in body


def test_a_logged_failure_carrying_a_huge_payload_is_emailed_with_a_short_traceback(server, make_handler):
    handler = make_handler(server.port)
    try:
        raise ValueError(b"\x00" * 5_000_000)  # str() of it would be 20 MB
    except ValueError:
        log.exception("Camera readout failed")
    handler.flush()
    (mail,) = server.wait_for(1)
    assert "ValueError: b'\\x00\\x00" in mail.body
    assert len(mail.body) < 50_000


def test_messages_with_broken_arguments_are_still_sent(server, make_handler):
    handler = make_handler(server.port)
    # Only our handler sees this record: pytest's own log capture fails tests on format errors.
    isolated = logging.getLogger("labqueue.test.isolated")
    isolated.propagate = False
    isolated.addHandler(handler)
    try:
        isolated.warning("two %s %s", "one")
    finally:
        isolated.removeHandler(handler)
    handler.flush()
    (mail,) = server.wait_for(1)
    assert "'two %s %s' % ('one',)" in mail.body


class OfflineInstrument:
    def __str__(self):
        raise OSError("instrument offline")

    __repr__ = __str__


def test_a_message_about_an_instrument_whose_str_raises_is_still_sent(server, make_handler, monkeypatch):
    monkeypatch.setattr(logging, "raiseExceptions", False)  # as in the program; pytest's handler would raise
    handler = make_handler(server.port)
    log.warning("lost contact with %s", OfflineInstrument())
    handler.flush()
    (mail,) = server.wait_for(1)
    assert "'lost contact with %s' % (<OfflineInstrument (repr failed: OSError)>,)" in mail.body
    assert "OSError('instrument offline')" in mail.body


# -- the hourly limit ------------------------------------------------------------------


def test_the_hourly_limit_holds_the_rest_for_one_summary(server, make_handler):
    clock = FakeClock()
    handler = make_handler(server.port, max_per_hour=2, clock=clock)
    for n in (1, 2):
        log.warning("event %d", n)
        handler.flush()
        server.wait_for(n)
    for _ in range(3):
        log.warning("event 3")
    log.error("event 4")
    handler.flush()
    assert handler.wait_idle(10)
    assert handler.held_count == 4
    assert len(server.messages) == 2
    clock.now += 1800
    handler.flush()
    assert handler.wait_idle(10)
    assert len(server.messages) == 2  # still within the hour of the first email
    clock.now += 1800
    handler.flush()
    summary = server.wait_for(3)[2]
    assert summary.subject == "[labqueue] testhost: ERROR, 4 messages held back by the hourly limit"
    assert "limit of 2 emails per hour" in summary.body
    assert "WARNING, 3 times, " in summary.body and "event 4" in summary.body
    assert handler.held_count == 0


def test_held_messages_are_sent_at_shutdown(server, make_handler):
    handler = make_handler(server.port, max_per_hour=1, clock=FakeClock())
    log.warning("first")
    handler.flush()
    server.wait_for(1)
    log.warning("second")
    handler.flush()
    assert handler.wait_idle(10) and handler.held_count == 1
    handler.close()
    assert "second" in server.wait_for(2)[1].body


# -- level and addresses, read live ----------------------------------------------------


def test_a_level_change_takes_effect_at_once(server, make_handler, notify):
    handler = make_handler(server.port)
    notify.email_handler_level = "ERROR"
    log.warning("quiet warning")
    log.error("loud error")
    handler.flush()
    first = server.wait_for(1)[0]
    assert "loud error" in first.body and "quiet warning" not in first.body
    notify.email_handler_level = logging.WARNING
    log.warning("now heard")
    handler.flush()
    assert "now heard" in server.wait_for(2)[1].body


def test_an_address_change_takes_effect_at_once(server, make_handler, notify):
    handler = make_handler(server.port)
    log.warning("to ana")
    handler.flush()
    assert server.wait_for(1)[0].rcpt_tos == ["ana@lab.example"]
    notify.notify_address = ["bo@lab.example", "cy@lab.example"]
    log.warning("to bo and cy")
    handler.flush()
    assert server.wait_for(2)[1].rcpt_tos == ["bo@lab.example", "cy@lab.example"]


@pytest.mark.parametrize("silence", ["no address", "level OFF"])
def test_nothing_is_kept_while_there_is_no_address_or_the_level_is_off(server, make_handler, notify, silence):
    handler = make_handler(server.port)
    if silence == "no address":
        notify.notify_address = []
    else:
        notify.email_handler_level = EMAIL_OFF
    log.critical("unheard")
    handler.flush()
    assert handler.wait_idle(10)
    notify.notify_address = ["ana@lab.example"]
    notify.email_handler_level = logging.WARNING
    log.warning("heard")
    handler.flush()
    (mail,) = server.wait_for(1)
    assert "heard" in mail.body and "unheard" not in mail.body


# -- failures: retried, logged, never emailed, never slowing the worker ----------------


def test_refused_connection_is_retried_and_its_failure_never_emailed(make_handler, email_log):
    server = SmtpTestServer()  # not started yet: its port refuses connections
    handler = make_handler(server.port, digest_seconds=0, retry_delays=[0.05])
    log.warning("Disk almost full")
    failure = email_log.wait_for("Could not email")
    assert f"connection refused by 127.0.0.1:{server.port}" in failure
    assert handler.last_error.startswith("connection refused")
    server.start()
    try:
        (mail,) = server.wait_for(1)
        assert handler.wait_idle(10)
    finally:
        server.stop()
    assert mail.subject == "[labqueue] testhost: WARNING, 1 message"
    assert "Disk almost full" in mail.body and "Could not email" not in mail.body
    assert handler.last_error is None


def test_wrong_credentials_are_a_clear_error_in_the_log_and_the_password_is_nowhere(
    make_handler, email_log, monkeypatch, tmp_path
):
    log_dir = tmp_path / "logs"
    configure_logging(log_dir)
    monkeypatch.setenv(PASSWORD_ENV, "wrong-Pa55word")
    try:
        # No usable keyring, as on a headless machine: the password comes from the environment.
        with swapped_keyring(), running_server(require_login=True) as server:
            handler = make_handler(server.port, username=GOOD_USER, digest_seconds=0)
            log.warning("Sample heater unstable")
            email_log.wait_for("authentication failed")
            monkeypatch.setenv(PASSWORD_ENV, GOOD_PASSWORD)
            handler.configure()  # new credentials: try again now, not after the backoff
            (mail,) = server.wait_for(1)
    finally:
        remove_logging()
    assert "Sample heater unstable" in mail.body
    text = (log_dir / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert f"authentication failed for user 'ana' at 127.0.0.1:{server.port}: 535" in text
    for password in ("wrong-Pa55word", GOOD_PASSWORD):
        assert password not in text
        assert base64.b64encode(password.encode()).decode() not in text
        assert base64.b64encode(f"\0{GOOD_USER}\0{password}".encode()).decode() not in text


def run_jobs(manager: Manager, count: int) -> list:
    def job(i):
        log.warning("reading %d is out of range", i)
        return i

    experiments = [manager.queued_exec(job)(i) for i in range(count)]
    assert manager.wait_until_idle(timeout=60)
    return experiments


def timed_run(count: int) -> float:
    with Manager() as manager:
        start = time.perf_counter()
        experiments = run_jobs(manager, count)
        elapsed = time.perf_counter() - start
    assert [e.result() for e in experiments] == list(range(count))
    return elapsed


def test_a_server_that_never_answers_does_not_slow_the_worker(make_handler, email_log):
    jobs = 300
    baseline = timed_run(jobs)
    with silent_server() as port:
        handler = make_handler(port, timeout=60, digest_seconds=0, shutdown_timeout=0.2)
        with_dead_server = timed_run(jobs)
        # Every job finished while the one SMTP attempt was still waiting for a greeting.
        assert handler.last_error is None
        assert not handler.wait_idle(timeout=0)
        handler.close()
        email_log.wait_for("Gave up waiting 0.2 s for the last email at shutdown")
    # Generous on purpose: the point is "not stuck behind SMTP", not a speed figure.
    assert with_dead_server < 5 * baseline + 1.0, (baseline, with_dead_server)


def test_a_closed_port_does_not_slow_the_worker_and_is_not_tried_per_record(make_handler, email_log):
    port = closed_port()
    handler = make_handler(port, digest_seconds=0)
    with Manager() as manager:
        experiments = run_jobs(manager, 300)
    assert all(e.status is ExpStatus.FINISHED for e in experiments)
    assert handler.wait_idle(10)
    attempts = [m for m in email_log.messages() if f"127.0.0.1:{port}" in m]
    # The first attempt fails at once; the next waits for the first retry delay (15 s).
    assert len(attempts) == 1, attempts
    assert "attempt 1, next in 15 s" in attempts[0]


# -- shutdown --------------------------------------------------------------------------


def test_shutdown_sends_the_pending_digest(server, make_handler):
    handler = make_handler(server.port)
    log.warning("Cryostat warming up")
    handler.close()
    (mail,) = server.messages
    assert "Cryostat warming up" in mail.body


def test_records_after_close_are_ignored(server, make_handler):
    handler = make_handler(server.port)
    handler.close()
    log.warning("too late")
    handler.close()
    assert handler.wait_idle(1)
    assert server.messages == []


def test_send_now_is_sent_at_once_outside_the_digest(server, make_handler):
    handler = make_handler(server.port)
    handler.send_now("[labqueue] testhost: queue done", "3 finished")
    (mail,) = server.wait_for(1)
    assert (mail.subject, mail.body) == ("[labqueue] testhost: queue done", "3 finished\n")
