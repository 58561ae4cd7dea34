"""The details, log and plot panes and the status bar, fed by real experiments."""

from __future__ import annotations

import logging
import threading

import numpy as np
from PySide6.QtCore import Qt

from labqueue import Experiment, ExpStatus, publish
from labqueue.ui.display_text import DETAIL_MAX_CHARS
from labqueue.ui.queue_model import Column

from .conftest import click_row, noop, wait_for

job_logger = logging.getLogger("labqueue.test_job")


def warn_then_fail(sample: str, repeat: int = 2) -> None:
    job_logger.warning("sample %s looks wet", sample)
    raise RuntimeError(f"the cryostat lost {sample}")


class CountingKey:
    """A dict key that counts how often anyone compares it (sorting a dict would)."""

    comparisons = 0

    def __init__(self, value: int) -> None:
        self.value = value

    def __hash__(self) -> int:
        return self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountingKey) and other.value == self.value

    def __lt__(self, other: CountingKey) -> bool:
        CountingKey.comparisons += 1
        return self.value < other.value

    def __repr__(self) -> str:
        return f"K{self.value}"


class Samples(list):
    """A list whose own repr would walk (and here refuse) all of its items."""

    def __repr__(self) -> str:
        raise AssertionError("the whole result was walked")


def huge_mapping() -> dict:
    return {CountingKey(i): i for i in range(200_000)}


def huge_samples() -> Samples:
    return Samples(range(1_000_000))


def sweep(points: int) -> int:
    for i in range(points):
        publish("signal", None, float(i * i))  # x=None: a running index
    publish("signal", np.arange(points, points + 3), np.array([1.0, 2.0, 3.0]))
    publish("reference", [0.5, 1.5], [7.0, 8.0])
    publish("broken", "left", "right")  # not numbers: said once in the log, not plotted
    return points


def test_details_show_everything_about_a_failed_experiment(qtbot, window, manager):
    exp = manager.queued_exec(warn_then_fail)("B-12", repeat=3)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1 and exp.done())

    click_row(qtbot, window, 0)

    details = window.details
    qtbot.waitUntil(lambda: details.fields["Status"].text() == "Failed")
    assert details.title.text() == "warn_then_fail(sample='B-12', repeat=3)"
    assert "sample = 'B-12'" in details.texts["Arguments"].toPlainText()
    assert "RuntimeError: the cryostat lost B-12" in details.texts["Traceback"].toPlainText()
    assert details.tabs.tabText(details.tabs.currentIndex()) == "Traceback"
    assert "sample B-12 looks wet" in details.texts["Log"].toPlainText()
    assert details.fields["Journal"].text() == "no journal: kept in memory only"
    assert details.fields["Started"].text() and details.fields["Finished"].text()
    assert window.queue_model.index(0, Column.RESULT).data() == "RuntimeError: the cryostat lost B-12"


def calibrate(gain: float) -> float:
    return 2 * gain


def flaky_fit(reference: float) -> float:
    raise OSError(f"fit did not converge near {reference}")


def test_details_say_what_a_chained_step_waits_for_its_failure_policy_and_its_attempt(qtbot, window, manager):
    manager.pause_worker()
    upstream = manager.queued_exec(calibrate)(1.5)
    fit = manager.queued_exec(
        flaky_fit, inputs={"reference": upstream}, on_failure="continue", retries=1, retry_on=(OSError,)
    )()
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 2)
    click_row(qtbot, window, 1)
    chain = window.details.fields["Chain"]
    qtbot.waitUntil(lambda: chain.isVisible() and "(Queued)" in chain.text())
    policy = "result as reference: runs anyway if it does not finish"
    assert chain.text() == (
        f"after {upstream.id[:8]} calibrate(gain=1.5) (Queued), {policy}\nattempt 1 of 2 (retried on OSError)"
    )
    manager.resume_worker()
    qtbot.waitUntil(lambda: "(Finished)" in chain.text())  # follows the upstream
    assert manager.wait_until_idle(timeout=10) and fit.repeated_by is not None

    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 3)
    click_row(qtbot, window, 2)  # the retry
    qtbot.waitUntil(lambda: chain.text().endswith("attempt 2 of 2 (retried on OSError)"))
    click_row(qtbot, window, 0)
    qtbot.waitUntil(lambda: not chain.isVisible())  # a step outside any chain has no Chain row


