"""Karana's ``multirun`` API, on labqueue's queue: ``from labqueue.multirun import multirun, FileResource``.

A command over many parameter sets, one folder per run, every run an experiment in
the manager's queue and journal. See :mod:`labqueue.core.runs` for the details.
"""

from .core.runs import (
    AbstractRunner,
    DaskRunner,
    FileLinkage,
    FileResource,
    MultirunError,
    ParallelLocalRunner,
    ParamMap,
    ParamValue,
    Run,
    RunStatistics,
    RunStatus,
    SweepChanged,
    displayStatus,
    getRunParams,
    multirun,
    multirunAsync,
    postRunResults,
    restart_multirun,
)

__all__ = [
    "AbstractRunner",
    "DaskRunner",
    "FileLinkage",
    "FileResource",
    "MultirunError",
    "ParallelLocalRunner",
    "ParamMap",
    "ParamValue",
    "Run",
    "RunStatistics",
    "RunStatus",
    "SweepChanged",
    "displayStatus",
    "getRunParams",
    "multirun",
    "multirunAsync",
    "postRunResults",
    "restart_multirun",
]
