"""Experiments without code: a form for a function's arguments, built from its signature.

:class:`CallForm` makes one magicgui widget per parameter: type hints and defaults
choose it (a spin box for a number, a check box for a bool, a combo box for an Enum
or a Literal, a file picker for a Path, a line that reads a Python literal for the
rest), and ``Annotated`` metadata tunes it::

    def measure(field: Annotated[float, {"min": 0, "max": 2000, "step": 10, "units": "mT"}] = 340.0,
                points: Annotated[int, {"min": 1, "max": 100_000}] = 200): ...

``units`` goes into the label ("field (mT)"), ``decimals`` sets a float's decimals,
and everything else is magicgui's own option for that widget. A value that cannot
be shown as a literal (an instrument object) is kept as it is.

:class:`ExperimentDialog` puts the form in a dialog that queues the call ("Add
experiment"), one call per value of a parameter ("Add sweep"), replaces a queued
experiment in place ("Edit"), or queues an edited copy of an ended one.
"""

from __future__ import annotations

import ast
import enum
import functools
import inspect
import math
import os
import types
import typing
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from labqueue.core import Experiment, ExperimentQueue, ExpStatus

# magicgui reaches Qt through qtpy: the binding the rest of labqueue uses.
os.environ.setdefault("QT_API", "pyside6")

__all__ = ["CallForm", "DialogMode", "ExperimentDialog", "bound_arguments", "sweep_values"]

#: Range of a number without one of its own (magicgui's default stops at 999).
_WIDE_RANGE = {float: (-1e12, 1e12), int: (-(2**31) + 1, 2**31 - 1)}
_KEPT = object()  # marks a parameter whose value the form keeps as it is


class DialogMode(enum.Enum):
    ADD = "add"
    SWEEP = "sweep"
    EDIT = "edit"  # a queued experiment, replaced in place
    REQUEUE = "requeue"  # an ended experiment: an edited copy is queued


