"""``labqueue`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labqueue import __version__
from labqueue.core import DataDirectoryInUse, JournalError
from labqueue.core.config import DATA_DIR_ENV


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labqueue",
        description="Queue Python calls and run them one after another on a background worker.",
    )
    parser.add_argument("--version", action="version", version=f"labqueue {__version__}")
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"keep config, journal and logs under DIR (also ${DATA_DIR_ENV})",
    )
    parser.add_argument("--demo", action="store_true", help="queue simulated experiments that need no hardware")
    parser.add_argument(
        "--no-gui",
        metavar="FILE",
        type=Path,
        help="run FILE headless with `manager` in its namespace, wait until the queue is empty, print a summary",
    )
    parser.add_argument(
        "--startup",
        metavar="FILE",
        type=Path,
        help="run FILE in the console's namespace at launch (instead of the config directory's startup.py)",
    )
    return parser


#: Exit code when the data directory or its journal cannot be used.
EXIT_CANNOT_START = 3


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .headless import run_headless

    if args.no_gui is not None and args.startup is not None:
        parser.error("--startup sets up the window's console; with --no-gui, run that code from FILE")
    try:
        if args.no_gui is not None:
            return run_headless(args.no_gui, data_dir=args.data_dir, demo=args.demo)
        from .gui import run_gui

        return run_gui(data_dir=args.data_dir, demo=args.demo, startup_file=args.startup)
    except (DataDirectoryInUse, JournalError) as exc:
        print(f"labqueue: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START


if __name__ == "__main__":
    sys.exit(main())
