"""Child of test_sweep_crash.py: a labqueue process that runs a sweep until it is killed.

Usage: ``python sweep_child.py DATA_DIR OUTPUT_PATH CMD_JSON RUNS_JSON [dask]``
(``dask``: on the Dask lane's embedded cluster of two workers)

It queues the sweep on a Manager with a journal in DATA_DIR and acknowledges on stdout
``done I STATUS`` as each run ends (after its outcome is in the journal), then waits
to be killed.
"""

import json
import os
import sys
import threading

from labqueue import Manager
from labqueue.multirun import DaskRunner, ParallelLocalRunner, multirun


def main() -> None:
    data_dir, output_path, cmd, runs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
    manager = Manager(data_dir=data_dir)
    if sys.argv[5:] == ["dask"]:
        manager.dask_lane.n_workers = 2
        runner = DaskRunner(manager=manager)
    else:
        runner = ParallelLocalRunner(max_parallel=len(runs), manager=manager)
    for run in multirun(runs=runs, cmd=cmd, output_path=output_path, runner=runner, wait=False):
        run.experiment.add_done_callback(lambda exp, i=run.index: os.write(1, f"done {i} {exp.status.name}\n".encode()))
    threading.Event().wait()


if __name__ == "__main__":
    main()
