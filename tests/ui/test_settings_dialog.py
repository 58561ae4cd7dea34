"""The Settings dialog, offscreen: validation, saving, and a real test email (aiosmtpd)."""

import pytest
from PySide6.QtCore import Qt

from labqueue.core.config import EmailSettings, QueueSettings, Settings, load_settings
from labqueue.ui.settings_dialog import TEST_SUBJECT, SettingsDialog
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


@pytest.fixture
def system_keyring():
    with swapped_keyring() as use:
        yield use


@pytest.fixture
def config(tmp_path):
    return tmp_path / "config.toml"


@pytest.fixture
def open_dialog(qtbot, config, system_keyring):
    def make(settings: Settings | None = None, **options) -> SettingsDialog:
        dialog = SettingsDialog(settings or Settings(), config, **options)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


def server_settings(port: int, **email) -> Settings:
    return Settings(EmailSettings(to=("ana@lab.example",), host="127.0.0.1", port=port, security="none", **email))


def test_fields_show_the_settings_and_save_writes_them(open_dialog, config, qtbot):
    dialog = open_dialog(
        Settings(EmailSettings(to=("ana@lab.example",), stall_minutes=15), QueueSettings(False, abort_grace_seconds=4))
    )
    assert dialog.to_edit.text() == "ana@lab.example"
    assert dialog.stall_spin.value() == 15 and not dialog.pause_check.isChecked()
    assert dialog.grace_spin.value() == 4
    dialog.to_edit.setText("ana@lab.example, bo@lab.example")
    dialog.level_combo.setCurrentText("ERROR")
    dialog.port_spin.setValue(2525)
    dialog.security_combo.setCurrentText("ssl")
    dialog.username_edit.setText("ana")
    dialog.password_edit.setText("do-not-store-me")
    dialog.queue_done_check.setChecked(True)
    dialog.pause_check.setChecked(True)
    dialog.grace_spin.setValue(30)
    with qtbot.waitSignal(dialog.settings_saved) as saved:
        qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Save), Qt.MouseButton.LeftButton)
    expected = Settings(
        EmailSettings(
            to=("ana@lab.example", "bo@lab.example"),
            level="ERROR",
            port=2525,
            security="ssl",
            username="ana",
            queue_done=True,
            stall_minutes=15,
        ),
        QueueSettings(True, abort_grace_seconds=30),
    )
    assert saved.args == [expected]
    assert load_settings(config) == (expected, [])
    assert "do-not-store-me" not in config.read_text(encoding="utf-8")
    assert dialog.result() == dialog.DialogCode.Accepted


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("to_edit", "ana@lab.example, not-an-address", "To: 'not-an-address' is not an email address"),
        ("host_edit", "smtp lab", "Server: must be a host name"),
        ("sender_edit", "labqueue", "Sender: 'labqueue' is not an email address"),
    ],
)
def test_an_invalid_field_keeps_the_dialog_open_and_says_which(open_dialog, config, field, text, message):
    dialog = open_dialog()
    getattr(dialog, field).setText(text)
    dialog.save()
    assert dialog.error_label.isVisible()
    assert dialog.error_label.text().startswith(message)
    assert dialog.isVisible() and not config.exists()


def test_with_a_keyring_the_password_goes_there_and_not_in_the_file(open_dialog, config, system_keyring):
    memory = MemoryKeyring()
    system_keyring(memory)
    dialog = open_dialog(server_settings(25, username="ana"))
    dialog.password_edit.setText("kept-in-keyring")
    dialog.save()
    assert memory.passwords == {("labqueue SMTP 127.0.0.1", "ana"): "kept-in-keyring"}
    assert "kept-in-keyring" not in config.read_text(encoding="utf-8")


def test_without_a_keyring_the_password_field_says_to_use_the_environment(open_dialog):
    assert "LABQUEUE_SMTP_PASSWORD" in open_dialog().password_edit.placeholderText()


def click_test(dialog, qtbot) -> str:
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.test_button.isEnabled, timeout=20_000)
    return dialog.test_status.text()


def test_send_test_email_reports_success(open_dialog, qtbot):
    with running_server() as server:
        dialog = open_dialog(server_settings(server.port))
        assert click_test(dialog, qtbot) == "Test email sent to ana@lab.example."
        (mail,) = server.wait_for(1)
    assert mail.subject == TEST_SUBJECT


def test_send_test_email_reports_a_refused_connection_exactly(open_dialog, qtbot):
    port = closed_port()
    dialog = open_dialog(server_settings(port))
    assert click_test(dialog, qtbot) == (
        f"Test email failed: connection refused by 127.0.0.1:{port}: is the server running and the port right?"
    )


def test_wrong_credentials_are_reported_and_the_typed_password_is_used(open_dialog, qtbot):
    with running_server(require_login=True) as server:
        dialog = open_dialog(server_settings(server.port, username=GOOD_USER))
        dialog.password_edit.setText("wrong")
        status = click_test(dialog, qtbot)
        assert status.startswith(
            f"Test email failed: authentication failed for user 'ana' at 127.0.0.1:{server.port}: 535"
        )
        dialog.password_edit.setText(GOOD_PASSWORD)
        assert click_test(dialog, qtbot) == "Test email sent to ana@lab.example."


def test_the_window_stays_responsive_while_the_server_does_not_answer(open_dialog, qtbot):
    with silent_server() as port:
        dialog = open_dialog(server_settings(port), test_timeout=0.5)
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
        # The click returned while the attempt is still waiting for the server.
        assert not dialog.test_button.isEnabled()
        assert dialog.test_status.text() == "Sending a test email to ana@lab.example…"
        qtbot.waitUntil(dialog.test_button.isEnabled, timeout=20_000)
    assert dialog.test_status.text() == f"Test email failed: no answer from 127.0.0.1:{port} within 0.5 s"


def test_send_test_email_needs_a_recipient(open_dialog, qtbot):
    dialog = open_dialog()
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    assert dialog.test_status.text() == "Add at least one address in To first."
