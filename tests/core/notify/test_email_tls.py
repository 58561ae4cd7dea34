"""Email over real TLS (aiosmtpd on 127.0.0.1): STARTTLS and implicit TLS deliver, and a
certificate the client cannot verify stops the email with a clear reason.

The client is the production code unchanged: ``ssl.create_default_context()`` reads
OpenSSL's default verify paths when it is created, so pointing ``$SSL_CERT_FILE`` at a
test CA (and ``$SSL_CERT_DIR`` at an empty folder) makes that CA the only one trusted.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import trustme

from labqueue.core.notify import PASSWORD_ENV, EmailDigestHandler, SmtpFailure, SmtpSettings, send_email
from tests.keyrings import swapped_keyring
from tests.smtp_server import (
    ALLOW_PLAIN_AUTH,
    GOOD_PASSWORD,
    GOOD_USER,
    running_server,
    server_tls_context,
)

SECURITIES = ["starttls", "ssl"]


@pytest.fixture(scope="module")
def trusted_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(autouse=True)
def trust_only(trusted_ca, tmp_path, monkeypatch):
    """The client trusts ``trusted_ca`` and nothing else, whatever the machine's CA store holds."""
    ca_file = tmp_path / "trusted-ca.pem"
    trusted_ca.cert_pem.write_to_path(str(ca_file))
    no_ca_dir = tmp_path / "no-ca-dir"
    no_ca_dir.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(no_ca_dir))


@pytest.fixture
def password_from_environment(monkeypatch):
    """No keyring: the password comes from the environment variable, set by the test."""
    with swapped_keyring():
        yield lambda password: monkeypatch.setenv(PASSWORD_ENV, password)


def tls_server(security: str, context, **options):
    """A running server speaking ``security`` ("starttls" or "ssl") with ``context``."""
    tls = {"starttls": context} if security == "starttls" else {"implicit_tls": context}
    return running_server(**tls, **options)


def settings(security: str, port: int, **changes) -> SmtpSettings:
    options = {"host": "127.0.0.1", "port": port, "security": security, "timeout": 5.0, **changes}
    return SmtpSettings(**options)


def test_starttls_then_login_delivers_the_message_encrypted(trusted_ca, password_from_environment):
    password_from_environment(GOOD_PASSWORD)
    with tls_server("starttls", server_tls_context(trusted_ca), require_login=True) as server:
        refused = send_email(
            settings("starttls", server.port, username=GOOD_USER, sender="lab@example.org"),
            ["ana@example.org"],
            "Over STARTTLS",
            "Sealed",
        )
        (received,) = server.wait_for(1)
    assert refused == {}
    assert received.tls_version in ("TLSv1.2", "TLSv1.3")
    assert (received.mail_from, received.rcpt_tos) == ("lab@example.org", ["ana@example.org"])
    assert (received.subject, received.body) == ("Over STARTTLS", "Sealed\n")


def test_starttls_with_a_wrong_password_is_an_authentication_failure(trusted_ca, password_from_environment):
    password_from_environment("wrong-pw")
    with (
        tls_server("starttls", server_tls_context(trusted_ca), require_login=True) as server,
        pytest.raises(SmtpFailure) as caught,
    ):
        send_email(settings("starttls", server.port, username=GOOD_USER), ["a@b.org"], "s", "b")
    message = str(caught.value)
    assert message.startswith(f"authentication failed for user 'ana' at 127.0.0.1:{server.port}: 535")
    assert "wrong-pw" not in message
    assert server.messages == []


def test_a_server_requiring_starttls_refuses_a_plain_client_with_advice():
    """The STARTTLS server really insists (so mail it accepted came over TLS), and the
    failure tells the scientist which setting to change."""
    with tls_server("starttls", server_tls_context(trustme.CA())) as server, pytest.raises(SmtpFailure) as caught:
        send_email(settings("none", server.port), ["a@b.org"], "s", "b")
    message = str(caught.value)
    assert "requires encryption (530 Must issue a STARTTLS command first)" in message
    assert message.endswith("set security to 'starttls'")
    assert server.messages == []


