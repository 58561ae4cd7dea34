"""``labqueue`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labqueue import __version__
from labqueue.core import DataDirectoryInUse, JournalError, config
from labqueue.core.config import DATA_DIR_ENV

from .data_dir import UnusableDataDir, check_data_dir
from .demo import demo_data_dir
from .exit_codes import ExitCode, exit_codes_help
from .script import ScriptError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labqueue",
        usage="labqueue [options]\n       labqueue --no-gui FILE [options] [-- SCRIPT_ARGUMENTS...]\n"
        "       labqueue study {run SPEC,status [STUDY],cancel STUDY,restart WORKSPACE} [--data-dir DIR]",
        description="Queue Python calls and run them one after another on a background worker.",
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"labqueue {__version__}")
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"keep config, journal and logs under DIR (also ${DATA_DIR_ENV})",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="queue simulated experiments that need no hardware, in a data directory of their own "
        "(a 'demo' folder in the usual one) unless --data-dir is given",
    )
    parser.add_argument(
        "--no-gui",
        metavar="FILE",
        # Without FILE only with --demo: "" then, None when --no-gui is not given.
        nargs="?",
        const="",
        help="run FILE as `python FILE` would, with `manager` in its namespace, without a window; print each "
        "experiment as it ends and a summary once the queue is empty",
    )
    parser.add_argument(
        "--continue-on-failure",
        action="store_true",
        help="with --no-gui: go on with the queue after a failed experiment (the default pauses it)",
    )
    parser.add_argument(
        "--startup",
        metavar="FILE",
        type=Path,
        help="run FILE in the console's namespace at launch (instead of the config directory's startup.py)",
    )
    parser.add_argument(
        "--dask-scheduler",
        metavar="ADDR",
        help="run the Dask lane's experiments on the Dask scheduler at ADDR (tcp://host:8786; one started by "
        "`dask scheduler` or dask-jobqueue) instead of a local cluster; overrides [dask] scheduler in config.toml",
    )
    parser.add_argument(
        "script_args",
        nargs="*",
        metavar="SCRIPT_ARGUMENTS",
        help="after --: the script's sys.argv[1:] (labqueue --no-gui sweep.py -- --points 50)",
    )
    return parser


#: Exit code when the data directory or its journal cannot be used.
EXIT_CANNOT_START = ExitCode.CANNOT_START


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["study"]:
        return _study(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    headless = args.no_gui is not None
    script = Path(args.no_gui) if args.no_gui else None
    if headless and args.startup is not None:
        parser.error("--startup sets up the window's console; with --no-gui, run that code from FILE")
    if headless and script is None and not args.demo:
        parser.error("--no-gui needs FILE (or --demo)")
    if args.script_args and script is None:
        parser.error(f"arguments for a script, but no --no-gui FILE: {' '.join(args.script_args)}")
    if args.continue_on_failure and not headless:
        parser.error("--continue-on-failure is for --no-gui; in the window, set it in File > Settings")
    data_dir = args.data_dir
    if args.demo and data_dir is None:
        # The demo fails and warns on purpose: its queue must not mix with the user's
        # experiments, nor its warnings reach the user's email settings.
        data_dir = demo_data_dir()
        print(f"labqueue: demo queue kept in {data_dir}", file=sys.stderr)
    try:
        if headless:
            from .headless import run_headless

            return run_headless(
                script,
                data_dir=data_dir,
                demo=args.demo,
                script_args=args.script_args,
                continue_on_failure=args.continue_on_failure,
                dask_scheduler=args.dask_scheduler,
            )
        from .gui import run_gui

        check_data_dir(config.data_dir(data_dir))
        return run_gui(data_dir=data_dir, demo=args.demo, startup_file=args.startup, dask_scheduler=args.dask_scheduler)
    except ScriptError as exc:
        print(f"labqueue: {exc}", file=sys.stderr)
        return ExitCode.SCRIPT_ERROR
    except (UnusableDataDir, DataDirectoryInUse, JournalError) as exc:
        print(f"labqueue: {exc}", file=sys.stderr)
        return ExitCode.CANNOT_START


def _study(argv: list[str]) -> int:
    # A subcommand of its own, apart from the flags above, so that `labqueue --no-gui FILE`
    # and every other existing form parse as before.
    from .study_cli import run_study_command

    try:
        return run_study_command(argv)
    except (DataDirectoryInUse, JournalError) as exc:
        print(f"labqueue: {exc}", file=sys.stderr)
        return ExitCode.CANNOT_START


if __name__ == "__main__":
    sys.exit(main())