def test_details_follow_the_selected_experiment_as_it_runs_and_ends(qtbot, window, manager):
    gate = threading.Event()
    exp = manager.queued_exec(wait_for)(gate)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1 and exp.status is ExpStatus.RUNNING)
    click_row(qtbot, window, 0)
    qtbot.waitUntil(lambda: window.details.fields["Status"].text() == "Running")

    gate.set()

    qtbot.waitUntil(lambda: window.details.fields["Status"].text() == "Finished")
    assert window.details.texts["Result"].toPlainText() == "'released'"


def test_details_show_what_an_aborted_experiment_measured(qtbot, window, manager):
    gate = threading.Event()

    def partial_sweep():
        gate.set()
        assert manager.abort.wait(10)
        return [1.5, 2.5]

    exp = manager.queued_exec(partial_sweep)()
    assert gate.wait(10)
    manager.abort_job()
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1 and exp.done())
    click_row(qtbot, window, 0)

    qtbot.waitUntil(lambda: window.details.fields["Status"].text() == "Aborted")
    assert window.details.texts["Result"].toPlainText() == "Aborted, returned [1.5, 2.5]"
    assert window.queue_model.index(0, Column.RESULT).data() == "Aborted, returned [1.5, 2.5]"


def test_huge_results_are_shown_shortened_without_being_walked(qtbot, window, manager):
    mapping = manager.queued_exec(huge_mapping)()
    samples = manager.queued_exec(huge_samples)()
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 2 and samples.done())
    CountingKey.comparisons = 0

    click_row(qtbot, window, 0)
    qtbot.waitUntil(lambda: window.details.fields["Status"].text() == "Finished")
    mapping_text = window.details.texts["Result"].toPlainText()
    click_row(qtbot, window, 1)
    qtbot.waitUntil(lambda: window.details.experiment is samples)
    samples_text = window.details.texts["Result"].toPlainText()
    cells = [window.queue_model.index(row, Column.RESULT).data() for row in (0, 1)]

    assert mapping.status is ExpStatus.FINISHED and samples.status is ExpStatus.FINISHED
    assert CountingKey.comparisons == 0
    assert mapping_text.startswith("{K0: 0, K1: 1") and "(200000 items)" in mapping_text
    assert samples_text.startswith("Samples([0, 1, 2")
    assert all(len(text) <= DETAIL_MAX_CHARS for text in (mapping_text, samples_text))
    assert all(len(cell) < 300 for cell in cells)


def test_log_pane_shows_records_from_any_thread_with_level_filter_and_search(qtbot, window, caplog):
    caplog.set_level(logging.DEBUG, logger="labqueue.test_job")
    pane = window.log_pane
    pane.level.setCurrentIndex(pane.level.findText("Debug"))

    def chatter() -> None:
        job_logger.debug("probe temperature 4.2 K")
        job_logger.info("magnet ramp done")
        job_logger.warning("helium level low")

    thread = threading.Thread(target=chatter)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: pane.filter.rowCount() == 3)

    pane.level.setCurrentIndex(pane.level.findText("Warning"))
    assert [pane.filter.index(r, 4).data() for r in range(pane.filter.rowCount())] == ["helium level low"]

    pane.level.setCurrentIndex(pane.level.findText("Debug"))
    qtbot.keyClicks(pane.search, "MAGNET")
    qtbot.waitUntil(lambda: pane.filter.rowCount() == 1)
    assert pane.filter.index(0, 4).data() == "magnet ramp done"
    assert pane.filter.index(0, 3).data() == "labqueue.test_job"


class OfflineInstrument:
    def __str__(self):
        raise OSError("instrument offline")

    __repr__ = __str__


