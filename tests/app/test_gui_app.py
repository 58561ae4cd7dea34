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
        lambda data_dir=None, demo=False, startup_file=None, dask_scheduler=None: (
            calls.append((data_dir, demo, startup_file, dask_scheduler)) or 0
        ),
    )
    startup = tmp_path / "instruments.py"

    assert main([]) == 0
    assert main(["--demo", "--data-dir", str(tmp_path)]) == 0
    assert main(["--startup", str(startup)]) == 0
    assert main(["--dask-scheduler", "tcp://10.0.0.5:8786"]) == 0

    assert calls == [
        (None, False, None, None),
        (tmp_path, True, None, None),
        (None, False, startup, None),
        (None, False, None, "tcp://10.0.0.5:8786"),
    ]


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


def test_the_console_loads_in_steps_while_the_window_keeps_answering(qtbot, tmp_path, restore_sigint, monkeypatch):
    from labqueue.ui.console import LabConsole

    ticks = []
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: ticks.append(True))
    heartbeat.start(0)  # runs at every turn of the event loop
    ticks_at_each_step = []
    start_steps = LabConsole.start_steps

    def watched_steps(console):
        def watched(step):
            def run():
                ticks_at_each_step.append(len(ticks))
                step()

            return run

        return [watched(step) for step in start_steps(console)]

    monkeypatch.setattr(LabConsole, "start_steps", watched_steps)
    session = start_gui(data_dir=tmp_path / "lab", demo=True)
    window = session.window
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: session.console is not None, timeout=30_000)
    heartbeat.stop()

    assert len(ticks_at_each_step) == 3
    # The event loop turned between the steps: the window answered while the console loaded.
    assert ticks_at_each_step[0] < ticks_at_each_step[1] < ticks_at_each_step[2]
    assert "Console" in window.docks

    def stop() -> None:
        session.manager.shutdown(wait=True, abort_running=True, timeout=10)
        window.close()

    QTimer.singleShot(0, stop)
    assert session.run() == 0
    assert session.console._shut_down


def test_closing_while_the_console_loads_shuts_down_what_was_started(qtbot, tmp_path, restore_sigint):
    session = start_gui(data_dir=tmp_path / "lab")
    window = session.window
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: session.console_loader is not None, timeout=10_000)

    def stop() -> None:
        session.manager.shutdown(wait=True, abort_running=True, timeout=10)
        window.close()

    QTimer.singleShot(0, stop)  # before the import thread is done, most likely
    assert session.run() == 0
    loader = session.console_loader
    assert loader.console is None or loader.console._shut_down


def test_demo_without_a_data_dir_opens_the_window_on_a_demo_folder_and_says_so(monkeypatch, isolated_dirs, capsys):
    opened_on = []
    monkeypatch.setattr(
        labqueue.app.gui,
        "run_gui",
        lambda data_dir=None, demo=False, startup_file=None, dask_scheduler=None: (
            opened_on.append((data_dir, demo)) or 0
        ),
    )
    assert main(["--demo"]) == 0
    assert opened_on == [(isolated_dirs / "demo", True)]  # beside the user's journal, not in it
    assert capsys.readouterr().err == f"labqueue: demo queue kept in {isolated_dirs / 'demo'}\n"
