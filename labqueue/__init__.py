"""labqueue: queue Python calls and run them one after another on a background worker.

The public names of the engine are here (``from labqueue import Manager``); the parts
are ``labqueue.core`` (no Qt), ``labqueue.ui`` (the window), ``labqueue.app`` (the
program) and ``labqueue.resources`` (icons).
"""

from importlib.metadata import PackageNotFoundError, version

from .core import *  # noqa: F403 (labqueue's public names are core's)
from .core import __all__ as __all__

try:
    __version__ = version("labqueue")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
