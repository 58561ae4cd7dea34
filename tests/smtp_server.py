"""Real SMTP servers on 127.0.0.1 for tests: one that collects mail (optionally over TLS,
STARTTLS or implicit), one that demands a login, a closed port, and one that accepts
connections but never says a word."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

#: For test modules that start a login server: it warns that plain-text AUTH is unsafe.
ALLOW_PLAIN_AUTH = "ignore:Requiring AUTH while not requiring TLS:UserWarning"

GOOD_USER = "ana"
GOOD_PASSWORD = "s3cret-Pa55word"


def server_tls_context(ca: trustme.CA, *identities: str) -> ssl.SSLContext:
    """A server-side TLS context whose certificate, signed by ``ca``, names ``identities``
    (by default 127.0.0.1 and localhost)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(identities or ("127.0.0.1", "localhost"))).configure_cert(context)
    return context


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    #: The TLS version the message travelled under ("TLSv1.3"), None over plain text.
    tls_version: str | None = None

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    @property
    def body(self) -> str:
        return self.message.get_content().replace("\r\n", "\n")


class CollectingHandler:
    """aiosmtpd handler keeping every message; refuses recipients starting with 'nobody'."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._arrived = threading.Condition()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        tls = server.transport.get_extra_info("ssl_object")
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), message, tls and tls.version())
        with self._arrived:
            self.messages.append(received)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """The messages, once at least ``count`` have arrived; AssertionError after ``timeout``."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            assert arrived, f"expected {count} message(s) within {timeout} s, got {len(self.messages)}"
            return list(self.messages)


def _check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    good = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == GOOD_USER.encode()
        and auth_data.password == GOOD_PASSWORD.encode()
    )
    return AuthResult(success=good, handled=False)


class SmtpTestServer:
    """An aiosmtpd server on 127.0.0.1 that can be stopped and started again on its port.

    ``starttls``: a server TLS context; the server then refuses every command but
    STARTTLS until the client has switched to TLS. ``implicit_tls``: a server TLS
    context for a port that speaks TLS from the first byte (security "ssl").
    """

    def __init__(
        self,
        *,
        require_login: bool = False,
        port: int | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.handler = CollectingHandler()
        self._require_login = require_login
        self._starttls = starttls
        self._implicit_tls = implicit_tls
        self._controller: Controller | None = None

    def start(self) -> SmtpTestServer:
        options = {}
        if self._starttls is not None:
            options.update(tls_context=self._starttls, require_starttls=True)
        if self._require_login:
            # AUTH only after STARTTLS when the server offers it. Otherwise plain-text AUTH is
            # acceptable only because this server lives for one test on loopback (and aiosmtpd
            # does not count implicit TLS as encryption, so it must be allowed there too).
            login_after_starttls = self._starttls is not None
            options.update(authenticator=_check_login, auth_required=True, auth_require_tls=login_after_starttls)
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, ssl_context=self._implicit_tls, **options
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[Received]:
        return list(self.handler.messages)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        return self.handler.wait_for(count, timeout)


@contextmanager
def running_server(**options):
    server = SmtpTestServer(**options).start()
    try:
        yield server
    finally:
        server.stop()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting is refused at once."""
    return free_port()


@contextmanager
def silent_server():
    """A port that accepts TCP connections (the kernel completes them) but never answers.

    Closing it at the end resets the waiting connections, so no client hangs on.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
