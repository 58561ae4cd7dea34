"""Simulated experiments that show everything labqueue does, without any hardware."""

from __future__ import annotations

import logging
import math
import random
import threading
from pathlib import Path

from labqueue.core import Manager, checkpoint, config, publish, set_progress

logger = logging.getLogger("labqueue.demo")

_pause = threading.Event()  # never set: wait() on it is an interruptible sleep


def _wait(seconds: float) -> None:
    _pause.wait(seconds)


def resonance_sweep(f_start: float = 9.30, f_stop: float = 9.50, points: int = 200, step_s: float = 0.01):
    """Sweep a simulated microwave bridge across a noisy Lorentzian resonance (GHz)."""
    rng = random.Random(points)
    centre, width = (f_start + f_stop) / 2, (f_stop - f_start) / 20
    peak_at, peak = f_start, -math.inf
    for i in range(points):
        checkpoint()
        f = f_start + (f_stop - f_start) * i / (points - 1)
        signal = 1.0 / (1.0 + ((f - centre) / width) ** 2) + rng.gauss(0, 0.03)
        if signal > peak:
            peak_at, peak = f, signal
        publish("resonance", f, signal)
        set_progress((i + 1) / points, f"{f:.4f} GHz")
        _wait(step_s)
    logger.info("Resonance found at %.4f GHz", peak_at)
    return round(peak_at, 4)


def temperature_ramp(start_k: float = 300.0, stop_k: float = 290.0, rate_k_per_s: float = 2.0, step_s: float = 0.05):
    """Ramp a simulated cryostat; pauses and aborts between steps via checkpoint()."""
    temperature = start_k
    direction = -1.0 if stop_k < start_k else 1.0
    total = abs(stop_k - start_k)
    while (stop_k - temperature) * direction > 0:
        checkpoint()
        temperature += direction * min(rate_k_per_s * step_s, abs(stop_k - temperature))
        publish("temperature", None, temperature)
        set_progress(1 - abs(stop_k - temperature) / total, f"{temperature:.2f} K")
        _wait(step_s)
    return temperature


def faulty_readout(channel: int = 3):
    """A measurement that fails: the simulated lock-in amplifier does not answer."""
    raise TimeoutError(f"lock-in amplifier channel {channel} did not answer within 2 s")


def noisy_baseline(samples: int = 50):
    """Records a baseline and warns that it drifts."""
    rng = random.Random(samples)
    values = [rng.gauss(0.0, 0.01) + i * 0.002 for i in range(samples)]
    drift = values[-1] - values[0]
    logger.warning("Baseline drifted by %.3f V over %d samples; consider re-zeroing.", drift, samples)
    return round(drift, 4)


def demo_data_dir() -> Path:
    """Where ``labqueue --demo`` keeps its queue without ``--data-dir``: a ``demo``
    folder inside the data directory (``$LABQUEUE_DATA_DIR`` or the platform's), so the
    demo's journal, settings and logs stay apart from the user's."""
    return config.data_dir() / "demo"


def queue_demo(manager: Manager) -> list:
    """Queue the demo experiments; returns them. The failing one runs last so the
    queue's pause-on-failure does not hold back the others."""
    calls = [
        (resonance_sweep, (), {}),
        (temperature_ramp, (), {"start_k": 300.0, "stop_k": 295.0}),
        (noisy_baseline, (), {}),
        (resonance_sweep, (), {"f_start": 9.35, "f_stop": 9.45, "points": 100}),
        (faulty_readout, (), {"channel": 3}),
    ]
    experiments = [manager.queued_exec(func)(*args, **kwargs) for func, args, kwargs in calls]
    return experiments
