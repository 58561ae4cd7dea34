"""The status bar shows the Dask lane's cluster once the lane is used."""

from __future__ import annotations

TIMEOUT_S = 60


def square(x: int) -> int:
    return x * x


def test_the_status_bar_shows_the_cluster_while_the_dask_lane_is_in_use(window, qtbot):
    label = window.status.cluster_label
    assert label.isHidden()  # nothing about Dask while the lane was never used
    window.manager.dask_lane.n_workers = 1
    assert window.manager.queued_exec(lane="dask")(square)(6).result(TIMEOUT_S) == 36
    qtbot.waitUntil(lambda: label.isVisible() and "workers" in label.text(), timeout=TIMEOUT_S * 1000)
    assert label.text().startswith("Dask local cluster: 1 workers · 1 threads · ")
    assert label.text().endswith(" GiB")
