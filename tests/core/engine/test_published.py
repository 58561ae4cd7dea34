"""PublishedData: series kept with their experiment, capped."""

from labqueue.core.engine import published
from labqueue.core.engine.published import PublishedData


def test_an_experiment_keeps_at_most_max_points_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(published, "MAX_POINTS", 10)
    data = PublishedData()

    for _ in range(4):
        data.add("scan", None, list(range(4)))

    assert data.points == 10 and data.truncated and list(data.series["scan"].x) == list(range(10))
    assert sum("Only the first 10 points" in record.getMessage() for record in caplog.records) == 1


def test_a_reader_gets_x_and_y_of_the_same_length():
    data = PublishedData()
    data.add("signal", [1, 2, 3], [4, 5, 6])
    series = data.series["signal"]
    series.x.append(9.0)  # as if the job were between appending x and y

    x, y = series.points()

    assert list(x) == [1, 2, 3] and list(y) == [4, 5, 6]


def test_values_that_are_not_numbers_are_refused_once_per_series(caplog):
    data = PublishedData()

    assert not data.add("broken", "left", "right")
    assert not data.add("broken", "left", "right")
    assert data.add("good", 1, 2.5)

    assert sum("Cannot plot series 'broken'" in record.getMessage() for record in caplog.records) == 1
    assert data.points == 1
