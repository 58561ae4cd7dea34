"""The embedded IPython console: real in-process kernel, real widget, offscreen."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import CancelledError, Future
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow
from qtconsole import styles

import labqueue
from labqueue import ExpStatus, Manager
from labqueue.app.console import create_console
from labqueue.app.main import build_parser, main
from labqueue.app.services import start_services
from labqueue.ui.console import HISTORY_FILE_NAME, STARTUP_FILE_NAME

# ipykernel's own in-process kernel answers history requests synchronously.
pytestmark = pytest.mark.filterwarnings("ignore:For consistency across implementations:PendingDeprecationWarning")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KERNEL_THREADS = {"IOPub", "IPythonHistorySavingThread"}


@pytest.fixture
def manager():
    manager = Manager(pause_on_failure=False)
    yield manager
    manager.shutdown(wait=True, abort_running=True, timeout=10)


@pytest.fixture
def open_console(qtbot, manager):
    """Opens consoles (on ``manager`` unless told); shuts them down and checks no kernel
    thread is left."""
    consoles = []

    def open_one(on: Manager | None = None, **options):
        console = create_console(on or manager, **options)
        qtbot.addWidget(console)
        consoles.append(console)
        console.show()
        qtbot.waitUntil(lambda: "In [" in text_of(console), timeout=10_000)
        return console

    yield open_one
    for console in consoles:
        console.shutdown()
    assert not KERNEL_THREADS & {thread.name for thread in threading.enumerate()}


def text_of(console) -> str:
    return console._control.toPlainText()


def run(qtbot, console, code: str) -> None:
    """Execute ``code`` as if typed at the prompt, and wait until its reply is shown."""
    with qtbot.waitSignal(console.executed, timeout=10_000):
        console.execute(code)


def press_ctrl(qtbot, console, key: Qt.Key) -> None:
    qtbot.keyClick(console._control, key, Qt.KeyboardModifier.ControlModifier)


def user(console, name: str):
    return console.shell.user_ns[name]


# -- queueing from the console -------------------------------------------------------


def test_console_defined_call_is_queued_and_runs(qtbot, open_console, manager):
    console = open_console()
    run(
        qtbot,
        console,
        "@manager.queued_exec\ndef measure(field, n=2):\n    return field * n\n\nexp = measure(3.5)\n",
    )
    exp = user(console, "exp")
    assert manager.job_queue.get(exp.id) is exp
    assert exp.title == "measure(field=3.5)"
    run(qtbot, console, "wait(exp)")
    assert exp.status is ExpStatus.FINISHED
    assert "Out[2]: 7.0" in text_of(console)


def test_restart_restores_a_console_defined_call_and_runs_it(qtbot, open_console, isolated_dirs):
    durable = Manager(data_dir=isolated_dirs)
    durable.pause_worker()  # the call is still queued when the program stops
    try:
        console = open_console(on=durable)
        run(
            qtbot,
            console,
            "OFFSET = 100\n\ndef helper(x):\n    return x + OFFSET\n\n"
            "@manager.queued_exec\ndef calibrated(x, gain=3):\n    checkpoint()\n    return helper(x) * gain\n\n"
            "exp = calibrated(5)\n",
        )
        exp = user(console, "exp")
        assert exp.stored is True, exp.store_error
        console.shutdown()
    finally:
        durable.shutdown()
    # A new process has never seen the console: the call must come back by value.
    restart = (
        "import sys\n"
        "from labqueue import Manager\n"
        "manager = Manager(data_dir=sys.argv[1])\n"
        "[exp] = manager.job_queue.queued\n"
        "manager.resume_worker()\n"
        "print(exp.title, exp.result(timeout=30))\n"
        "manager.shutdown()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", restart, str(isolated_dirs)], capture_output=True, cwd=PROJECT_ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "calibrated(x=5) 315"


# -- namespace and banner ------------------------------------------------------------


def test_namespace_holds_manager_core_names_and_wait(open_console, manager):
    console = open_console()
    assert user(console, "manager") is manager
    for name in labqueue.__all__:
        assert user(console, name) is getattr(labqueue, name)
    assert callable(user(console, "wait"))
    banner = text_of(console).split("In [")[0]
    assert "manager, wait, " in banner
    assert "@manager.queued_exec" in banner
    assert "wait(exp)" in banner and "exp.result() would" in banner
    assert "Tip:" not in banner and "Type 'copyright'" not in banner


def test_exit_hides_the_console_dock(qtbot, open_console):
    window = QMainWindow()
    dock = QDockWidget("Console", window)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    console = open_console()
    dock.setWidget(console)
    window.show()
    try:
        run(qtbot, console, "exit")
        assert dock.isHidden()
        assert not console._shut_down  # hidden, not closed: View > Console shows it again
    finally:
        console.setParent(None)  # the fixture, not the window, ends the console
        window.close()


def test_exit_outside_a_dock_says_the_console_stays(qtbot, open_console):
    console = open_console()
    run(qtbot, console, "exit")
    qtbot.waitUntil(lambda: "The console stays open" in text_of(console), timeout=5000)


def test_second_console_in_one_process_is_refused(open_console, manager):
    open_console()
    with pytest.raises(RuntimeError, match="already open"):
        create_console(manager)


# -- startup script --------------------------------------------------------------------


def test_startup_py_in_config_dir_runs_in_namespace(qtbot, open_console, manager, isolated_dirs):
    isolated_dirs.mkdir(parents=True, exist_ok=True)
    (isolated_dirs / "instruments.py").write_text("GAIN = 4\n")
    (isolated_dirs / STARTUP_FILE_NAME).write_text(
        "from instruments import GAIN\n"
        "print('cryostat ready')\n"
        "@manager.queued_exec\n"
        "def amplify(x):\n"
        "    return GAIN * x\n"
    )
    console = open_console()
    assert "cryostat ready" in text_of(console)
    assert "__file__" not in console.shell.user_ns
    run(qtbot, console, "wait(amplify(2))")
    assert "Out[1]: 8" in text_of(console)


def test_explicit_startup_file_replaces_config_dir_one(open_console, isolated_dirs, tmp_path):
    isolated_dirs.mkdir(parents=True, exist_ok=True)
    (isolated_dirs / STARTUP_FILE_NAME).write_text("source = 'config dir'\n")
    explicit = tmp_path / "lab.py"
    explicit.write_text("source = 'explicit'\n")
    console = open_console(startup_file=explicit)
    assert user(console, "source") == "explicit"


def test_startup_error_is_shown_with_traceback_and_console_works(qtbot, open_console, tmp_path):
    startup = tmp_path / "broken.py"
    startup.write_text("ready = True\n\ndef connect():\n    raise ConnectionError('magnet PSU offline')\n\nconnect()\n")
    console = open_console(startup_file=startup)
    shown = text_of(console)
    assert f"startup file {startup} raised an error" in shown
    assert "ConnectionError: magnet PSU offline" in shown
    assert f"File {startup}:6" in shown  # the traceback starts in the user's file
    assert "safe_execfile" not in shown
    assert user(console, "ready") is True
    run(qtbot, console, "6 * 7")
    assert "Out[1]: 42" in text_of(console)


def test_missing_startup_file_is_reported(open_console, tmp_path):
    missing = tmp_path / "nowhere.py"
    console = open_console(startup_file=missing)
    assert f"cannot read startup file {missing}: No such file or directory" in text_of(console)


def test_startup_sys_exit_is_shown_not_raised(open_console, tmp_path):
    startup = tmp_path / "quits.py"
    startup.write_text("import sys\nsys.exit(3)\n")
    console = open_console(startup_file=startup)
    assert "SystemExit: 3" in text_of(console)


def test_startup_option_is_parsed_and_refused_headless(tmp_path, capsys):
    assert build_parser().parse_args(["--startup", "lab.py"]).startup == Path("lab.py")
    with pytest.raises(SystemExit):
        main(["--no-gui", str(tmp_path / "run.py"), "--startup", "lab.py"])
    assert "--startup sets up the window's console" in capsys.readouterr().err


# -- history ---------------------------------------------------------------------------


def history_sources(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("SELECT source_raw FROM history")]
    finally:
        connection.close()


def test_history_is_kept_in_data_dir_across_sessions(qtbot, open_console, isolated_dirs):
    first = open_console()
    assert first.history_file == isolated_dirs / HISTORY_FILE_NAME
    run(qtbot, first, "answer = 41 + 1")
    qtbot.waitUntil(lambda: "answer = 41 + 1" in history_sources(first.history_file), timeout=10_000)
    first.shutdown()

    second = open_console()
    qtbot.waitUntil(lambda: "answer = 41 + 1" in second.history_tail(10), timeout=10_000)


def test_unusable_data_dir_opens_the_console_without_history(qtbot, open_console, tmp_path):
    not_a_folder = tmp_path / "taken"
    not_a_folder.write_text("")
    console = open_console(data_dir=not_a_folder)
    assert console.history_file is None
    assert f"input history is not kept: cannot use {not_a_folder}: File exists" in text_of(console)
    run(qtbot, console, "6 * 7")
    assert "Out[1]: 42" in text_of(console)


def test_shutdown_gives_back_the_main_module(open_console):
    main_module = sys.modules["__main__"]
    console = open_console()
    assert sys.modules["__main__"] is not main_module  # IPython's namespace, while open
    console.shutdown()
    assert sys.modules["__main__"] is main_module


# -- no network --------------------------------------------------------------------------


INET_TABLES = ("tcp", "tcp6", "udp", "udp6")


def inet_socket_inodes(listening_only: bool) -> set[int]:
    """Inodes of this machine's TCP/UDP sockets (only those accepting connections or
    datagrams if ``listening_only``)."""
    inodes = set()
    for table in INET_TABLES:
        listening_state = "0A" if table.startswith("tcp") else "07"
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if not listening_only or (fields[3] == listening_state and local_port != 0):
                inodes.add(int(fields[9]))
    return inodes


def listening_inodes() -> set[int]:
    """Inodes of every socket on this machine that accepts connections or datagrams."""
    inodes = inet_socket_inodes(listening_only=True)
    so_acceptcon = 0x10000
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[3], 16) & so_acceptcon:
            inodes.add(int(fields[6]))
    return inodes


def own_socket_inodes() -> set[int]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed since the listing
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def test_socket_check_sees_a_listening_socket(tmp_path):
    with socket.create_server(("127.0.0.1", 0)):
        assert own_socket_inodes() & listening_inodes()
    with socket.socket(socket.AF_UNIX) as local:
        local.bind(str(tmp_path / "s"))
        local.listen()
        assert own_socket_inodes() & listening_inodes()
    assert not own_socket_inodes() & listening_inodes()


def test_console_and_services_listen_on_no_socket(qtbot, open_console, isolated_dirs):
    durable = Manager(data_dir=isolated_dirs)
    services = start_services(durable, isolated_dirs)
    try:
        console = open_console(on=durable)
        run(qtbot, console, "@manager.queued_exec\ndef ping():\n    return 'pong'\n\nprint(wait(ping()))")
        assert "pong" in text_of(console)
        assert console.kernel_manager.kernel is not None
        own = own_socket_inodes()
        assert not own & listening_inodes()
        assert not own & inet_socket_inodes(listening_only=False)  # not even a client connection
        console.shutdown()
    finally:
        durable.shutdown()
        services.stop()


# -- waiting without freezing ------------------------------------------------------------


def test_wait_keeps_the_event_loop_running(open_console, manager):
    wait = user(open_console(), "wait")
    gate = threading.Event()
    exp = manager.queued_exec(gate.wait)(10)
    # Only a running GUI event loop opens the gate; a blocking wait would time out.
    QTimer.singleShot(0, gate.set)
    assert wait(exp) is True


def test_wait_several_returns_results_in_order(open_console, manager):
    wait = user(open_console(), "wait")
    square = manager.queued_exec(lambda x: x * x)
    assert wait([square(x) for x in range(5)]) == [0, 1, 4, 9, 16]


def test_wait_raises_the_experiments_error_and_cancellation(open_console, manager):
    wait = user(open_console(), "wait")
    with pytest.raises(ZeroDivisionError):
        wait(manager.queued_exec(lambda: 1 / 0)())
    manager.pause_worker()
    queued = manager.queued_exec(lambda: None)()
    manager.clear_all_jobs()
    with pytest.raises(CancelledError):
        wait(queued)


def test_wait_times_out_and_leaves_the_experiment_running(open_console, manager):
    wait = user(open_console(), "wait")
    gate = threading.Event()
    exp = manager.queued_exec(gate.wait)(30)
    with pytest.raises(TimeoutError, match="1 experiment"):
        wait(exp, timeout=0.05)
    assert not exp.done()
    gate.set()
    assert wait(exp, timeout=10) is True


def test_wait_rejects_what_is_not_an_experiment(open_console):
    wait = user(open_console(), "wait")
    with pytest.raises(TypeError, match="got int"):
        wait(3)
    with pytest.raises(TypeError, match="got str: 'a'"):
        wait(["a"])


def test_wait_off_the_gui_thread_is_refused(open_console):
    wait = user(open_console(), "wait")
    finished = Future()
    finished.set_result(1)
    errors = []
    thread = threading.Thread(target=lambda: errors.append(pytest.raises(RuntimeError, wait, finished)))
    thread.start()
    thread.join(timeout=10)
    assert "GUI" in str(errors[0].value)


def test_ctrl_c_stops_waiting_in_the_console(qtbot, open_console, manager):
    console = open_console()
    gate = threading.Event()
    console.shell.push({"gate": gate})
    run(qtbot, console, "exp = manager.queued_exec(gate.wait)(30)")
    QTimer.singleShot(0, lambda: qtbot.keyClick(console._control, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier))
    run(qtbot, console, "wait(exp)")
    assert "KeyboardInterrupt: stopped waiting; 1 experiment(s) still queued or running" in text_of(console)
    exp = user(console, "exp")
    assert exp.status is ExpStatus.RUNNING
    gate.set()
    run(qtbot, console, "wait(exp)")
    assert exp.status is ExpStatus.FINISHED


def test_top_level_await_is_a_syntax_error_not_a_stuck_console(qtbot, open_console):
    console = open_console()
    run(qtbot, console, "import asyncio\nawait asyncio.sleep(0)")
    assert "SyntaxError: 'await' outside function" in text_of(console)
    run(qtbot, console, "6 * 7")
    assert "Out[2]: 42" in text_of(console)


# -- appearance ----------------------------------------------------------------------------


def test_font_size_shortcuts(qtbot, open_console):
    console = open_console()
    console.activateWindow()
    qtbot.waitActive(console)
    size = console.font.pointSize()
    press_ctrl(qtbot, console, Qt.Key.Key_Equal)
    assert console.font.pointSize() == size + 1
    press_ctrl(qtbot, console, Qt.Key.Key_Minus)
    press_ctrl(qtbot, console, Qt.Key.Key_Minus)
    assert console.font.pointSize() == size - 1


def test_console_follows_the_application_palette(qtbot, open_console):
    console = open_console()
    app = QApplication.instance()
    light = app.palette()
    assert console.syntax_style == styles.default_light_syntax_style
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.Window, QColor("#202124"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#e8eaed"))
    try:
        app.setPalette(dark)
        qtbot.waitUntil(lambda: console.syntax_style == styles.default_dark_syntax_style, timeout=5000)
        assert console.shell.colors == "linux"
        assert console.style_sheet == styles.default_dark_style_sheet
    finally:
        app.setPalette(light)
    qtbot.waitUntil(lambda: console.syntax_style == styles.default_light_syntax_style, timeout=5000)
    assert console.shell.colors == "lightbg"
