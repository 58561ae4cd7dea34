"""Experiments without code: forms built from signatures, sweeps, edits, through the widgets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QLabel

from labqueue import ExpStatus
from labqueue.ui.experiment_form import ExperimentDialog
from labqueue.ui.queue_model import Column

from .conftest import click_row
from .test_run_state import save_screenshot

FieldMT = Annotated[float, {"min": 0, "max": 2000, "step": 10, "units": "mT"}]


def measure(
    field: FieldMT = 340.0,
    points: int = 200,
    sample: str = "B-12",
    cooled: bool = False,
    speed: Literal["fast", "slow"] = "fast",
    output: Path = Path("data.csv"),
) -> float:
    """Sweep the magnet and record the signal."""
    return field * points


class Instrument:
    def __repr__(self) -> str:
        return "<Instrument lock-in on GPIB 8>"


def read(instrument, channel: int = 3) -> int:
    return channel


def open_from_menu(qtbot, window, name: str) -> ExperimentDialog:
    """Queue > Add experiment > ``name``, as a user clicks it."""
    menu = window.functions_menu
    menu.aboutToShow.emit()  # the menu lists the decorated functions when it opens
    next(action for action in menu.actions() if action.text() == name).trigger()
    return the_dialog(qtbot, window)


def the_dialog(qtbot, window) -> ExperimentDialog:
    """The open dialog (a closed one may wait to be deleted)."""

    def open_ones() -> list[ExperimentDialog]:
        return [dialog for dialog in window.findChildren(ExperimentDialog) if dialog.isVisible()]

    qtbot.waitUntil(lambda: len(open_ones()) == 1)
    return open_ones()[0]


def type_into(qtbot, widget, text: str) -> None:
    """Replace what a spin box or line shows, typing like a user."""
    line = widget.lineEdit() if hasattr(widget, "lineEdit") else widget
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Tab)


def native(dialog, name: str):
    return dialog.form.widgets[name].native


def label_texts(dialog) -> list[str]:
    return [label.text() for label in dialog.form.findChildren(QLabel)]


def test_the_form_is_built_from_the_signature_and_one_click_queues_it(qtbot, window, manager, tmp_path):
    manager.pause_worker()
    manager.queued_exec(measure)
    dialog = open_from_menu(qtbot, window, "measure")

    assert dialog.description.text() == "Sweep the magnet and record the signal."
    spin = native(dialog, "field")
    assert (spin.minimum(), spin.maximum(), spin.singleStep(), spin.value()) == (0, 2000, 10, 340.0)
    assert "field (mT)" in label_texts(dialog)
    assert native(dialog, "points").maximum() > 100_000  # no range of its own: a wide one
    assert type(dialog.form.widgets["cooled"]).__name__ == "CheckBox"
    assert type(dialog.form.widgets["speed"]).__name__ == "ComboBox"
    assert type(dialog.form.widgets["output"]).__name__ == "FileEdit"
    save_screenshot(dialog, tmp_path, "add-experiment-form")

    type_into(qtbot, spin, "512.5")
    type_into(qtbot, native(dialog, "points"), "50")
    type_into(qtbot, native(dialog, "sample"), "C-7")
    box = native(dialog, "cooled")
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))  # on its tick box
    assert dialog.summary.text().startswith("Queues measure(field=512.5, points=50, sample='C-7', cooled=True")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)

    [exp] = manager.job_queue.queued
    assert exp.kwargs == {
        "field": 512.5,
        "points": 50,
        "sample": "C-7",
        "cooled": True,
        "speed": "fast",
        "output": Path("data.csv"),
    }
    assert exp.func is measure
    qtbot.waitUntil(lambda: not dialog.isVisible())
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1)


def test_a_sweep_queues_one_experiment_per_value_of_the_chosen_parameter(qtbot, window, manager):
    manager.pause_worker()
    manager.queued_exec(measure)
    window.queue_actions.add_sweep.trigger()
    dialog = the_dialog(qtbot, window)
    assert dialog.sweep_box.isVisible()

    dialog.sweep_parameter.setCurrentText("field")
    type_into(qtbot, dialog.start, "0")
    type_into(qtbot, dialog.stop, "100")
    type_into(qtbot, dialog.steps, "5")
    assert dialog.ok.text() == "Queue 5 experiments"
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)

    assert [exp.kwargs["field"] for exp in manager.job_queue.queued] == [0.0, 25.0, 50.0, 75.0, 100.0]

    window.queue_actions.add_sweep.trigger()
    dialog = the_dialog(qtbot, window)
    dialog.sweep_parameter.setCurrentText("sample")
    dialog.by_list.setChecked(True)
    type_into(qtbot, dialog.value_list, "'A-1', 'A-2', 'A-3'")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)

    assert [exp.kwargs["sample"] for exp in manager.job_queue.queued[5:]] == ["A-1", "A-2", "A-3"]


def test_editing_a_queued_experiment_replaces_it_in_its_place(qtbot, window, manager):
    manager.pause_worker()
    measured = manager.queued_exec(measure)
    first, second, third = measured(1.0), measured(2.0), measured(3.0)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 3)
    click_row(qtbot, window, 1)
    window.queue_view.setFocus()

    qtbot.keyClick(window.queue_view, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialog = the_dialog(qtbot, window)
    assert native(dialog, "field").value() == 2.0  # filled with its arguments
    type_into(qtbot, native(dialog, "field"), "20")
    assert dialog.ok.text() == "Replace it"
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)

    queued = manager.job_queue.queued
    assert queued[0] is first and queued[2] is third
    assert queued[1].kwargs["field"] == 20.0 and second.status is ExpStatus.CANCELLED


def test_edit_and_requeue_an_ended_one_queues_an_edited_copy(qtbot, window, manager):
    done = manager.queued_exec(measure)(5.0, points=2)
    done.result(timeout=10)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1)
    manager.pause_worker()
    click_row(qtbot, window, 0)

    dialog = window.queue_actions.edit_selected()
    qtbot.waitUntil(dialog.isVisible)
    assert native(dialog, "points").value() == 2
    type_into(qtbot, native(dialog, "points"), "7")
    assert dialog.ok.text() == "Queue the edited copy"
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)

    [copy] = manager.job_queue.queued
    assert copy.requeued_from == done.id and copy.kwargs["points"] == 7 and copy.kwargs["field"] == 5.0
    assert done.status is ExpStatus.FINISHED
    qtbot.waitUntil(lambda: window.queue_model.index(1, Column.TITLE).data() is not None)


def test_a_value_that_is_not_a_literal_is_kept_as_it_is(qtbot, window, manager):
    manager.pause_worker()
    instrument = Instrument()
    manager.queued_exec(read)(instrument, channel=2)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1)
    click_row(qtbot, window, 0)

    dialog = window.queue_actions.edit_selected()
    qtbot.waitUntil(dialog.isVisible)
    assert "(kept as it is)" in dialog.form.widgets["instrument"].value
    type_into(qtbot, native(dialog, "channel"), "5")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)

    [edited] = manager.job_queue.queued
    assert edited.kwargs == {"instrument": instrument, "channel": 5}


def test_with_no_decorated_function_the_dialog_says_how_to_get_one(qtbot, window, manager):
    window.queue_actions.add_experiment.trigger()
    dialog = the_dialog(qtbot, window)

    assert "decorate one with @manager.queued_exec" in dialog.summary.text()
    assert not dialog.ok.isEnabled()
    dialog.reject()
    QApplication.processEvents()


def prepare(sample: str, field: float, repeats: int, notes, limit: float | None = None, tag: str | None = None):
    """A function with parameters that have no default, and ones that default to None."""


def test_parameters_without_a_default_must_be_filled_in_before_it_queues(qtbot, window, manager):
    manager.pause_worker()
    manager.queued_exec(prepare)
    dialog = open_from_menu(qtbot, window, "prepare")

    assert native(dialog, "sample").text() == ""  # not "<class 'inspect._empty'>"
    assert dialog.summary.text() == "Cannot queue it yet: sample needs a value (it has no default)."
    assert not dialog.ok.isEnabled()
    type_into(qtbot, native(dialog, "sample"), "B-7")
    assert dialog.summary.text() == "Cannot queue it yet: notes needs a value (it has no default)."
    type_into(qtbot, native(dialog, "notes"), "cooled overnight")
    assert dialog.summary.text() == (
        "Cannot queue it yet: notes: 'cooled overnight' is not a Python literal (a string needs quotes)."
    )
    type_into(qtbot, native(dialog, "notes"), "['cooled', 'overnight']")
    type_into(qtbot, native(dialog, "field"), "0.25")
    type_into(qtbot, native(dialog, "repeats"), "3")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)

    [exp] = manager.job_queue.queued
    assert exp.kwargs == {
        "sample": "B-7",
        "field": 0.25,
        "repeats": 3,
        "notes": ["cooled", "overnight"],
        "limit": None,
        "tag": None,
    }


def test_a_none_default_stays_none_and_a_value_can_replace_it(qtbot, window, manager):
    manager.pause_worker()
    prepared = manager.queued_exec(prepare)
    prepared("A-1", 1.0, 2, [], tag="warm")
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1)
    click_row(qtbot, window, 0)
    dialog = window.queue_actions.edit_selected()
    qtbot.waitUntil(dialog.isVisible)

    limit, tag = dialog.form.widgets["limit"], dialog.form.widgets["tag"]
    assert limit.none_box.value and not limit.inner.enabled  # None, shown as None
    assert not tag.none_box.value and tag.inner.value == "warm"
    qtbot.mouseClick(tag.none_box.native, Qt.MouseButton.LeftButton, pos=QPoint(8, tag.none_box.native.height() // 2))
    qtbot.mouseClick(limit.none_box.native, Qt.MouseButton.LeftButton, pos=QPoint(8, 8))
    type_into(qtbot, limit.inner.native, "4.5")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)

    [edited] = manager.job_queue.queued
    assert (edited.kwargs["limit"], edited.kwargs["tag"]) == (4.5, None)


def ramp(rate: Annotated[float, {"min": 0, "max": 10, "units": "K/min"}] = 20.0):
    """A default the range was not updated for."""


def test_a_default_outside_its_declared_range_keeps_its_spin_box_and_value(qtbot, window, manager):
    manager.pause_worker()
    manager.queued_exec(ramp)
    dialog = open_from_menu(qtbot, window, "ramp")

    spin = native(dialog, "rate")
    assert type(dialog.form.widgets["rate"]).__name__ == "FloatSpinBox"
    assert (spin.minimum(), spin.maximum(), spin.value()) == (0, 20, 20.0)
    assert "outside its declared range 0 to 10" in spin.toolTip()
