"""``labqueue`` and ``labqueue --demo`` open the window (the event loop runs for real)."""

from __future__ import annotations

import signal

import pytest
from PySide6.QtCore import QTimer

import labqueue.app.gui
from labqueue.app.gui import start_gui
from labqueue.app.main import main
from labqueue.ui.settings_dialog import SettingsDialog


@pytest.fixture
def restore_sigint():
    handler = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, handler)


def test_demo_opens_the_window_on_the_data_dir_with_the_demo_queued(qtbot, tmp_path, restore_sigint):
    session = start_gui(data_dir=tmp_path / "lab", demo=True, console=False)
    window = session.window
    qtbot.addWidget(window)

    assert window.isVisible()
    assert str(tmp_path / "lab") in window.windowTitle()
    assert not window.windowIcon().isNull()
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 5)
    assert session.manager.data_dir == tmp_path / "lab"
    studies_dock = window.docks["Studies"]  # tabbed with the log, listed in the View menu
    assert studies_dock.widget().studies is session.studies and session.studies.manager is session.manager
    assert studies_dock.toggleViewAction() in window.view_menu.actions()
    assert studies_dock in window.tabifiedDockWidgets(window.docks["Log"])

    def stop() -> None:
        session.manager.shutdown(wait=True, abort_running=True, timeout=10)
        window.close()

    QTimer.singleShot(0, stop)
    assert session.run() == 0
    assert not window.isVisible()


def test_labqueue_without_arguments_opens_the_window_and_demo_adds_the_demo(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(
        labqueue.app.gui,
        "run_gui",
        lambda data_dir=None, demo=False, startup_file=None: calls.append((data_dir, demo, startup_file)) or 0,
    )
    startup = tmp_path / "instruments.py"

    assert main([]) == 0
    assert main(["--demo", "--data-dir", str(tmp_path)]) == 0
    assert main(["--startup", str(startup)]) == 0

    assert calls == [(None, False, None), (tmp_path, True, None), (None, False, startup)]


def test_the_window_docks_the_console_after_showing_and_settings_opens_the_dialog(qtbot, tmp_path, restore_sigint):
    startup = tmp_path / "instruments.py"
    startup.write_text("magnet_field_mT = 340\n")
    session = start_gui(data_dir=tmp_path / "lab", startup_file=startup)
    window = session.window
    qtbot.addWidget(window)
    assert session.console is None  # not before the first paint
    qtbot.waitUntil(lambda: session.console is not None and "Console" in window.docks, timeout=30_000)
    shell = session.console.kernel_manager.kernel.shell
    assert shell.user_ns["magnet_field_mT"] == 340
    assert shell.user_ns["manager"] is session.manager

    # Typed at the prompt: the call appears in the window's queue table and runs.
    qtbot.waitUntil(lambda: "In [" in session.console._control.toPlainText(), timeout=10_000)
    code = "@manager.queued_exec\ndef calibrate(x):\n    return 2 * x\n\nexp = calibrate(21)\n"
    with qtbot.waitSignal(session.console.executed, timeout=10_000):
        session.console.execute(code)
    exp = shell.user_ns["exp"]
    qtbot.waitUntil(lambda: window.queue_model.row_of(exp.id) is not None, timeout=10_000)
    assert exp.result(timeout=10) == 42

    assert window.settings_action.isEnabled()
    window.settings_action.trigger()
    dialog = window.findChild(SettingsDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.config_path == session.services.config_path
    dialog.reject()

    def stop() -> None:
        session.manager.shutdown(wait=True, abort_running=True, timeout=10)
        window.close()

    QTimer.singleShot(0, stop)
    assert session.run() == 0
    assert session.console._shut_down


def test_demo_without_a_data_dir_opens_the_window_on_a_demo_folder_and_says_so(monkeypatch, isolated_dirs, capsys):
    opened_on = []
    monkeypatch.setattr(
        labqueue.app.gui,
        "run_gui",
        lambda data_dir=None, demo=False, startup_file=None: opened_on.append((data_dir, demo)) or 0,
    )
    assert main(["--demo"]) == 0
    assert opened_on == [(isolated_dirs / "demo", True)]  # beside the user's journal, not in it
    assert capsys.readouterr().err == f"labqueue: demo queue kept in {isolated_dirs / 'demo'}\n"