def test_log_pane_shows_a_record_whose_message_cannot_be_made(qtbot, window, monkeypatch):
    monkeypatch.setattr(logging, "raiseExceptions", False)  # as in the program, not as pytest's handler does
    pane = window.log_pane
    job_logger.warning(OfflineInstrument())
    qtbot.waitUntil(lambda: pane.filter.rowCount() == 1)
    assert "repr failed: OSError" in pane.filter.index(0, 4).data()


def test_log_pane_names_the_experiment_a_record_came_from(qtbot, window, manager):
    exp = manager.queued_exec(warn_then_fail)("C-3")
    pane = window.log_pane

    def warning_rows():
        rows = (pane.model.row(r) for r in range(pane.model.rowCount()))
        return [row for row in rows if row.message == "sample C-3 looks wet"]

    qtbot.waitUntil(lambda: len(warning_rows()) == 1)
    assert warning_rows()[0].experiment == exp.id[:8]


def test_plot_pane_draws_each_published_series_as_one_curve(qtbot, window, manager, caplog):
    first = manager.queued_exec(sweep)(5)
    pane = window.plot_pane
    qtbot.waitUntil(lambda: first.done() and (first.id, "reference") in pane.curves)

    signal = pane.buffers[(first.id, "signal")]
    assert list(signal.x) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert list(signal.y) == [0, 1, 4, 9, 16, 1, 2, 3]
    assert list(pane.buffers[(first.id, "reference")].x) == [0.5, 1.5]
    assert (first.id, "broken") not in pane.curves and pane.buffers[(first.id, "broken")].size == 0
    assert sum("Cannot plot series 'broken'" in r.getMessage() for r in caplog.records) == 1
    curve = pane.curves[(first.id, "signal")]
    assert curve.opts["clipToView"] and curve.opts["autoDownsample"] and curve.opts["downsampleMethod"] == "peak"
    assert pane.caption.text() == f"Live: {first.title}"

    second = manager.queued_exec(sweep)(2)  # a new experiment starts a new plot
    qtbot.waitUntil(lambda: pane.shown == [second] and second.done())
    qtbot.waitUntil(lambda: (second.id, "signal") in pane.buffers and pane.buffers[(second.id, "signal")].size == 5)
    assert list(pane.buffers[(second.id, "signal")].y) == [0, 1, 1, 2, 3]
    items = pane.plot_widget.getPlotItem().listDataItems()
    assert len(items) == 2  # the first experiment's curves were reused, not piled up
    assert sorted(item.name() for item in items) == ["reference", "signal"]


def test_plot_pane_takes_a_million_points(qtbot, window, manager):
    def big_scan() -> None:
        publish("scan", None, np.sin(np.linspace(0, 100, 1_000_000)))

    exp = manager.queued_exec(big_scan)()
    pane = window.plot_pane
    key = (exp.id, "scan")

    qtbot.waitUntil(lambda: key in pane.buffers and pane.buffers[key].size == 1_000_000)
    qtbot.waitUntil(lambda: key in pane.curves)
    curve = pane.curves[key]
    assert len(curve.xData) == 1_000_000 and curve.xData[-1] == 999_999


def test_status_bar_shows_state_counts_and_time_left(qtbot, window, manager):
    status = window.status
    qtbot.waitUntil(lambda: status.state_label.text() == "Idle")
    manager.queued_exec(noop)(1).result(timeout=10)
    manager.pause_worker()
    for i in range(3):
        manager.queued_exec(noop)(i)
    gate = threading.Event()
    manager.queued_exec(wait_for)(gate)  # never ran before: no estimate

    qtbot.waitUntil(lambda: status.state_label.text() == "Paused")
    qtbot.waitUntil(lambda: status.counts_label.text() == "4 queued · 1 finished")
    assert status.eta_label.text().startswith("paused · ≈ ")
    assert status.eta_label.text().endswith("of work left (+1 without estimate)")

    manager.resume_worker()
    qtbot.waitUntil(lambda: status.state_label.text() == "Running")
    qtbot.waitUntil(lambda: status.counts_label.text() == "1 running · 4 finished")
    assert status.eta_label.text() == "time left: no estimate yet"
    gate.set()
    qtbot.waitUntil(lambda: status.state_label.text() == "Idle")
    assert status.counts_label.text() == "5 finished" and status.eta_label.text() == ""

    manager.pause_worker()
    manager.job_queue.put_many([Experiment(noop, (i,)) for i in range(1_200)])
    qtbot.waitUntil(lambda: status.counts_label.text() == "1,200 queued · 5 finished")


