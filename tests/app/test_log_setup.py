"""The log file: rotation, one handler however often it is configured, experiment ids."""

import logging
import re

import pytest

from labqueue import Manager
from labqueue.app.log_setup import LOG_FILE_NAME, configure_logging, remove_logging


@pytest.fixture
def log_dir(tmp_path):
    directory = tmp_path / "logs"
    yield directory
    remove_logging()


def read_log(directory) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return (directory / LOG_FILE_NAME).read_text(encoding="utf-8")


def test_line_has_date_time_level_logger_and_no_experiment_outside_a_run(log_dir):
    configure_logging(log_dir)
    logging.getLogger("labqueue.test").warning("outside any run")
    line = read_log(log_dir).strip().splitlines()[-1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING +labqueue\.test \[-\] outside any run", line), (
        line
    )


def test_a_logged_failure_carrying_a_huge_payload_is_written_with_a_short_traceback(log_dir):
    configure_logging(log_dir)
    try:
        raise ValueError(b"\x00" * 5_000_000)  # str() of it would be 20 MB
    except ValueError:
        logging.getLogger("labqueue.test").exception("camera readout failed")
    text = read_log(log_dir)
    assert "camera readout failed" in text and "ValueError: b'\\x00\\x00" in text
    assert len(text) < 50_000


def test_lines_emitted_during_a_run_carry_the_experiment_id(log_dir):
    configure_logging(log_dir)
    with Manager(start=True) as manager:

        def measure(n):
            logging.getLogger("labqueue.instrument").info("reading %d", n)
            return n

        exp = manager.queued_exec(measure)(7)
        exp.result(timeout=10)
    text = read_log(log_dir)
    assert f"labqueue.instrument [{exp.id[:8]}] reading 7" in text


def test_configuring_twice_installs_one_handler(log_dir):
    first = configure_logging(log_dir)
    second = configure_logging(log_dir)
    assert first is second
    logging.getLogger("labqueue.test").warning("only once")
    assert read_log(log_dir).count("only once") == 1


def test_configuring_another_directory_moves_the_log(log_dir, tmp_path):
    configure_logging(log_dir)
    other = tmp_path / "other-logs"
    configure_logging(other)
    logging.getLogger("labqueue.test").warning("goes to the new place")
    assert "goes to the new place" in read_log(other)
    assert "goes to the new place" not in read_log(log_dir)


def test_files_rotate_by_size_and_keep_a_few(log_dir):
    configure_logging(log_dir, max_bytes=2_000, backup_count=3)
    log = logging.getLogger("labqueue.test")
    for i in range(200):
        log.info("line %04d %s", i, "x" * 60)
    names = sorted(p.name for p in log_dir.iterdir())
    assert names == [LOG_FILE_NAME, f"{LOG_FILE_NAME}.1", f"{LOG_FILE_NAME}.2", f"{LOG_FILE_NAME}.3"]
    assert all((log_dir / n).stat().st_size <= 2_000 for n in names)
    assert "line 0199" in read_log(log_dir)
    assert "line 0000" not in "".join((log_dir / n).read_text() for n in names)


def test_info_reaches_the_file_even_if_the_root_logger_was_stricter(log_dir):
    logging.getLogger().setLevel(logging.WARNING)
    configure_logging(log_dir)
    logging.getLogger("labqueue.test").info("informative")
    assert "informative" in read_log(log_dir)