def test_implicit_tls_delivers_the_message_encrypted(trusted_ca):
    with tls_server("ssl", server_tls_context(trusted_ca)) as server:
        assert send_email(settings("ssl", server.port), ["ana@example.org"], "Over TLS", "Sealed") == {}
        (received,) = server.wait_for(1)
    assert received.tls_version in ("TLSv1.2", "TLSv1.3")
    assert (received.subject, received.body) == ("Over TLS", "Sealed\n")


@pytest.mark.filterwarnings(ALLOW_PLAIN_AUTH)  # aiosmtpd does not count implicit TLS as encryption
def test_implicit_tls_then_login_delivers_the_message(trusted_ca, password_from_environment):
    password_from_environment(GOOD_PASSWORD)
    with tls_server("ssl", server_tls_context(trusted_ca), require_login=True) as server:
        send_email(settings("ssl", server.port, username=GOOD_USER), ["ana@example.org"], "s", "b")
        (received,) = server.wait_for(1)
    assert received.tls_version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("security", SECURITIES)
def test_a_certificate_from_an_untrusted_ca_is_refused_and_nothing_is_sent(security):
    stranger = trustme.CA()  # a valid certificate for 127.0.0.1, from a CA the client does not know
    with tls_server(security, server_tls_context(stranger)) as server, pytest.raises(SmtpFailure) as caught:
        send_email(settings(security, server.port), ["a@b.org"], "s", "b")
    expected = f"the TLS certificate of 127.0.0.1:{server.port} is not trusted: unable to get local issuer certificate"
    assert str(caught.value) == expected
    assert server.messages == []


@pytest.mark.parametrize("security", SECURITIES)
def test_a_trusted_certificate_for_another_host_is_refused(trusted_ca, security):
    with (
        tls_server(security, server_tls_context(trusted_ca, "mail.example.org")) as server,
        pytest.raises(SmtpFailure) as caught,
    ):
        send_email(settings(security, server.port), ["a@b.org"], "s", "b")
    message = str(caught.value)
    assert message.startswith(f"the TLS certificate of 127.0.0.1:{server.port} is not trusted: ")
    assert "mismatch" in message and "127.0.0.1" in message
    assert server.messages == []


@dataclass
class Notify:
    email_handler_level: int = logging.WARNING
    notify_address: list[str] = field(default_factory=lambda: ["ana@lab.example"])


@contextmanager
def digest_handler(smtp: SmtpSettings) -> Iterator[EmailDigestHandler]:
    """An email digest handler listening to ``labqueue.tls``; detached and closed at the end."""
    handler = EmailDigestHandler(Notify(), smtp, digest_seconds=3600, retry_delays=[3600], host_name="testhost")
    logging.getLogger("labqueue.tls").addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger("labqueue.tls").removeHandler(handler)
        handler.close()


def test_a_digest_goes_out_over_starttls_with_login(trusted_ca, password_from_environment):
    password_from_environment(GOOD_PASSWORD)
    with (
        tls_server("starttls", server_tls_context(trusted_ca), require_login=True) as server,
        digest_handler(settings("starttls", server.port, username=GOOD_USER)) as handler,
    ):
        logging.getLogger("labqueue.tls").error("Cryostat warming up")
        handler.flush()
        (received,) = server.wait_for(1)
        assert handler.wait_idle(10)
    assert received.tls_version in ("TLSv1.2", "TLSv1.3")
    assert "Cryostat warming up" in received.body
    assert handler.last_error is None


def test_a_digest_to_an_untrusted_server_keeps_the_certificate_error():
    with (
        tls_server("starttls", server_tls_context(trustme.CA())) as server,
        digest_handler(settings("starttls", server.port)) as handler,
    ):
        logging.getLogger("labqueue.tls").error("Cryostat warming up")
        handler.flush()
        assert handler.wait_idle(10)
        assert handler.last_error.startswith(f"the TLS certificate of 127.0.0.1:{server.port} is not trusted")
        assert server.messages == []
