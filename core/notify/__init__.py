"""Notifications: email digests of log records, SMTP delivery, and the watchers that
speak up when the queue is done or a run has gone quiet."""

from .email_digest import EMAIL_LOGGER, EmailDigestHandler, NotifySettings
from .smtp import (
    PASSWORD_ENV,
    SmtpFailure,
    SmtpSettings,
    describe_failure,
    keyring_available,
    send_email,
    smtp_password,
    store_password,
)
from .watchers import QueueDoneNotifier, StallWatchdog, quiet_seconds, status_tally

__all__ = [
    "EMAIL_LOGGER",
    "PASSWORD_ENV",
    "EmailDigestHandler",
    "NotifySettings",
    "QueueDoneNotifier",
    "SmtpFailure",
    "SmtpSettings",
    "StallWatchdog",
    "describe_failure",
    "keyring_available",
    "quiet_seconds",
    "send_email",
    "smtp_password",
    "status_tally",
    "store_password",
]