def bound_arguments(func: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    """``args`` and ``kwargs`` by parameter name (``*args`` as a tuple, ``**kwargs`` as a dict)."""
    try:
        return dict(inspect.signature(func).bind(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return dict(kwargs)


class CallForm(QWidget):
    """Widgets for the parameters of ``func``, filled with ``values`` (by name) or the
    defaults; :meth:`call` gives ``(args, kwargs)`` for an :class:`Experiment`."""

    def __init__(self, func: Callable, values: dict[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from magicgui.widgets import Container  # imported when the first form is made

        self.func = func
        self.setObjectName("call-form")
        values = values or {}
        self.parameters = list(_signature(func).parameters.values())
        hints = _type_hints(func)
        self.widgets: dict[str, Any] = {}
        self._kept: dict[str, Any] = {}
        for parameter in self.parameters:
            value = values.get(parameter.name, parameter.default)
            widget = _widget_for(parameter, hints.get(parameter.name, parameter.annotation), value)
            if widget is _KEPT:
                self._kept[parameter.name] = value
                widget = _kept_label(parameter.name, value)
            self.widgets[parameter.name] = widget
        self.container = Container(widgets=list(self.widgets.values()), labels=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.container.native)
        if not self.parameters:
            layout.addWidget(QLabel("It takes no arguments."))

    def values(self) -> dict[str, Any]:
        """The value of each parameter, by name, as the form shows it
        (``inspect.Parameter.empty`` for a field left empty that has no default).

        Raises ValueError naming the parameter whose text is not a Python literal.
        """
        kept = self._kept
        return {name: kept[name] if name in kept else _value_of(widget) for name, widget in self.widgets.items()}

    def call(self, override: dict[str, Any] | None = None) -> tuple[tuple, dict]:
        """``(args, kwargs)`` for the form's values, with ``override`` (by name) on top.

        Raises ValueError naming the parameter whose text is not a Python literal.
        """
        values = self.values()
        values.update(override or {})
        args: list = []
        kwargs: dict = {}
        for parameter in self.parameters:
            value = values[parameter.name]
            required = parameter.default is inspect.Parameter.empty and parameter.kind not in _VARIADIC
            if value is inspect.Parameter.empty or (required and value == ""):
                raise ValueError(f"{parameter.name} needs a value (it has no default)")
            if parameter.kind is parameter.VAR_POSITIONAL:
                args.extend(value or ())
            elif parameter.kind is parameter.VAR_KEYWORD:
                kwargs.update(value or {})
            elif parameter.kind is parameter.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[parameter.name] = value
        return tuple(args), kwargs

    def sweepable_parameters(self) -> list[str]:
        """Parameters a sweep can run over: the ones that are not ``*args``/``**kwargs``."""
        return [p.name for p in self.parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _value_of(widget: Any) -> Any:
    from magicgui.widgets import LiteralEvalLineEdit

    if isinstance(widget, LiteralEvalLineEdit):
        text = widget.native.text().strip()
        if not text:
            return inspect.Parameter.empty
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise ValueError(f"{widget.name}: {text!r} is not a Python literal (a string needs quotes)") from None
    return getattr(widget, "value", None)


def _signature(func: Callable) -> inspect.Signature:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without one: no form fields
        return inspect.Signature()


def _type_hints(func: Callable) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # string annotations that do not resolve: use them as written
        return {}


def _widget_for(parameter: inspect.Parameter, annotation: Any, value: Any):
    """The magicgui widget for one parameter, or _KEPT when its value cannot be edited."""
    from magicgui.types import Undefined
    from magicgui.widgets import LiteralEvalLineEdit, create_widget

    name = parameter.name
    if parameter.kind is parameter.VAR_POSITIONAL:
        value, annotation = (() if value is inspect.Parameter.empty else value), None
    elif parameter.kind is parameter.VAR_KEYWORD:
        value, annotation = ({} if value is inspect.Parameter.empty else value), None
    base, options = _unpack(annotation)
    base, optional = _strip_none(base)
    units = options.pop("units", None)
    decimals = options.pop("decimals", None)
    label = options.pop("label", name.replace("_", " "))
    if units:
        label = f"{label} ({units})"
    if base is inspect.Parameter.empty or isinstance(base, str):
        base = type(value) if value not in (inspect.Parameter.empty, None) else None
    if base in _WIDE_RANGE:
        low, high = _WIDE_RANGE[base]
        options.setdefault("min", low)
        options.setdefault("max", high)
        _widen_to(options, value, name)
    widget = None
    if base is not None and base not in (tuple, list, dict, set):
        shown = value if value not in (inspect.Parameter.empty, None) else Undefined
        try:
            widget = create_widget(
                value=_as_base(shown, base), annotation=base, name=name, label=label, options=options
            )
        except (ValueError, TypeError):
            widget = None
        if widget is not None and optional:
            widget = _optional_edit_class()(widget, none=value is None, name=name, label=label)
    if widget is None:
        if value is not inspect.Parameter.empty and not _is_literal(value):
            return _KEPT
        text = "" if value is inspect.Parameter.empty else repr(value)
        widget = LiteralEvalLineEdit(name=name, label=label, value=text)
        widget.tooltip = "A Python literal: a number, a string in quotes, a list, a dict, ..."
    elif base is float:
        spin_box = getattr(widget, "inner", widget)  # an OptionalEdit's own spin box
        spin_box.native.setDecimals(decimals if decimals is not None else _decimals_for(value))
        if value not in (inspect.Parameter.empty, None):
            spin_box.value = value
    return widget


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    """``Optional[float]`` (or ``float | None``) -> ``(float, True)``; else ``(annotation, False)``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(others) == 1 and len(others) < len(typing.get_args(annotation)):
            return others[0], True
    return annotation, False


def _widen_to(options: dict, value: Any, name: str) -> None:
    """Let a number's range hold ``value`` (a default or an edited experiment's argument
    outside the declared range is shown as it is, not refused), and say so."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high = options["min"], options["max"]
    if low <= value <= high:
        return
    options["min"], options["max"] = min(low, value), max(high, value)
    options.setdefault("tooltip", f"{name}: {value!r} is outside its declared range {low!r} to {high!r}")


@functools.cache
def _optional_edit_class() -> type:
    """OptionalEdit, defined on first use: magicgui loads with the first form, not at start."""
    from magicgui.widgets import CheckBox
    from magicgui.widgets.bases import ValuedContainerWidget

    class OptionalEdit(ValuedContainerWidget):
        """A parameter that may be None: its own widget beside a "None" check box."""

        def __init__(self, inner: Any, *, none: bool, **kwargs: Any) -> None:
            super().__init__(layout="horizontal", labels=False, **kwargs)
            self.margins = (0, 0, 0, 0)
            self.inner = inner
            self.none_box = CheckBox(text="None", value=none, name=f"{kwargs['name']}_none")
            self.none_box.tooltip = "Pass None instead of a value"
            inner.enabled = not none
            self._insert_widget(0, inner)
            self._insert_widget(1, self.none_box)
            inner.changed.connect(lambda: self.changed.emit(self.value))
            self.none_box.changed.connect(self._none_toggled)

        def _none_toggled(self, none: bool) -> None:
            self.inner.enabled = not none
            self.changed.emit(self.value)

        def get_value(self) -> Any:
            return None if self.none_box.value else self.inner.value

        def set_value(self, value: Any) -> None:
            self.none_box.value = value is None
            if value is not None:
                self.inner.value = value

    return OptionalEdit


def _unpack(annotation: Any) -> tuple[Any, dict]:
    """``Annotated[float, {...}]`` -> ``(float, {...})``; anything else -> ``(it, {})``."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        options: dict = {}
        for item in metadata:
            if isinstance(item, dict):
                options.update(item)
        return base, options
    return annotation, {}


def _as_base(value: Any, base: Any) -> Any:
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _decimals_for(value: Any) -> int:
    """Enough decimals to show ``value`` exactly (at least 3, at most 10)."""
    if not isinstance(value, float) or not math.isfinite(value):
        return 3
    text = repr(value)
    if "e" in text:
        return 10
    return min(10, max(3, len(text.partition(".")[2])))


def _is_literal(value: Any) -> bool:
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _kept_label(name: str, value: Any):
    from magicgui.widgets import Label

    from .display_text import cell_repr

    label = Label(name=name, label=name.replace("_", " "), value=f"{cell_repr(value)} (kept as it is)")
    label.tooltip = "This value is not a Python literal, so it cannot be edited here; it is used as it is."
    return label


def sweep_values(start: float, stop: float, steps: int, integers: bool = False) -> list:
    """``steps`` values from ``start`` to ``stop`` inclusive (ints when ``integers``)."""
    values = np.linspace(start, stop, steps).tolist() if steps > 1 else [start]
    return [round(value) for value in values] if integers else values


def _list_values(text: str) -> list:
    """``0.1, 0.2, 0.5`` or ``[0.1, 0.2]``: Python literals, comma-separated."""
    text = text.strip()
    if not text:
        return []
    parsed = ast.literal_eval(text if text.startswith("[") else f"[{text}]")
    return list(parsed)


class ExperimentDialog(QDialog):
    """Queue a call from a form: see the module docstring and :class:`DialogMode`.

    ``functions`` are the decorated functions to choose from (ADD and SWEEP);
    ``experiment`` is the one to edit (EDIT, REQUEUE). The dialog does what its main
    button says when it is clicked, and stays open with the reason when it cannot.
    """

    def __init__(
        self,
        queue: ExperimentQueue,
        mode: DialogMode,
        functions: dict[str, Callable] | None = None,
        experiment: Experiment | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("experiment-dialog")
        self.queue = queue
        self.mode = mode
        self.experiment = experiment
        self.queued: list[Experiment] = []
        self.form: CallForm | None = None
        self.setWindowTitle(
            {
                DialogMode.ADD: "Add experiment",
                DialogMode.SWEEP: "Add sweep",
                DialogMode.EDIT: "Edit queued experiment",
                DialogMode.REQUEUE: "Edit and requeue",
            }[mode]
        )
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)

        self.function = QComboBox()
        self.function.setObjectName("function")
        functions = functions or {}
        if experiment is not None:
            self.function.addItem(experiment.func_name, experiment.func)
            self.function.setEnabled(False)
        else:
            for name, func in functions.items():
                self.function.addItem(name, func)
                self.function.setItemData(self.function.count() - 1, _doc_line(func), Qt.ItemDataRole.ToolTipRole)
        self.description = QLabel()
        self.description.setObjectName("description")
        self.description.setWordWrap(True)
        self.description.setEnabled(False)  # greyed: a hint, not a control
        top = QFormLayout()
        top.addRow("Function:", self.function)
        top.addRow("", self.description)
        layout.addLayout(top)

        self._form_box = QVBoxLayout()
        layout.addLayout(self._form_box, 1)

        self.sweep_box = QGroupBox("Sweep")
        self.sweep_box.setObjectName("sweep")
        self._build_sweep()
        layout.addWidget(self.sweep_box)
        self.sweep_box.setVisible(mode is DialogMode.SWEEP)

        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)

        self.buttons = QDialogButtonBox()
        self.ok = self.buttons.addButton("Queue it", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok.setObjectName("queue-it")
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.function.currentIndexChanged.connect(self._build_form)
        if self.function.count() == 0:
            self.summary.setText(
                "No functions to choose from yet: decorate one with @manager.queued_exec "
                "(in the console, the startup file or a script) and it is listed here."
            )
            self.ok.setEnabled(False)
        else:
            self._build_form()

    # -- building ----------------------------------------------------------------------

    def _build_sweep(self) -> None:
        self.sweep_parameter = QComboBox()
        self.sweep_parameter.setObjectName("sweep-parameter")
        self.by_range = QRadioButton("Range")
        self.by_list = QRadioButton("List")
        self.by_range.setChecked(True)
        kinds = QButtonGroup(self)
        kinds.addButton(self.by_range)
        kinds.addButton(self.by_list)
        self.start = QLineEdit("0")
        self.stop = QLineEdit("1")
        self.steps = QSpinBox()
        self.steps.setRange(1, 1_000_000)
        self.steps.setValue(11)
        self.value_list = QLineEdit()
        self.value_list.setPlaceholderText("0.1, 0.2, 0.5  (Python literals, comma-separated)")
        for name, widget in (
            ("sweep-start", self.start),
            ("sweep-stop", self.stop),
            ("sweep-steps", self.steps),
            ("sweep-list", self.value_list),
        ):
            widget.setObjectName(name)
        range_row = QHBoxLayout()
        for text, widget in (("from", self.start), ("to", self.stop), ("in", self.steps)):
            range_row.addWidget(QLabel(text))
            range_row.addWidget(widget)
        range_row.addWidget(QLabel("steps"))
        form = QFormLayout(self.sweep_box)
        form.addRow("Parameter:", self.sweep_parameter)
        form.addRow(self.by_range, range_row)
        form.addRow(self.by_list, self.value_list)
        for signal in (
            self.sweep_parameter.currentIndexChanged,
            self.by_range.toggled,
            self.start.textChanged,
            self.stop.textChanged,
            self.steps.valueChanged,
            self.value_list.textChanged,
        ):
            signal.connect(self._show_summary)

    def _build_form(self) -> None:
        func = self.function.currentData()
        if self.form is not None:
            self._form_box.removeWidget(self.form)
            self.form.deleteLater()
        exp = self.experiment
        values = bound_arguments(exp.func, exp.args, exp.kwargs) if exp is not None else None
        self.description.setText(_doc_line(func))
        self.description.setVisible(bool(self.description.text()))
        self.form = CallForm(func, values)
        self._form_box.addWidget(self.form)
        self.sweep_parameter.clear()
        self.sweep_parameter.addItems(self.form.sweepable_parameters())
        for widget in self.form.widgets.values():
            changed = getattr(widget, "changed", None)
            if changed is not None:
                changed.connect(self._show_summary)
        self._show_summary()

    # -- what it will do ---------------------------------------------------------------

    def calls(self) -> list[tuple[tuple, dict]]:
        """The ``(args, kwargs)`` it would queue. Raises ValueError saying what is wrong."""
        assert self.form is not None
        if self.mode is not DialogMode.SWEEP:
            return [self.form.call()]
        name = self.sweep_parameter.currentText()
        if not name:
            raise ValueError("the function has no parameter to sweep")
        if self.by_range.isChecked():
            try:
                start, stop = float(self.start.text()), float(self.stop.text())
            except ValueError:
                raise ValueError("the range needs numbers: from and to") from None
            integers = isinstance(self.form.values().get(name), int) and start.is_integer() and stop.is_integer()
            values = sweep_values(start, stop, self.steps.value(), integers=integers)
        else:
            try:
                values = _list_values(self.value_list.text())
            except (ValueError, SyntaxError):
                raise ValueError("the list needs Python literals separated by commas") from None
        if not values:
            raise ValueError("the sweep has no values")
        return [self.form.call({name: value}) for value in values]

    def _show_summary(self) -> None:
        if self.form is None:
            return
        try:
            calls = self.calls()
        except ValueError as problem:
            self.summary.setText(f"Cannot queue it yet: {problem}.")
            self.ok.setEnabled(False)
            return
        func = self.form.func
        first = Experiment(func, *calls[0]).title
        self.ok.setEnabled(True)
        if self.mode is DialogMode.SWEEP:
            last = Experiment(func, *calls[-1]).title
            self.summary.setText(f"Queues {len(calls):,} experiments: {first} … {last}")
            self.ok.setText(f"Queue {len(calls):,} experiments")
        elif self.mode is DialogMode.EDIT:
            self.summary.setText(f"Replaces it in its place in the queue with {first}")
            self.ok.setText("Replace it")
        elif self.mode is DialogMode.REQUEUE:
            self.summary.setText(f"Queues {first} at the end (the ended one stays as it was)")
            self.ok.setText("Queue the edited copy")
        else:
            self.summary.setText(f"Queues {first} at the end")
            self.ok.setText("Queue it")

    def _submit(self) -> None:
        try:
            calls = self.calls()
        except ValueError as problem:
            self.summary.setText(f"Cannot queue it yet: {problem}.")
            return
        func = self.form.func
        experiments = [Experiment(func, args, kwargs) for args, kwargs in calls]
        if self.mode is DialogMode.EDIT:
            if not self._replace(experiments[0]):
                return
        else:
            if self.mode is DialogMode.REQUEUE:
                experiments[0].requeued_from = self.experiment.id
            self.queue.put_many(experiments)
        self.queued = experiments
        self.accept()

    def _replace(self, new: Experiment) -> bool:
        """Put ``new`` where the edited experiment is in the queue; False if it started meanwhile."""
        old = self.experiment
        queued = self.queue.queued
        if old not in queued or old.status is not ExpStatus.QUEUED:
            self.summary.setText("It is no longer queued (it started meanwhile): nothing was changed.")
            self.ok.setEnabled(False)
            return False
        position = queued.index(old)
        if not self.queue.remove([old]):
            self.summary.setText("It started meanwhile: nothing was changed.")
            self.ok.setEnabled(False)
            return False
        self.queue.put(new)
        self.queue.move(new, position)
        return True


def _doc_line(func: Callable) -> str:
    doc = inspect.getdoc(func) or ""
    return doc.strip().split("\n", 1)[0]
