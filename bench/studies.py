"""Studies benchmark: a 3-step study over 1,000 samples.

Prints the time from ``StudyManager.run`` to all 3,000 runs queued, and the time per
step run from start to the last result, against a plain chain of
``concurrent.futures`` callbacks in the same process running the same step calls
(run directory, completion marker) on one worker thread. Target ratio <= 1.5.

    python bench/studies.py [--samples N]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from labqueue.studies import StepCall, StudyManager

SPEC = """
[study]
name = "bench"
workspace = "ws"
[study.samples]
i = {{ range = [0, {samples}] }}
[steps.acquire]
python = "__main__:acquire"
[steps.reduce]
python = "__main__:reduce"
depends = ["acquire"]
[steps.store]
python = "__main__:store"
depends = ["reduce"]
"""


def acquire(i):
    return i


def reduce(i):
    return i * 2


def store(i):
    return i + 1


def bench_study(folder: Path, samples: int) -> tuple[float, float]:
    folder.mkdir()
    spec = folder / "bench.toml"
    spec.write_text(SPEC.format(samples=samples))
    with StudyManager() as studies:
        studies.manager.pause_worker()
        start = time.perf_counter()
        study = studies.run(spec)
        queued = time.perf_counter() - start
        start = time.perf_counter()
        studies.manager.resume_worker()
        studies.wait(study)
        ran = time.perf_counter() - start
        assert all(step.counts == {"finished": samples} for step in studies.status(study).steps)
    return queued, ran


def bench_futures(folder: Path, samples: int) -> float:
    done = threading.Event()
    left = [samples]
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=1) as pool:

        def chain(i: int) -> None:
            def after_reduce(future):
                last = pool.submit(StepCall(folder / "store" / str(i), func=store), future.result())
                last.add_done_callback(finished)

            def after_acquire(future):
                pool.submit(StepCall(folder / "reduce" / str(i), func=reduce), future.result()).add_done_callback(
                    after_reduce
                )

            pool.submit(StepCall(folder / "acquire" / str(i), func=acquire), i).add_done_callback(after_acquire)

        def finished(_future) -> None:
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    done.set()

        start = time.perf_counter()
        for i in range(samples):
            chain(i)
        done.wait()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    samples = parser.parse_args().samples
    with tempfile.TemporaryDirectory() as tmp:
        queued, ran = bench_study(Path(tmp) / "study", samples)
        (Path(tmp) / "futures").mkdir()
        plain = bench_futures(Path(tmp) / "futures", samples)
    steps = 3 * samples
    print(f"run() to all {steps} runs queued: {queued * 1e3:.0f} ms ({queued / steps * 1e6:.0f} us per run)")
    print(f"study:   {ran / steps * 1e6:.0f} us per step run ({ran:.2f} s)")
    print(f"futures: {plain / steps * 1e6:.0f} us per step run ({plain:.2f} s)")
    print(f"ratio:   {ran / plain:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
