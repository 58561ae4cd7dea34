"""One email over real SMTP (aiosmtpd on 127.0.0.1): success, and each failure said exactly."""

import pytest

from labqueue.core.notify import (
    PASSWORD_ENV,
    SmtpFailure,
    SmtpSettings,
    keyring_available,
    send_email,
    smtp_password,
    store_password,
)
from tests.keyrings import MemoryKeyring, swapped_keyring
from tests.smtp_server import (
    ALLOW_PLAIN_AUTH,
    GOOD_PASSWORD,
    GOOD_USER,
    closed_port,
    running_server,
    silent_server,
)

pytestmark = pytest.mark.filterwarnings(ALLOW_PLAIN_AUTH)


def plain(port: int, **changes) -> SmtpSettings:
    options = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5.0, **changes}
    return SmtpSettings(**options)


@pytest.fixture
def system_keyring():
    with swapped_keyring() as use:
        yield use


def test_a_message_arrives_with_sender_recipients_subject_and_body():
    with running_server() as server:
        refused = send_email(
            plain(server.port, sender="lab@example.org"),
            ["ana@example.org", "bo@example.org"],
            "Hello",
            "Line one\nLine two",
        )
        (received,) = server.wait_for(1)
    assert refused == {}
    assert received.mail_from == "lab@example.org"
    assert received.rcpt_tos == ["ana@example.org", "bo@example.org"]
    assert received.subject == "Hello"
    assert received.body == "Line one\nLine two\n"


def test_default_sender_names_the_host():
    assert plain(25).from_address.startswith("labqueue@")


def test_closed_port_is_refused_by_name():
    port = closed_port()
    with pytest.raises(SmtpFailure, match=rf"connection refused by 127\.0\.0\.1:{port}"):
        send_email(plain(port), ["a@b.org"], "s", "b")


def test_a_server_that_never_answers_times_out_with_the_limit_named():
    with silent_server() as port:
        expected = rf"no answer from 127\.0\.0\.1:{port} within 0\.3 s"
        with pytest.raises(SmtpFailure, match=expected):
            send_email(plain(port, timeout=0.3), ["a@b.org"], "s", "b")


def test_starttls_on_a_server_without_it_says_so():
    with running_server() as server, pytest.raises(SmtpFailure, match="STARTTLS extension not supported"):
        send_email(plain(server.port, security="starttls"), ["a@b.org"], "s", "b")


def test_ssl_against_a_plain_server_says_tls_failed():
    with running_server() as server, pytest.raises(SmtpFailure, match=r"TLS with 127\.0\.0\.1:\d+ failed"):
        send_email(plain(server.port, security="ssl"), ["a@b.org"], "s", "b")


def test_wrong_password_is_an_authentication_failure_without_the_password():
    with running_server(require_login=True) as server, pytest.raises(SmtpFailure) as caught:
        send_email(plain(server.port, username=GOOD_USER), ["a@b.org"], "s", "b", password="wrong-pw")
    message = str(caught.value)
    assert message.startswith(f"authentication failed for user 'ana' at 127.0.0.1:{server.port}: 535")
    assert "wrong-pw" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_login_with_the_password_from_the_environment_when_there_is_no_keyring(monkeypatch, system_keyring):
    monkeypatch.setenv(PASSWORD_ENV, GOOD_PASSWORD)
    assert not keyring_available()
    with running_server(require_login=True) as server:
        send_email(plain(server.port, username=GOOD_USER), ["a@b.org"], "s", "b")
        assert len(server.wait_for(1)) == 1


def test_no_password_anywhere_says_where_to_put_it(system_keyring):
    with running_server(require_login=True) as server, pytest.raises(SmtpFailure) as caught:
        send_email(plain(server.port, username=GOOD_USER), ["a@b.org"], "s", "b")
    assert "keyring" in str(caught.value) and PASSWORD_ENV in str(caught.value)


def test_every_recipient_refused_is_reported_with_the_reply():
    with running_server() as server, pytest.raises(SmtpFailure) as caught:
        send_email(plain(server.port), ["nobody@b.org"], "s", "b")
    assert str(caught.value) == "every recipient was refused: nobody@b.org (550 5.1.1 no such user here)"


def test_some_recipients_refused_are_returned_and_the_rest_get_the_mail():
    with running_server() as server:
        refused = send_email(plain(server.port), ["nobody@b.org", "ana@b.org"], "s", "b")
        (received,) = server.wait_for(1)
    assert list(refused) == ["nobody@b.org"]
    assert received.rcpt_tos == ["ana@b.org"]


def test_no_recipient_is_refused_before_connecting():
    with pytest.raises(SmtpFailure, match="no recipient"):
        send_email(plain(closed_port()), [], "s", "b")


def test_keyring_password_wins_over_the_environment(monkeypatch, system_keyring):
    memory = system_keyring(MemoryKeyring())
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    settings = plain(25, username="ana")
    assert smtp_password(settings) == "from-env"  # nothing in the keyring yet
    store_password(settings, "from-keyring")
    assert memory.passwords == {("labqueue SMTP 127.0.0.1", "ana"): "from-keyring"}
    assert smtp_password(settings) == "from-keyring"


def test_a_broken_keyring_falls_back_to_the_environment(monkeypatch, system_keyring):
    system_keyring(MemoryKeyring(broken=True))
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert smtp_password(plain(25, username="ana")) == "from-env"


def test_storing_without_a_keyring_points_to_the_environment_variable(system_keyring):
    with pytest.raises(SmtpFailure, match=PASSWORD_ENV):
        store_password(plain(25, username="ana"), "pw")
    assert smtp_password(plain(25, username="ana")) is None
