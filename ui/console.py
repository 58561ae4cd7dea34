"""The embedded IPython console: qtconsole's rich widget on an in-process kernel.

The kernel runs inside labqueue, so the console's namespace holds live objects (the
program puts its ``manager`` there, see ``app.console``) and there is no kernel process
and no network port. Console code runs on the GUI thread, so blocking on an experiment
(``exp.result()``) would freeze the window; the namespace's ``wait`` waits while the
Qt event loop keeps running. Input history lives in the data directory; a startup
script (the config directory's ``startup.py``, or ``labqueue --startup FILE``) runs in
the namespace first.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import io
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import TracebackType
from typing import Any

# qtconsole reaches Qt through qtpy: make it use the binding the rest of labqueue uses.
os.environ.setdefault("QT_API", "pyside6")
# ipykernel imports debugpy, which warns on stderr about frozen stdlib modules at import.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

from ipykernel.inprocess.ipkernel import InProcessInteractiveShell  # noqa: E402
from pygments.lexers import Python3Lexer  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QObject, Qt, QThread, QTimer, Signal  # noqa: E402
from PySide6.QtGui import QKeySequence  # noqa: E402
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget  # noqa: E402
from qtconsole.inprocess import QtInProcessKernelManager, QtInProcessRichJupyterWidget  # noqa: E402
from traitlets.config import Config  # noqa: E402

from labqueue.core.config import config_dir as default_config_dir  # noqa: E402
from labqueue.core.config import data_dir as default_data_dir  # noqa: E402

from .theme import is_dark  # noqa: E402

__all__ = [
    "HISTORY_FILE_NAME",
    "STARTUP_FILE_NAME",
    "LabConsole",
    "banner_text",
    "prepare_console_imports",
    "run_startup_file",
]

#: The console's input history (IPython's SQLite history) in the data directory.
HISTORY_FILE_NAME = "console_history.sqlite"
#: Run in the console's namespace at launch when it exists in the config directory.
STARTUP_FILE_NAME = "startup.py"

_EXAMPLE = """\
  @manager.queued_exec
  def measure(field): return 2 * field        # then measure(3.2) queues a call
