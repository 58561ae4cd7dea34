"""Sending one email over SMTP, finding the password, and saying exactly what failed.

The password is looked up at each attempt, in the system keyring when one is
usable and otherwise in ``$LABQUEUE_SMTP_PASSWORD``; it is never cached, logged
or written to a file.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ..config import EmailSettings

__all__ = [
    "PASSWORD_ENV",
    "SmtpFailure",
    "SmtpSettings",
    "describe_failure",
    "keyring_available",
    "send_email",
    "smtp_password",
    "store_password",
]

PASSWORD_ENV = "LABQUEUE_SMTP_PASSWORD"
#: Seconds any single SMTP step (connect, greeting, each command) may take.
DEFAULT_TIMEOUT = 30.0

logger = logging.getLogger("labqueue.email")


class SmtpFailure(Exception):
    """An email could not be sent; the message says why, in words a user can act on."""


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the mail server. ``security`` is ``starttls``, ``ssl`` or ``none``."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str = ""
    sender: str = ""
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_email_settings(cls, email: EmailSettings, timeout: float = DEFAULT_TIMEOUT) -> SmtpSettings:
        return cls(email.host, email.port, email.security, email.username, email.sender, timeout)

    @property
    def from_address(self) -> str:
        return self.sender or f"labqueue@{socket.gethostname()}"

    @property
    def keyring_service(self) -> str:
        return f"labqueue SMTP {self.host}"


# -- the password ----------------------------------------------------------------------


def _usable_keyring():
    """The keyring backend, or None when there is no usable one (e.g. a headless machine)."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception:  # an absent or broken keyring must fall back, never stop sending
        return None
    return None if isinstance(backend, fail.Keyring) else backend


def keyring_available() -> bool:
    """True when a system keyring can hold the SMTP password."""
    return _usable_keyring() is not None


def smtp_password(settings: SmtpSettings) -> str | None:
    """The password for ``settings.username``: from the keyring, else ``$LABQUEUE_SMTP_PASSWORD``."""
    backend = _usable_keyring()
    if backend is not None:
        try:
            password = backend.get_password(settings.keyring_service, settings.username)
        except Exception as exc:  # a locked or broken keyring: the variable may still help
            logger.warning("Could not read the SMTP password from the keyring (%s)", type(exc).__name__)
        else:
            if password is not None:
                return password
    return os.environ.get(PASSWORD_ENV) or None


def store_password(settings: SmtpSettings, password: str) -> None:
    """Keep ``password`` for ``settings.username`` in the system keyring.

    Raises SmtpFailure when there is no usable keyring (then set
    ``$LABQUEUE_SMTP_PASSWORD`` instead) or the keyring refuses.
    """
    backend = _usable_keyring()
    if backend is None:
        raise SmtpFailure(f"no system keyring is available here: set {PASSWORD_ENV} instead")
    try:
        backend.set_password(settings.keyring_service, settings.username, password)
    except Exception as exc:
        raise SmtpFailure(f"the system keyring refused to store the password: {type(exc).__name__}") from None


# -- sending ---------------------------------------------------------------------------


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.security == "ssl":
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    if settings.security == "starttls":
        try:
            smtp.starttls(context=ssl.create_default_context())
        except BaseException:
            smtp.close()
            raise
    return smtp


def send_email(
    settings: SmtpSettings,
    to: Sequence[str],
    subject: str,
    body: str,
    *,
    password: str | None = None,
) -> dict[str, tuple[int, bytes]]:
    """Send a plain-text email to ``to``; returns the recipients the server refused
    while it accepted others (empty when all were accepted).

    ``password`` defaults to :func:`smtp_password`; it is used only when
    ``settings.username`` is set. Raises SmtpFailure with a precise reason when the
    server cannot be reached, does not answer within ``settings.timeout``, rejects
    the login, the sender or every recipient, or the TLS handshake fails.
    """
    if not to:
        raise SmtpFailure("no recipient address is set")
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="labqueue.local")
    message.set_content(body)
    try:
        with _connect(settings) as smtp:
            if settings.username:
                secret = password if password is not None else smtp_password(settings)
                if secret is None:
                    raise SmtpFailure(
                        f"no password for user {settings.username!r}: store it in the system keyring "
                        f"(Settings dialog) or set {PASSWORD_ENV}"
                    )
                smtp.login(settings.username, secret)
            return smtp.send_message(message, to_addrs=list(to))
    except SmtpFailure:
        raise
    except Exception as exc:
        raise SmtpFailure(describe_failure(exc, settings)) from None


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


def describe_failure(exc: BaseException, settings: SmtpSettings) -> str:
    """One sentence saying what went wrong while talking to the server in ``settings``."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return f"no answer from {where} within {settings.timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}: is the server running and the port right?"
    if isinstance(exc, socket.gaierror):
        return f"unknown host {settings.host!r} ({exc.strerror})"
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 530 and settings.security == "none":
        # The server wants encryption first; the reply comes to whichever command came next.
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return f"{where} requires encryption ({reply}): set security to 'starttls'"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return f"authentication failed for user {settings.username!r} at {where}: {reply}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{where} does not support what was asked: {exc}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(f"{addr} ({_reply(*reply)})" for addr, reply in exc.recipients.items())
        return f"every recipient was refused: {refused}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"sender {exc.sender!r} was refused: {_reply(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where} answered {_reply(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection ({exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {where} is not trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {where} failed ({exc.reason or exc}): is security {settings.security!r} right?"
    if isinstance(exc, OSError):
        return f"cannot reach {where}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"
