"""Email digests of log records: a :class:`logging.Handler` that never blocks the logger.

``emit`` only copies what it needs from the record and hands it to a sender thread.
The sender groups the records that arrive within ``digest_seconds`` into one email,
keeps to ``max_per_hour`` emails (what exceeds it is held and sent as one summary
when the hour allows), and retries failures with growing delays. Its own failures go
to the ``labqueue.email`` logger, which this handler never emails, so a dead mail
server cannot cause a storm of mail about itself.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..engine import MAX_TRACEBACK_CHARS, Experiment, current_experiment, cut_middle, format_failure, record_message
from .smtp import SmtpSettings, send_email, smtp_password

__all__ = ["EMAIL_LOGGER", "Digest", "EmailDigestHandler", "NotifySettings"]

EMAIL_LOGGER = "labqueue.email"
RATE_WINDOW_SECONDS = 3600.0
#: Seconds between attempts after the 1st, 2nd, ... failure (the last one repeats).
DEFAULT_RETRY_DELAYS = (15.0, 60.0, 300.0, 900.0)

logger = logging.getLogger(EMAIL_LOGGER)


class NotifySettings(Protocol):
    """What the handler reads, live, at every record: the :class:`~core.Manager` has both."""

    email_handler_level: int
    notify_address: list[str]


def _local_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


@dataclass
class _Sighting:
    """A log record reduced to what a digest shows (the record itself stays with logging)."""

    levelno: int
    levelname: str
    logger: str
    message: str
    created: float
    experiment: Experiment | None
    experiment_title: str | None
    exc_info: Any
    exc_text: str | None

    @classmethod
    def of(cls, record: logging.LogRecord) -> _Sighting:
        message = record_message(record)  # bad %-arguments are shown, not lost
        return cls(
            record.levelno,
            record.levelname,
            record.name,
            message,
            record.created,
            current_experiment(),
            getattr(record, "experiment_title", None),
            record.exc_info,
            record.exc_text,
        )

    def traceback_text(self) -> str | None:
        if self.exc_text:  # cached by another handler's formatter, maybe whole
            return cut_middle(self.exc_text, MAX_TRACEBACK_CHARS)
        if self.exc_info and self.exc_info[1] is not None:
            return format_failure(self.exc_info[1]).rstrip()  # bounded, whatever the exception carries
        return None


@dataclass
class _Entry:
    levelno: int
    levelname: str
    logger: str
    message: str
    experiment: str | None
    first: float
    last: float
    count: int = 1
    traceback: str | None = None

    def text(self) -> str:
        repeats = "once" if self.count == 1 else f"{self.count} times"
        when = _local_time(self.first)
        if self.count > 1:
            when += f" to {_local_time(self.last)}"
        lines = [f"{self.levelname}, {repeats}, {when}", f"Logger: {self.logger}"]
        if self.experiment:
            lines.append(f"Experiment: {self.experiment}")
        lines += ["", *("    " + line for line in self.message.splitlines())]
        if self.traceback:
            lines += ["", *("    " + line for line in self.traceback.splitlines())]
        return "\n".join(lines)


@dataclass
class Digest:
    """Log records grouped by distinct message, each kept once with its repeat count.

    At most ``max_entries`` distinct messages are listed; further ones are counted.
    """

    max_entries: int = 100
    entries: dict[tuple, _Entry] = field(default_factory=dict)
    count: int = 0
    unlisted: int = 0
    highest: int = logging.NOTSET

    def __bool__(self) -> bool:
        return self.count > 0

    @property
    def highest_name(self) -> str:
        return logging.getLevelName(self.highest)

    def add(self, sighting: _Sighting) -> None:
        experiment = sighting.experiment
        title = experiment.title if experiment is not None else sighting.experiment_title
        key = (sighting.levelno, sighting.logger, sighting.message, title)
        existing = self.entries.get(key)
        # Formatting a traceback is the costly part, and it is kept only for a new entry
        # with room in the digest, or an entry that has none yet.
        wanted = len(self.entries) < self.max_entries if existing is None else not existing.traceback
        self._add_entry(
            key,
            _Entry(
                sighting.levelno,
                sighting.levelname,
                sighting.logger,
                sighting.message,
                title,
                sighting.created,
                sighting.created,
                1,
                sighting.traceback_text() if wanted else None,
            ),
        )

    def _add_entry(self, key: tuple, new: _Entry) -> None:
        self.count += new.count
        self.highest = max(self.highest, new.levelno)
        entry = self.entries.get(key)
        if entry is not None:
            entry.count += new.count
            entry.first, entry.last = min(entry.first, new.first), max(entry.last, new.last)
            entry.traceback = entry.traceback or new.traceback
        elif len(self.entries) < self.max_entries:
            self.entries[key] = new
        else:
            self.unlisted += new.count

    def merge(self, later: Digest) -> None:
        """Add everything in ``later`` to this digest."""
        for key, entry in later.entries.items():
            self._add_entry(key, _Entry(**vars(entry)))
        self.count += later.unlisted
        self.unlisted += later.unlisted

    def subject(self, host: str, held: bool = False) -> str:
        plural = "message" if self.count == 1 else "messages"
        note = " held back by the hourly limit" if held else ""
        return f"[labqueue] {host}: {self.highest_name}, {self.count} {plural}{note}"

    def body(self, host: str, held_note: str = "") -> str:
        firsts = [e.first for e in self.entries.values()]
        lasts = [e.last for e in self.entries.values()]
        span = f" from {_local_time(min(firsts))} to {_local_time(max(lasts))}" if firsts else ""
        head = [f"labqueue on {host} logged {self.count} message(s){span}, highest level {self.highest_name}."]
        if held_note:
            head.append(held_note)
        parts = ["\n".join(head), *(entry.text() for entry in self.entries.values())]
        if self.unlisted:
            parts.append(f"... and {self.unlisted} more message(s) not listed here: see the log file.")
        return "\n\n----------------------------------------\n".join(parts) + "\n"


@dataclass
class _Outgoing:
    digest: Digest | None = None
    held: bool = False
    subject: str = ""
    body: str = ""


class EmailDigestHandler(logging.Handler):
    """Emails log records at or above ``notify.email_handler_level`` to
    ``notify.notify_address``, both read at every record so changes apply at once.

    Args:
        notify: where the level and the addresses are read (usually the Manager).
        smtp: how to reach the mail server (replace with :meth:`configure`).
        digest_seconds: records arriving within this window after the first one go
            into one email.
        max_per_hour: emails per sliding hour; digests beyond it are held and sent
            as one summary when the hour allows, or at :meth:`close`.
        retry_delays: seconds to wait after the 1st, 2nd, ... failed attempt.
        shutdown_timeout: how long :meth:`close` waits for the last email.
        clock: monotonic seconds (tests pass a fake one).
        password: looks up the SMTP password at each attempt.
    """

    def __init__(
        self,
        notify: NotifySettings,
        smtp: SmtpSettings,
        *,
        digest_seconds: float = 60.0,
        max_per_hour: int = 10,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        shutdown_timeout: float = 10.0,
        host_name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        password: Callable[[SmtpSettings], str | None] = smtp_password,
    ) -> None:
        super().__init__(logging.NOTSET)
        self._notify = notify
        self._smtp = smtp
        self._digest_seconds = float(digest_seconds)
        self._max_per_hour = int(max_per_hour)
        self._retry_delays = tuple(retry_delays) or (0.0,)
        self._shutdown_timeout = shutdown_timeout
        self.host_name = host_name or socket.gethostname()
        self._clock = clock
        self._password = password
        self._changed = threading.Condition(threading.Lock())
        self._incoming: deque[_Sighting] = deque()
        self._direct: deque[_Outgoing] = deque()
        self._pending: Digest | None = None
        self._pending_since = 0.0
        self._held: Digest | None = None
        self._sent_at: deque[float] = deque()
        self._failures = 0
        self._retry_at: float | None = None
        self._flush_requested = False
        self._sending: _Outgoing | None = None
        self._closing = False
        self.last_error: str | None = None
        self.addFilter(self._wanted)
        self._thread = threading.Thread(target=self._run, name="labqueue-email", daemon=True)
        self._thread.start()

    # -- the logging side: fast, never blocks on the network ----------------------------

    def _wanted(self, record: logging.LogRecord) -> bool:
        if record.name == EMAIL_LOGGER or record.name.startswith(EMAIL_LOGGER + "."):
            return False  # our own failures: emailing them could only fail again
        if threading.current_thread() is self._thread or self._closing:
            return False
        return record.levelno >= self._notify.email_handler_level and bool(self._notify.notify_address)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sighting = _Sighting.of(record)
            with self._changed:
                self._incoming.append(sighting)
                self._changed.notify_all()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        """Send the pending digest now instead of at the end of its window (returns at once)."""
        with self._changed:
            self._flush_requested = True
            self._changed.notify_all()

    def send_now(self, subject: str, body: str) -> None:
        """Queue an email outside the digest and the hourly limit (e.g. "queue done")."""
        with self._changed:
            if not self._closing:
                self._direct.append(_Outgoing(subject=subject, body=body))
                self._changed.notify_all()

    def configure(
        self,
        smtp: SmtpSettings | None = None,
        *,
        digest_seconds: float | None = None,
        max_per_hour: int | None = None,
    ) -> None:
        """Change the server or the limits while running; a retry wait is cut short."""
        with self._changed:
            if smtp is not None:
                self._smtp = smtp
            if digest_seconds is not None:
                self._digest_seconds = float(digest_seconds)
            if max_per_hour is not None:
                self._max_per_hour = int(max_per_hour)
            self._retry_at = None
            self._changed.notify_all()

    @property
    def held_count(self) -> int:
        """Records held back by the hourly limit, waiting for a summary email."""
        with self._changed:
            return self._held.count if self._held else 0

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every record emitted so far has been sent, held or scheduled for a
        retry, and no flush is outstanding. Returns False if ``timeout`` passed first."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not (self._incoming or self._flush_requested or self._sending or self._direct_due()),
                timeout,
            )

    def close(self) -> None:
        """Send what is pending or held (one attempt, within ``shutdown_timeout``) and stop."""
        with self._changed:
            first_close = not self._closing
            self._closing = True
            self._changed.notify_all()
        if first_close:
            self._thread.join(self._shutdown_timeout)
            if self._thread.is_alive():
                logger.error(
                    "Gave up waiting %g s for the last email at shutdown; its messages are in the log file.",
                    self._shutdown_timeout,
                )
        super().close()

    # -- the sender thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._changed:
                outgoing = self._next_outgoing()
                while outgoing is None:
                    self._changed.notify_all()  # settled: wake wait_idle() and close()
                    if self._closing:
                        return
                    self._changed.wait(self._seconds_to_next_event())
                    outgoing = self._next_outgoing()
                self._sending = outgoing
                smtp = self._smtp
            error = self._deliver(outgoing, smtp)
            with self._changed:
                self._sending = None
                report = self._settle(outgoing, error)
                self._changed.notify_all()
            if report:
                logger.log(*report)

    def _absorb_incoming(self, now: float) -> None:
        while self._incoming:
            if self._pending is None:
                self._pending, self._pending_since = Digest(), now
            self._pending.add(self._incoming.popleft())

    def _rate_limited(self, now: float) -> bool:
        while self._sent_at and self._sent_at[0] <= now - RATE_WINDOW_SECONDS:
            self._sent_at.popleft()
        return len(self._sent_at) >= self._max_per_hour

    def _direct_due(self) -> bool:
        return bool(self._direct) and (self._retry_at is None or self._closing)

    def _next_outgoing(self) -> _Outgoing | None:
        """Under the lock: the next email to send now, or None to wait."""
        now = self._clock()
        self._absorb_incoming(now)
        if self._closing:
            if self._direct:
                return self._direct.popleft()
            final, self._held, self._pending = _merged(self._held, self._pending), None, None
            self._flush_requested = False
            return _Outgoing(final) if final else None
        if self._retry_at is not None and now < self._retry_at:
            self._flush_requested = False  # nothing more to do until the retry is due
            return None
        if self._direct:
            return self._direct.popleft()
        due = self._flush_requested or now >= self._pending_since + self._digest_seconds
        if self._pending and due:
            digest, self._pending = self._pending, None
            if not self._rate_limited(now):
                self._flush_requested = False
                return _Outgoing(digest)
            self._held = _merged(self._held, digest)
        self._flush_requested = False
        if self._held and not self._rate_limited(now):
            held, self._held = self._held, None
            return _Outgoing(held, held=True)
        return None

    def _seconds_to_next_event(self) -> float | None:
        now = self._clock()
        times = []
        if self._pending:
            times.append(self._pending_since + self._digest_seconds)
        if self._held and self._sent_at:
            times.append(self._sent_at[0] + RATE_WINDOW_SECONDS)
        if self._retry_at is not None and (times or self._direct):
            times = [max(t, self._retry_at) for t in times] or [self._retry_at]
        return max(0.0, min(times) - now) if times else None

    def _deliver(self, outgoing: _Outgoing, smtp: SmtpSettings) -> str | None:
        """Send ``outgoing``; the reason it failed, or None."""
        if outgoing.digest is not None:
            digest = outgoing.digest
            note = ""
            if outgoing.held:
                note = f"These arrived while the limit of {self._max_per_hour} emails per hour was reached."
            outgoing.subject = digest.subject(self.host_name, outgoing.held)
            outgoing.body = digest.body(self.host_name, note)
        to = self._notify.notify_address
        if not to:
            return None  # nobody to tell any more: the log file has it all
        try:
            password = self._password(smtp) if smtp.username else None
            refused = send_email(smtp, to, outgoing.subject, outgoing.body, password=password)
        except Exception as exc:  # whatever happens, the sender thread must survive
            return str(exc) or type(exc).__name__
        if refused:
            logger.warning("The mail server refused some recipients: %s", ", ".join(refused))
        return None

    def _settle(self, outgoing: _Outgoing, error: str | None) -> tuple | None:
        """Under the lock: record the attempt; returns what to log (level, message...)."""
        now = self._clock()
        if error is None:
            if outgoing.digest is not None:
                self._sent_at.append(now)
            self._failures, self._retry_at, self.last_error = 0, None, None
            return None
        self.last_error = error
        what = f"{outgoing.digest.count} log message(s)" if outgoing.digest else repr(outgoing.subject)
        if outgoing.digest is None:
            self._direct.appendleft(outgoing)
        elif outgoing.held:
            self._held = _merged(outgoing.digest, self._held)
        else:
            # Due again as soon as the retry delay has passed, whatever arrived meanwhile.
            self._pending = _merged(outgoing.digest, self._pending)
            self._pending_since = now - self._digest_seconds
        if self._closing:
            # The server has just failed: another attempt would only add a timeout to the shutdown.
            self._absorb_incoming(now)
            lost = sum(digest.count for digest in (self._pending, self._held) if digest)
            what = f"{lost} log message(s)" + (f" and {len(self._direct)} other email(s)" if self._direct else "")
            self._pending = self._held = None
            self._direct.clear()
            return (logging.ERROR, "Could not email %s at shutdown (%s); see the log file.", what, error)
        self._failures += 1
        delay = self._retry_delays[min(self._failures, len(self._retry_delays)) - 1]
        self._retry_at = now + delay
        return (
            logging.WARNING,
            "Could not email %s (%s); attempt %d, next in %g s.",
            what,
            error,
            self._failures,
            delay,
        )


def _merged(first: Digest | None, later: Digest | None) -> Digest | None:
    if not first:
        return later or None
    if later:
        first.merge(later)
    return first
