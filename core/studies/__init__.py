"""Studies: named, stored groups of steps and their runs, with a workspace folder.

``study_manager`` runs, cancels and restarts them; ``records`` keeps study and run
records in the journal's file (``RunManager`` as in Merlin); ``spec`` reads TOML
specs; ``steps`` makes one step's experiment (a command run on the process lane, or a
Python call) in its run directory and builds chains of steps for many series at once
(``StepFactory``, after PYME's ``RuleFactory``).
"""

from .records import RunManager, RunNotFoundError, RunRecord, StudyNotFoundError, StudyRecord, StudyRecordManager
from .spec import SpecError, StepSpec, StudySpec, load_spec
from .steps import FINISHED_MARKER, CommandFailed, Step, StepCall, StepFactory, TemplateKeyError, fill_template
from .study_manager import FailedRun, SpecChanged, StepStatus, StudyExists, StudyManager, StudyStatus

__all__ = [
    "FINISHED_MARKER",
    "CommandFailed",
    "RunManager",
    "RunNotFoundError",
    "RunRecord",
    "SpecChanged",
    "SpecError",
    "Step",
    "StepCall",
    "StepFactory",
    "StepSpec",
    "FailedRun",
    "StepStatus",
    "StudyExists",
    "StudyManager",
    "StudyNotFoundError",
    "StudyRecord",
    "StudyRecordManager",
    "StudySpec",
    "StudyStatus",
    "TemplateKeyError",
    "fill_template",
    "load_spec",
]