def test_status_bar_says_when_the_worker_thread_died(qtbot, window, manager, caplog):
    def broken_job_done(*args, **kwargs):
        raise RuntimeError("a bug in the bookkeeping")

    manager.job_queue.job_done = broken_job_done
    manager.queued_exec(noop)(1)
    qtbot.waitUntil(lambda: window.status.state_label.text() == "Dead")
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)


def test_a_dark_palette_recolours_statuses_and_icons(qtbot, window, manager):
    manager.queued_exec(noop)(1).result(timeout=10)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1)
    cell = window.queue_model.index(0, Column.STATUS)
    light_color = cell.data(Qt.ItemDataRole.ForegroundRole).name()
    light_icon = window.queue_actions.abort.icon().cacheKey()

    dark = window.palette()
    for role, color in (
        (dark.ColorRole.Window, "#202124"),
        (dark.ColorRole.WindowText, "#e8eaed"),
        (dark.ColorRole.Base, "#171717"),
    ):
        dark.setColor(role, color)
    window.setPalette(dark)

    assert cell.data(Qt.ItemDataRole.ForegroundRole).name() != light_color
    assert window.queue_actions.abort.icon().cacheKey() != light_icon
    assert window.queue_model.index(0, Column.STATUS).data(Qt.ItemDataRole.ForegroundRole).lightness() > 128


def calls_the_instrument(channel: int) -> None:
    read_channel(channel)


def read_channel(channel: int) -> None:
    raise TimeoutError(f"lock-in amplifier channel {channel} did not answer")


def test_the_traceback_shows_the_error_first_the_users_frames_and_folds_labqueues(qtbot, window, manager):
    exp = manager.queued_exec(calls_the_instrument)(3)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1 and exp.done())
    click_row(qtbot, window, 0)
    details = window.details
    text = details.texts["Traceback"]
    qtbot.waitUntil(lambda: "did not answer" in text.toPlainText())

    shown = text.toPlainText()
    assert shown.splitlines()[0] == "TimeoutError: lock-in amplifier channel 3 did not answer"
    assert "in calls_the_instrument" in shown and "in read_channel" in shown
    assert "worker.py" not in shown and "⋯ 2 labqueue frames folded" in shown
    assert text.lineWrapMode() == text.LineWrapMode.WidgetWidth
    assert text.font().pointSizeF() >= details.font().pointSizeF()

    details.show_labqueue_frames.click()
    assert "worker.py" in text.toPlainText()


def test_a_plain_abort_shows_no_traceback(qtbot, window, manager):
    gate = threading.Event()
    exp = manager.queued_exec(wait_for)(gate)  # waits at checkpoint() until aborted
    qtbot.waitUntil(lambda: exp.status is ExpStatus.RUNNING)
    manager.abort_job()
    qtbot.waitUntil(lambda: exp.status is ExpStatus.ABORTED and window.queue_model.rowCount() == 1)
    assert exp.traceback  # the core keeps it; the window has nothing to show for it

    click_row(qtbot, window, 0)

    details = window.details
    qtbot.waitUntil(lambda: details.fields["Status"].text() == "Aborted")
    assert not details.tabs.isTabEnabled(details.tabs.indexOf(details.traceback_page))
    assert details.tabs.tabText(details.tabs.currentIndex()) == "Result"
    assert details.texts["Result"].toPlainText() == "Aborted at its checkpoint(), as asked"
