"""The Studies pane offscreen: a study runs and its counts follow; cancel (asking, with
the three choices) and restart work from the pane."""

from __future__ import annotations

import textwrap

import pytest
from PySide6.QtCore import Qt

from labqueue import Manager
from labqueue.studies import StudyManager
from labqueue.ui.studies_pane import COUNTED, FIRST_COUNT, NAME, STATUS, StudiesPane
from tests.core.studies import lab_steps
from tests.core.studies.test_studies import write_spec

TIMEOUT_MS = 30_000

HELD_SPEC = """
[study]
name = "held"
workspace = "held-ws"
[study.samples]
field = [1, 2, 3]

[steps.wait]
python = "tests.core.studies.lab_steps:hold"
foreach = false

[steps.measure]
python = "tests.core.studies.lab_steps:measure"
parameters = { field = "{field}", n = 2 }
depends = ["wait"]
"""


@pytest.fixture
def studies():
    manager = Manager(pause_on_failure=False)
    made = StudyManager(manager)
    yield made
    lab_steps.RELEASE.set()
    manager.shutdown(wait=True, abort_running=True, timeout=10)
    lab_steps.RELEASE.clear()


@pytest.fixture
def pane(qtbot, studies):
    made = StudiesPane(studies)
    made.resize(1100, 420)
    qtbot.addWidget(made)
    made.show()
    qtbot.waitExposed(made)
    return made


def counts(pane: StudiesPane, study: str) -> dict[str, dict[str, int]]:
    """Per step of ``study``: the non-zero counts the pane shows, by status ({} while
    the study is not shown yet)."""
    items = [pane.tree.topLevelItem(i) for i in range(pane.tree.topLevelItemCount())]
    item = next((item for item in items if item.text(NAME) == study), None)
    shown = {}
    if item is None:
        return shown
    for row in range(item.childCount()):
        step = item.child(row)
        shown[step.text(NAME)] = {
            status.value: int(step.text(FIRST_COUNT + offset))
            for offset, status in enumerate(COUNTED)
            if step.text(FIRST_COUNT + offset)
        }
    return shown


def study_status(pane: StudiesPane, study: str) -> str:
    return next(
        pane.tree.topLevelItem(i).text(STATUS)
        for i in range(pane.tree.topLevelItemCount())
        if pane.tree.topLevelItem(i).text(NAME) == study
    )


def test_a_study_runs_and_its_counts_follow_live(qtbot, pane, studies, tmp_path):
    assert "No study yet" in pane.message.text()
    studies.run(write_spec(tmp_path))
    expected = {
        "calibrate": {"finished": 1},
        "measure": {"finished": 6},
        "record": {"finished": 6},
        "summary": {"finished": 1},
    }
    qtbot.waitUntil(lambda: counts(pane, "resonance") == expected, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: study_status(pane, "resonance") == "Finished", timeout=TIMEOUT_MS)
    measure = pane._step_items[(studies.studies.get("resonance").id, "measure")]
    assert measure.childCount() == 6
    assert measure.child(0).text(NAME) == "0: field=1, n=10"
    assert measure.child(0).text(STATUS) == "Finished"


def test_cancel_asks_with_the_three_choices_and_restart_runs_what_is_left(qtbot, pane, studies, tmp_path):
    spec = tmp_path / "held.toml"
    spec.write_text(textwrap.dedent(HELD_SPEC))
    studies.run(spec)
    qtbot.waitUntil(lambda: counts(pane, "held").get("wait") == {"running": 1}, timeout=TIMEOUT_MS)
    assert counts(pane, "held")["measure"] == {"queued": 3}
    assert not pane.cancel_action.isEnabled()  # nothing selected

    pane.select_study("held")
    assert pane.cancel_action.isEnabled() and pane.restart_action.isEnabled()
    assert pane.cancel_action in pane.tree.actions()  # the context menu offers it too
    pane.cancel_action.trigger()
    dialog = pane.cancel_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.choices() == {"stop_workers": True, "purge_queues": True, "mark_runs_cancelled": True}
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)

    # The aborted step is marked cancelled, unless its abort ended it first.
    ended_wait = ({"cancelled": 1}, {"aborted": 1})
    qtbot.waitUntil(lambda: counts(pane, "held").get("wait") in ended_wait, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: counts(pane, "held")["measure"] == {"cancelled": 3}, timeout=TIMEOUT_MS)
    assert study_status(pane, "held") == "Cancelled"
    assert "held: 1 running step aborted, 3 queued run(s) removed" in pane.message.text()
    assert studies.manager.wait_until_idle(10)

    lab_steps.RELEASE.set()
    pane.restart_action.trigger()
    qtbot.waitUntil(lambda: counts(pane, "held") == {"wait": {"finished": 1}, "measure": {"finished": 3}},
                    timeout=TIMEOUT_MS)  # fmt: skip
    assert "restarted" in pane.message.text()


def test_keeping_the_study_changes_nothing(qtbot, pane, studies, tmp_path):
    spec = tmp_path / "held.toml"
    spec.write_text(textwrap.dedent(HELD_SPEC))
    studies.run(spec)
    qtbot.waitUntil(lambda: counts(pane, "held").get("wait") == {"running": 1}, timeout=TIMEOUT_MS)
    pane.select_study("held")
    dialog = pane.ask_cancel()
    dialog.mark_runs_cancelled.setChecked(False)
    dialog.reject()
    qtbot.waitUntil(lambda: pane.cancel_dialog is None)
    assert studies.manager.job_queue.qsize("queued") == 3
    assert studies.studies.get("held").status == "running"


def test_cancel_with_only_purge_leaves_the_running_step_and_the_records(qtbot, pane, studies, tmp_path):
    spec = tmp_path / "held.toml"
    spec.write_text(textwrap.dedent(HELD_SPEC))
    studies.run(spec)
    qtbot.waitUntil(lambda: counts(pane, "held").get("wait") == {"running": 1}, timeout=TIMEOUT_MS)
    pane.select_study("held")
    dialog = pane.ask_cancel()
    dialog.stop_workers.setChecked(False)
    dialog.mark_runs_cancelled.setChecked(False)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: counts(pane, "held")["measure"] == {"cancelled": 3}, timeout=TIMEOUT_MS)
    assert counts(pane, "held")["wait"] == {"running": 1}
    lab_steps.RELEASE.set()
    qtbot.waitUntil(lambda: counts(pane, "held")["wait"] == {"finished": 1}, timeout=TIMEOUT_MS)


def test_a_study_whose_runs_ended_without_all_finishing_reads_incomplete(qtbot, pane, studies, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STEPS_FAIL_FIELD", "2")
    studies.run(write_spec(tmp_path))
    qtbot.waitUntil(
        lambda: "resonance" in [pane.tree.topLevelItem(i).text(NAME) for i in range(pane.tree.topLevelItemCount())]
    )
    qtbot.waitUntil(lambda: study_status(pane, "resonance") == "Incomplete", timeout=TIMEOUT_MS)
    item = next(pane.tree.topLevelItem(i) for i in range(pane.tree.topLevelItemCount()))
    assert item.toolTip(STATUS) == "Every run ended, not all of them finished"
    assert counts(pane, "resonance")["measure"]["failed"] == 2  # field=2, for each n
