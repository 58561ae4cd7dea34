"""The ``labqueue`` command's exit codes: what a shell script or a scheduler sees."""

from __future__ import annotations

import enum

__all__ = ["ExitCode", "exit_codes_help"]


class ExitCode(enum.IntEnum):
    """Each code means one thing; the first that applies wins, in this order:
    TERMINATED and INTERRUPTED, CANNOT_START, SCRIPT_ERROR, FAILED, OK."""

    OK = 0
    #: An experiment failed, was aborted, or was left queued (the queue paused).
    FAILED = 1
    #: Bad command line, or the script could not be read, did not compile, or raised.
    SCRIPT_ERROR = 2
    #: The data directory or its journal cannot be used (or another labqueue holds it).
    CANNOT_START = 3
    #: Ctrl-C (SIGINT): the running experiment was aborted (128 + SIGINT, as shells count).
    INTERRUPTED = 130
    #: SIGTERM: handled like Ctrl-C (128 + SIGTERM).
    TERMINATED = 143


_MEANINGS = {
    ExitCode.OK: "every experiment finished",
    ExitCode.FAILED: "an experiment failed or was aborted, or some were left queued",
    ExitCode.SCRIPT_ERROR: "bad usage, or the script is missing, does not compile or raised",
    ExitCode.CANNOT_START: "the data directory or its journal cannot be used",
    ExitCode.INTERRUPTED: "stopped by Ctrl-C (the running experiment was aborted)",
    ExitCode.TERMINATED: "stopped by SIGTERM (the running experiment was aborted)",
}


def exit_codes_help() -> str:
    """The exit codes as lines for ``--help``."""
    return "exit codes:\n" + "\n".join(f"  {int(code):<4} {_MEANINGS[code]}" for code in ExitCode)
