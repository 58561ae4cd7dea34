"""Child of test_studies.py's crash test: runs a study and is killed inside its last step.

Usage: ``python study_crash_child.py SPEC DATA_DIR``. Prints ``holding`` once the last
step runs, every earlier run having finished with its outcome recorded and not stored
yet in the study records (the journal has their experiments' ends), then waits to be
killed.
"""

import sys
import threading

from labqueue.studies import StudyManager

if __name__ == "__main__":
    studies = StudyManager(sys.argv[2])
    studies.runs.OUTCOME_DELAY_S = 3600.0  # keep every outcome waiting until the kill
    studies.run(sys.argv[1])
    threading.Event().wait()
