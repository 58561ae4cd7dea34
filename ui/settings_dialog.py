"""The Settings dialog: edits ``config.toml``'s ``[email]`` and ``[queue]`` values.

Values are checked with the same rules as the file (:func:`labqueue.core.config.check_setting`),
so the dialog can never save what the program would refuse to read. The password is
kept in the system keyring, never in the file. "Send test email" talks to the server
on a background thread and reports success or the exact failure.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from labqueue.core.config import (
    EMAIL_LEVELS,
    SECURITY_MODES,
    EmailSettings,
    SettingError,
    Settings,
    check_setting,
    save_settings,
)
from labqueue.core.notify import (
    PASSWORD_ENV,
    SmtpFailure,
    SmtpSettings,
    keyring_available,
    send_email,
    store_password,
)

__all__ = ["SettingsDialog"]

TEST_SUBJECT = "labqueue test email"


class SettingsDialog(QDialog):
    """Edit the settings in ``config_path``; on Save they are written there and
    :attr:`settings_saved` is emitted with the new :class:`Settings`.

    ``test_timeout`` is how long the test email may wait for each step with the server.
    """

    settings_saved = Signal(object)
    _test_finished = Signal(bool, str)

    def __init__(
        self,
        settings: Settings,
        config_path: str | Path,
        parent: QWidget | None = None,
        *,
        test_timeout: float = 20.0,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("labqueue settings")
        self.config_path = Path(config_path)
        self._initial = settings  # what the dialog has no field for is kept as it was
        self._test_timeout = test_timeout
        self._keyring = keyring_available()
        self._build(settings)
        self._test_finished.connect(self._show_test_result)

    # -- layout ------------------------------------------------------------------------

    def _build(self, settings: Settings) -> None:
        email = settings.email
        self.to_edit = QLineEdit(", ".join(email.to))
        self.to_edit.setPlaceholderText("name@example.org, another@example.org")
        self.level_combo = _combo(EMAIL_LEVELS, email.level)
        self.host_edit = QLineEdit(email.host)
        self.port_spin = _spin(1, 65535, email.port)
        self.security_combo = _combo(SECURITY_MODES, email.security)
        self.username_edit = QLineEdit(email.username)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        if self._keyring:
            hint = "unchanged (kept in the system keyring)"
        else:
            hint = f"for the test only: no keyring here, set {PASSWORD_ENV}"
        self.password_edit.setPlaceholderText(hint)
        self.password_edit.setToolTip(f"The password is never written to config.toml; {hint}.")
        self.sender_edit = QLineEdit(email.sender)
        self.sender_edit.setPlaceholderText("labqueue@<this computer>")
        self.digest_spin = _double_spin(0, 86400, email.digest_seconds, " s")
        self.max_spin = _spin(1, 3600, email.max_per_hour)
        self.queue_done_check = QCheckBox("Email a summary when the queue is done")
        self.queue_done_check.setChecked(email.queue_done)
        self.stall_spin = _double_spin(0, 7 * 24 * 60, email.stall_minutes, " min")
        self.stall_spin.setSpecialValueText("off")
        self.pause_check = QCheckBox("Pause the queue when an experiment fails")
        self.pause_check.setChecked(settings.queue.pause_on_failure)
        self.grace_spin = _double_spin(0, 3600, settings.queue.abort_grace_seconds, " s")
        self.grace_spin.setToolTip(
            "An aborted experiment that has not stopped after this long is stopped by force; "
            "after as long again, the log says if it is stuck in a call that cannot be interrupted."
        )

        # key in [email], label, widget, and how to read the widget's value
        self._email_fields = [
            ("to", "To", self.to_edit, lambda: [a for a in re.split(r"[,;\s]+", self.to_edit.text()) if a]),
            ("level", "Level", self.level_combo, self.level_combo.currentText),
            ("host", "Server", self.host_edit, self.host_edit.text),
            ("port", "Port", self.port_spin, self.port_spin.value),
            ("security", "Security", self.security_combo, self.security_combo.currentText),
            ("username", "Username", self.username_edit, lambda: self.username_edit.text().strip()),
            ("sender", "Sender", self.sender_edit, lambda: self.sender_edit.text().strip()),
            ("digest_seconds", "Digest window", self.digest_spin, self.digest_spin.value),
            ("max_per_hour", "Emails per hour", self.max_spin, self.max_spin.value),
            ("queue_done", "Queue done", self.queue_done_check, self.queue_done_check.isChecked),
            ("stall_minutes", "Warn when silent for", self.stall_spin, self.stall_spin.value),
        ]
        email_form = QFormLayout()
        for key, label, widget, _ in self._email_fields:
            email_form.addRow("" if key == "queue_done" else f"{label}:", widget)
        email_form.insertRow(6, "Password:", self.password_edit)
        email_box = QGroupBox("Email")
        email_box.setLayout(email_form)

        queue_box = QGroupBox("Queue")
        queue_layout = QVBoxLayout(queue_box)
        queue_layout.addWidget(self.pause_check)
        grace_form = QFormLayout()
        grace_form.addRow("Force abort after:", self.grace_spin)
        queue_layout.addLayout(grace_form)

        self.test_button = QPushButton("Send test email")
        self.test_button.clicked.connect(self.send_test_email)
        self.test_status = QLabel()
        self.test_status.setWordWrap(True)
        self.test_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_status, 1)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.hide()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(email_box)
        layout.addLayout(test_row)
        layout.addWidget(queue_box)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    # -- reading the fields ------------------------------------------------------------

    def settings(self) -> Settings:
        """The settings the fields describe.

        Raises SettingError naming the field when one holds an invalid value.
        """
        values = {}
        for key, label, widget, read in self._email_fields:
            try:
                values[key] = check_setting("email", key, read())
            except SettingError as exc:
                widget.setFocus()
                raise SettingError(f"{label}: {exc}") from None
        queue = dataclasses.replace(
            self._initial.queue,
            pause_on_failure=self.pause_check.isChecked(),
            abort_grace_seconds=check_setting("queue", "abort_grace_seconds", self.grace_spin.value()),
        )
        return dataclasses.replace(self._initial, email=EmailSettings(**values), queue=queue)

    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    # -- actions -----------------------------------------------------------------------

    def save(self) -> None:
        """Check the fields, write the file (and the password to the keyring), close.

        On an invalid field or a failed write the dialog stays open and says why.
        """
        try:
            settings = self.settings()
        except SettingError as exc:
            self._show_error(str(exc))
            return
        password = self.password_edit.text()
        try:
            if password and self._keyring:
                store_password(SmtpSettings.from_email_settings(settings.email), password)
            save_settings(settings, self.config_path)
        except (OSError, SmtpFailure) as exc:
            self._show_error(f"Not saved: {exc}")
            return
        self._show_error("")
        self.settings_saved.emit(settings)
        self.accept()

    def send_test_email(self) -> None:
        """Send a test email with the values in the fields, without blocking the window."""
        try:
            email = self.settings().email
        except SettingError as exc:
            self._show_test_result(False, str(exc))
            return
        if not email.to:
            self._show_test_result(False, "Add at least one address in To first.")
            return
        smtp = SmtpSettings.from_email_settings(email, timeout=self._test_timeout)
        password = self.password_edit.text() or None
        self.test_button.setEnabled(False)
        self.test_status.setText(f"Sending a test email to {', '.join(email.to)}…")
        threading.Thread(
            target=self._send_test, args=(smtp, email.to, password), name="labqueue-test-email", daemon=True
        ).start()

    def _send_test(self, smtp: SmtpSettings, to: tuple[str, ...], password: str | None) -> None:
        body = f"This is a test email from labqueue, sent through {smtp.host}:{smtp.port} ({smtp.security})."
        try:
            refused = send_email(smtp, to, TEST_SUBJECT, body, password=password)
        except SmtpFailure as exc:
            ok, message = False, f"Test email failed: {exc}"
        else:
            sent_to = [a for a in to if a not in refused]
            ok, message = True, f"Test email sent to {', '.join(sent_to)}."
            if refused:
                message += f" Refused: {', '.join(refused)}."
        try:
            self._test_finished.emit(ok, message)
        except RuntimeError:  # the dialog was closed and deleted meanwhile
            pass

    def _show_test_result(self, ok: bool, message: str) -> None:
        self.test_button.setEnabled(True)
        self.test_status.setStyleSheet("" if ok else "color: #b00020;")
        self.test_status.setText(message)


def _combo(choices: tuple[str, ...], current: str) -> QComboBox:
    combo = QComboBox()
    combo.addItems(list(choices))
    combo.setCurrentText(current)
    return combo


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


def _double_spin(low: float, high: float, value: float, suffix: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(2)
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin
