"""``from labqueue.studies import StudyManager, RunManager, StepFactory``: the studies' public names."""

from .core.studies import *  # noqa: F403
from .core.studies import __all__ as __all__