"""


class LabConsole(QtInProcessRichJupyterWidget):
    """An IPython console whose namespace holds ``namespace`` plus ``wait``.

    ``startup_file`` overrides the config directory's ``startup.py``; errors in it are
    shown in the console, never raised. Call :meth:`shutdown` before dropping the
    console (it also runs when the application quits): it writes the history and
    stops the kernel's threads. Raises RuntimeError if another console is alive in
    this process (IPython allows one shell per process).
    """

    #: "lightbg" or "linux" (qtconsole's and IPython's names), once the kernel is up.
    _scheme: str | None = None

    def __init__(
        self,
        namespace: dict[str, Any],
        data_dir: str | Path | None = None,
        startup_file: str | Path | None = None,
        parent: QWidget | None = None,
        *,
        start: bool = True,
    ) -> None:
        if InProcessInteractiveShell.initialized():
            raise RuntimeError("a labqueue console is already open in this process; shut it down first")
        super().__init__(parent)
        self._given_namespace = namespace
        self._data_dir = data_dir
        self._startup_file = startup_file
        self.history_file, self._history_problem = _history_file(default_data_dir(data_dir))
        self.increase_font_size.setShortcuts(
            [*QKeySequence.keyBindings(QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")]
        )
        self.kernel_manager: QtInProcessKernelManager | None = None
        self._waiter = _Waiter()
        self._shut_down = False
        QCoreApplication.instance().aboutToQuit.connect(self.shutdown)
        self.exit_requested.connect(self._hide_dock)
        if start:
            for step in self.start_steps():
                step()

    def start_steps(self) -> list[Callable[[], None]]:
        """What is left of the start after the widget is made, in order: start the
        kernel, fill its namespace and run the startup file, connect to the kernel.
        Run them one per turn of the event loop, so the window never freezes for all
        of them at once (``start=False`` leaves them to the caller)."""
        return [self._start_kernel, self._run_startup, self._connect]

    def _start_kernel(self) -> None:
        config = Config()
        config.HistoryManager.hist_file = str(self.history_file or ":memory:")
        # Our banner replaces IPython's version blurb and tip of the day.
        config.InteractiveShell.banner1 = config.InteractiveShell.banner2 = ""
        config.InteractiveShell.enable_tip = False
        # ipykernel's in-process kernel fails on top-level await and leaves the console
        # stuck (7.x: no shell channel thread); without autoawait it is a SyntaxError.
        config.InteractiveShell.autoawait = False
        self._main_module = sys.modules["__main__"]
        self.kernel_manager = QtInProcessKernelManager(config=config)
        self.kernel_manager.start_kernel()
        self.shell = self.kernel_manager.kernel.shell
        # Before the startup file runs, so its traceback is coloured for the palette.
        self._follow_application_palette()

    def _run_startup(self) -> None:
        self.namespace = {**self._given_namespace, "wait": self._waiter.wait}
        self.shell.push(self.namespace)
        self.startup_file = _startup_path(self._data_dir, self._startup_file)
        startup_report = run_startup_file(self.shell, self.startup_file) if self.startup_file else ""
        self.banner = banner_text(self.namespace) + self._history_problem + startup_report

    def _connect(self) -> None:
        self.kernel_client = self.kernel_manager.client()
        self.kernel_client.start_channels()

    # -- lifetime ----------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop waiting, write the history, stop the kernel and its threads. Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        QCoreApplication.instance().aboutToQuit.disconnect(self.shutdown)
        self._waiter.interrupt()
        if self.kernel_manager is None:  # shut down before its kernel was started
            return
        if self.kernel_client is not None:
            self.kernel_client.stop_channels()
        save_thread = self.shell.history_manager.save_thread
        # Ends the history session and writes it out now rather than at interpreter
        # exit, where IPython registered it. Recent IPython also stops the history
        # thread there; stopping it here as well keeps older versions from leaking it.
        self.shell.atexit_operations()
        atexit.unregister(self.shell.atexit_operations)
        if save_thread is not None:
            save_thread.stop()
        # IPython made its namespace the process's ``__main__`` module; give it back
        # (only that: its cleanup() would also reset sys.stdout and sys.excepthook).
        sys.modules["__main__"] = self._main_module
        self.kernel_manager.shutdown_kernel()
        InProcessInteractiveShell.clear_instance()

    def _hide_dock(self) -> None:
        # ``exit``, ``quit`` and ``sys.exit()`` close a terminal IPython; here the
        # console belongs to the window, so they hide its dock (the View menu brings it back).
        dock = self.parentWidget()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        if dock is None:
            self._append_plain_text("The console stays open: it belongs to the labqueue window.\n")
        else:
            dock.hide()

    # -- waiting and interrupting ------------------------------------------------------

    def interrupt_kernel(self) -> None:
        """Ctrl+C: stop a :func:`wait` in progress (the experiment itself goes on).

        Code that runs without waiting holds the GUI thread, so nothing else can be
        interrupted in an in-process kernel.
        """
        self._reading = False
        if not self._waiter.interrupt():
            self._append_plain_text("Ctrl+C stops wait(); abort a running job with manager.abort_job().\n")

    def _complete(self) -> None:
        # While wait() spins the event loop the kernel is busy: asking it would run
        # a second request inside the first.
        if not self._executing:
            super()._complete()

    def _call_tip(self) -> bool:
        return False if self._executing else super()._call_tip()

    # -- appearance --------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        palette_changed = event.type() in (QEvent.Type.ApplicationPaletteChange, QEvent.Type.PaletteChange)
        if palette_changed and self._scheme is not None and self.kernel_manager is not None:
            self._follow_application_palette()

    def _follow_application_palette(self) -> None:
        # Read the application's palette, not the widget's: the style sheet set below
        # changes the widget's own palette.
        scheme = "linux" if is_dark(QApplication.palette()) else "lightbg"
        if self.shell.colors != scheme:
            self.shell.colors = scheme
        if self._scheme != scheme:
            self._scheme = scheme
            self.set_default_style(colors=scheme)


#: Modules the console imports only while it starts (the kernel's debugger, IPython's
#: completer and inspector, the colour style); importing them beforehand keeps the
#: start steps on the GUI thread short.
_IMPORTED_ON_START = (
    "ipykernel.debugger",
    "IPython.core.application",
    "IPython.core.completerlib",
    "IPython.core.oinspect",
    "jupyter_client.session",
    "pygments.styles.default",
)


def prepare_console_imports() -> None:
    """Import what starting a console needs and compile its syntax highlighter, so
    that creating one costs the GUI thread only what must happen there. Meant for a
    helper thread: it creates no Qt object (imports are thread-safe)."""
    for name in _IMPORTED_ON_START:
        importlib.import_module(name)
    # Each pygments lexer class compiles its regular expressions on first use (0.1 s).
    Python3Lexer()
    # The kernel client asks for the machine's addresses once, even in process: psutil
    # walks the network interfaces (20 ms). Asked here, the answer is cached for it.
    from jupyter_client import localinterfaces

    localinterfaces.localhost()


def banner_text(namespace: dict[str, Any]) -> str:
    """The console's greeting: what is in the namespace, an example, how to wait."""
    names = ", ".join(sorted(namespace, key=lambda name: (name != "manager", name != "wait", name)))
    return (
        f"labqueue console (Python {sys.version.split()[0]}, in-process IPython kernel)\n"
        f"Ready: {names}\n"
        f"{_EXAMPLE}"
        "wait(exp) returns its result and keeps the window alive (exp.result() would\n"
        "freeze it); wait([e1, e2], timeout=60) waits for several; Ctrl+C stops waiting.\n"
        "Font size: Ctrl+= and Ctrl+-.\n\n"
    )


