"""What the embedded console costs at launch, against a plain text widget, same process.

Prints the seconds to import the console's modules (qtconsole, ipykernel, IPython), to
create the console, and from creation to its first prompt; and the same creation and
first paint for a QPlainTextEdit as the baseline. The figures say why the window
creates its console after its first paint.

    python bench/console_startup.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QPlainTextEdit  # noqa: E402

from labqueue import Manager  # noqa: E402


def spin_until(app: QApplication, condition) -> None:
    while not condition():
        app.processEvents()


def main() -> None:
    app = QApplication(sys.argv)
    start = time.perf_counter()
    baseline = QPlainTextEdit()
    baseline.show()
    app.processEvents()
    baseline_s = time.perf_counter() - start

    start = time.perf_counter()
    from labqueue.app.console import create_console

    import_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as data_dir, Manager(data_dir=data_dir) as manager:
        start = time.perf_counter()
        console = create_console(manager, data_dir=data_dir)
        console.show()
        create_s = time.perf_counter() - start
        start = time.perf_counter()
        spin_until(app, lambda: "In [" in console._control.toPlainText())
        prompt_s = time.perf_counter() - start
        console.shutdown()

    print(f"baseline QPlainTextEdit create+paint: {baseline_s * 1000:8.1f} ms")
    print(f"console import (qtconsole, ipykernel): {import_s * 1000:8.1f} ms")
    print(f"console create+show:                   {create_s * 1000:8.1f} ms")
    print(f"console show -> first prompt:          {prompt_s * 1000:8.1f} ms")
    total = import_s + create_s + prompt_s
    print(f"console total {total * 1000:.1f} ms = {total / baseline_s:.0f}x the baseline")


if __name__ == "__main__":
    main()
