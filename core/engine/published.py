"""PublishedData: the series an experiment published, kept with it.

``publish(series, x, y)`` inside a job appends here (on the worker thread) as well as
announcing the points; the window reads the series of any experiment, running or
ended, and the journal stores them with the outcome. Values are kept as C doubles
(``array('d')``, 8 bytes each), at most :data:`MAX_POINTS` points per experiment: a
million points is 16 MB, and a runaway loop must not eat the memory of an overnight
run. Appends and copies are single operations under the interpreter lock, so a
reader on another thread sees a consistent prefix of each series.

A function can say how its series are labelled once, where it is defined, with
:func:`plot_axes`; labels given to ``publish`` win over those.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

__all__ = ["MAX_POINTS", "AxisLabels", "PublishedData", "Series", "declared_axes", "plot_axes"]

logger = logging.getLogger("labqueue")

#: Points kept per experiment, all series together; later ones are dropped (and said once).
MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class AxisLabels:
    """How a function labels the axes of one of its series (see :func:`plot_axes`)."""

    x_label: str | None = None
    y_label: str | None = None
    x_units: str | None = None
    y_units: str | None = None


#: The attribute :func:`plot_axes` sets on a function: {series name: AxisLabels}.
_AXES_ATTRIBUTE = "labqueue_axes"


def plot_axes(
    series: str,
    *,
    x_label: str | None = None,
    y_label: str | None = None,
    units: str | tuple[str | None, str | None] | None = None,
) -> Callable[[Callable], Callable]:
    """Decorator: label the axes of ``series`` that the function publishes.

    ``units`` is y's unit, or ``(x_units, y_units)``, as in ``publish``. Stack one per
    series; it may go above or below ``queued_exec``. Labels passed to ``publish``
    itself take precedence over these.
    """
    x_units, y_units = _split_units(units)
    labels = AxisLabels(
        None if x_label is None else str(x_label),
        None if y_label is None else str(y_label),
        x_units,
        y_units,
    )

    def label(func: Callable) -> Callable:
        # A queued_exec wrapper queues its __wrapped__ function, which is where the
        # experiment looks: label both, so the decorators stack in either order.
        for target in {func, getattr(func, "__wrapped__", func)}:
            setattr(target, _AXES_ATTRIBUTE, {**declared_axes(target), str(series): labels})
        return func

    return label


def declared_axes(func: Any) -> dict[str, AxisLabels]:
    """The labels :func:`plot_axes` gave the series of ``func`` (empty if none)."""
    declared = getattr(func, _AXES_ATTRIBUTE, None)
    return dict(declared) if isinstance(declared, dict) else {}


def _split_units(units: str | tuple[str | None, str | None] | None) -> tuple[str | None, str | None]:
    if units is None:
        return None, None
    x_units, y_units = units if isinstance(units, tuple) else (None, units)
    return (None if x_units is None else str(x_units)), (None if y_units is None else str(y_units))


@dataclass
class Series:
    """One published series: its points and how to label its axes."""

    name: str
    x: array = field(default_factory=lambda: array("d"))
    y: array = field(default_factory=lambda: array("d"))
    x_label: str | None = None
    y_label: str | None = None
    x_units: str | None = None
    y_units: str | None = None

    def points(self) -> tuple[array, array]:
        """Copies of x and y, of the same length (safe while the job appends)."""
        size = len(self.y)
        return self.x[:size], self.y[:size]


class PublishedData:
    """The series one experiment published, in the order they first appeared.

    ``declared`` are the labels its function declared (:func:`declared_axes`): a new
    series starts with them.
    """

    def __init__(self, declared: dict[str, AxisLabels] | None = None) -> None:
        self.series: dict[str, Series] = {}
        self._declared = declared or {}
        self.points = 0
        self.truncated = False  # points were dropped beyond MAX_POINTS
        self._rejected: set[str] = set()

    def add(
        self,
        name: str,
        x: Any,
        y: Any,
        x_label: str | None = None,
        y_label: str | None = None,
        units: str | tuple[str | None, str | None] | None = None,
    ) -> bool:
        """Append ``y`` (a number or a sequence) at ``x`` (the same, or None for a running
        index); labels and units (``"mT"`` for y, or ``(x_units, y_units)``) are kept when
        given. Returns False, logging it once per series, for values that are not numbers."""
        series = self.series.get(name)
        if series is None:
            labels = self._declared.get(name, AxisLabels())
            series = self.series[name] = Series(name, x_label=labels.x_label, y_label=labels.y_label)
            series.x_units, series.y_units = labels.x_units, labels.y_units
        if x_label is not None:
            series.x_label = str(x_label)
        if y_label is not None:
            series.y_label = str(y_label)
        x_units, y_units = _split_units(units)
        series.x_units = series.x_units if x_units is None else x_units
        series.y_units = series.y_units if y_units is None else y_units
        start = len(series.y)
        try:
            if isinstance(y, Real) and (x is None or isinstance(x, Real)):
                xs, ys = array("d", [start if x is None else float(x)]), array("d", [float(y)])
            else:
                xs, ys = _as_arrays(x, y, start)
        except (TypeError, ValueError) as exc:
            if name not in self._rejected:  # once per series, not once per point
                self._rejected.add(name)
                logger.warning("Cannot plot series %r: %s (x=%.80r, y=%.80r)", name, exc, x, y)
            return False
        room = MAX_POINTS - self.points
        if len(ys) > room:
            if not self.truncated:
                logger.warning(
                    "Only the first %d points an experiment publishes are kept; series %r goes on unkept",
                    MAX_POINTS,
                    name,
                )
                self.truncated = True
            xs, ys = xs[:room], ys[:room]
        series.x.extend(xs)  # x first: a reader takes as many as y has
        series.y.extend(ys)
        self.points += len(ys)
        return True


def _as_arrays(x: Any, y: Any, start: int) -> tuple[array, array]:
    import numpy as np  # only for sequences: scalars never pay for it

    ys = np.atleast_1d(np.asarray(y, dtype=float)).ravel()
    if x is None:
        xs = np.arange(start, start + len(ys), dtype=float)
    else:
        xs = np.atleast_1d(np.asarray(x, dtype=float)).ravel()
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values for {len(ys)} y values")
    return array("d", xs.tobytes()), array("d", ys.tobytes())