def _history_file(data_dir: Path) -> tuple[Path | None, str]:
    """The history file in ``data_dir``, or None and the reason it cannot be kept."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return None, f"labqueue: input history is not kept: cannot use {data_dir}: {error.strerror or error}\n"
    return data_dir / HISTORY_FILE_NAME, ""


def _startup_path(data_dir: str | Path | None, startup_file: str | Path | None) -> Path | None:
    if startup_file is not None:
        return Path(startup_file).expanduser()
    default = default_config_dir(data_dir) / STARTUP_FILE_NAME
    return default if default.is_file() else None


def run_startup_file(shell: InProcessInteractiveShell, path: Path) -> str:
    """Run ``path`` in the shell's namespace and return what it printed.

    Never raises: if the file cannot be read or raises (SystemExit included), the
    returned text says so and holds the traceback, starting at the file's own frames.
    """
    try:
        path.open("rb").close()
    except OSError as error:
        return f"labqueue: cannot read startup file {path}: {error.strerror or error}\n"
    output = io.StringIO()
    namespace = shell.user_ns
    had_file, previous_file = "__file__" in namespace, namespace.get("__file__")
    namespace["__file__"] = str(path)
    try:
        with redirect_stdout(output), redirect_stderr(output):
            # IPython's execfile puts the file's folder on sys.path, so a lab's startup
            # script can import the instrument modules kept beside it.
            shell.safe_execfile(path, namespace, raise_exceptions=True)
    except (Exception, SystemExit) as error:
        output.write(f"labqueue: startup file {path} raised an error; the console is ready anyway.\n")
        frames = _frames_from_file(error.__traceback__, path.expanduser().resolve())
        output.write("\n".join(shell.InteractiveTB.structured_traceback(type(error), error, frames)) + "\n")
    finally:
        if had_file:
            namespace["__file__"] = previous_file
        else:
            namespace.pop("__file__", None)
    text = output.getvalue()
    return text if not text or text.endswith("\n") else text + "\n"


def _frames_from_file(tb: TracebackType | None, path: Path) -> TracebackType | None:
    # Skip labqueue's and IPython's frames so the traceback starts in the user's file.
    start = tb
    while start is not None and Path(start.tb_frame.f_code.co_filename) != path:
        start = start.tb_next
    return start or tb


# -- waiting without freezing the window ---------------------------------------------------


class _DoneRelay(QObject):
    """Carries "a future finished" from the thread that finished it to the GUI thread."""

    done = Signal()


def _relay() -> _DoneRelay:
    app = QCoreApplication.instance()
    relay = app.findChild(_DoneRelay, "labqueue-done-relay")
    if relay is None:
        # A child of the application: it outlives every console and every wait, so a
        # future finishing late never signals a deleted object while the app exists.
        relay = _DoneRelay(app)
        relay.setObjectName("labqueue-done-relay")
    return relay


def _announce_done(relay: _DoneRelay, _future: Future) -> None:
    # Runs on the thread that finished the future: emitting is safe there, looking the
    # relay up in the application's object tree would not be.
    try:
        relay.done.emit()
    except RuntimeError:
        pass  # the application and its relay are gone; nobody is waiting any more


class _Waiter:
    """Local event loops for :func:`wait`, so Ctrl+C in the console can end them."""

    def __init__(self) -> None:
        self._loops: list[QEventLoop] = []

    def interrupt(self) -> bool:
        """End every wait in progress (each raises KeyboardInterrupt). False if none."""
        for loop in self._loops:
            loop.quit()
        return bool(self._loops)

    def wait(self, experiments: Future | Iterable[Future], timeout: float | None = None) -> Any:
        """Wait for an experiment and return its result, keeping the window responsive.

        Pass one experiment (returns its result) or several (returns the list of
        results, in order). Raises the experiment's own exception if it failed,
        ``CancelledError`` if it was cancelled, ``TimeoutError`` if ``timeout`` seconds
        pass first, ``KeyboardInterrupt`` on Ctrl+C (the experiments go on), TypeError
        for anything that is not an experiment, and RuntimeError off the GUI thread.
        """
        futures = [experiments] if isinstance(experiments, Future) else _as_futures(experiments)
        app = QCoreApplication.instance()
        if app is None or QThread.currentThread() is not app.thread():
            raise RuntimeError("wait() runs on the console's (GUI) thread; elsewhere use exp.result()")
        if not all(future.done() for future in futures):
            self._spin_until_done(futures, timeout)
        results = [future.result() for future in futures]
        return results[0] if isinstance(experiments, Future) else results

    def _spin_until_done(self, futures: list[Future], timeout: float | None) -> None:
        loop = QEventLoop()
        timed_out = []

        def quit_when_done() -> None:
            if all(future.done() for future in futures):
                loop.quit()

        def give_up() -> None:
            timed_out.append(True)
            loop.quit()

        relay = _relay()
        relay.done.connect(quit_when_done, Qt.ConnectionType.QueuedConnection)
        for future in futures:
            future.add_done_callback(functools.partial(_announce_done, relay))
        if timeout is not None:
            timer = QTimer(loop, singleShot=True)
            timer.timeout.connect(give_up)
            timer.start(max(0, round(timeout * 1000)))
        self._loops.append(loop)
        try:
            # A future may have finished before its callback was added: check once more.
            if not all(future.done() for future in futures):
                loop.exec()
        finally:
            self._loops.remove(loop)
            relay.done.disconnect(quit_when_done)
        if all(future.done() for future in futures):
            return
        unfinished = sum(not future.done() for future in futures)
        if timed_out:
            raise TimeoutError(f"{unfinished} experiment(s) still not done after {timeout} s")
        raise KeyboardInterrupt(
            f"stopped waiting; {unfinished} experiment(s) still queued or running "
            "(manager.abort_job() aborts the running one)"
        )


def _as_futures(experiments: Any) -> list[Future]:
    try:
        futures = list(experiments)
    except TypeError:
        raise TypeError(f"wait() takes an Experiment or a list of them, got {type(experiments).__name__}") from None
    for item in futures:
        if not isinstance(item, Future):
            raise TypeError(f"wait() takes Experiments, got {type(item).__name__}: {item!r}")
    return futures
