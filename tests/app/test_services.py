"""start_services: config.toml, the log file and email, for the window and for --no-gui alike."""

import io
import logging
import threading

import pytest

from labqueue import Manager
from labqueue.app.headless import run_headless
from labqueue.app.log_setup import LOG_FILE_NAME
from labqueue.app.services import start_services
from labqueue.core.config import EmailSettings, Settings, load_settings
from tests.smtp_server import running_server


@pytest.fixture
def server():
    with running_server() as smtp_server:
        yield smtp_server


def write_config(data_dir, server, **email):
    lines = [
        "[email]",
        'to = ["ana@lab.example"]',
        'host = "127.0.0.1"',
        f"port = {server.port}",
        'security = "none"',
        *(f"{key} = {value}" for key, value in email.items()),
        "[queue]",
        "pause_on_failure = false",
        "abort_grace_seconds = 3",
    ]
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def log_text(data_dir) -> str:
    return (data_dir / "logs" / LOG_FILE_NAME).read_text(encoding="utf-8")


def test_settings_are_applied_and_a_warning_in_a_job_is_emailed(isolated_dirs, server):
    write_config(isolated_dirs, server, digest_seconds=0, level='"ERROR"')
    with Manager(isolated_dirs) as manager:
        services = start_services(manager, isolated_dirs)
        try:
            assert manager.pause_on_failure is False
            assert manager.abort_grace_seconds == 3.0
            assert manager.notify_address == ["ana@lab.example"]
            assert manager.email_handler_level == logging.ERROR
            assert manager.log_file_dir == isolated_dirs / "logs"

            def measure():
                logging.getLogger("labqueue.instrument").error("Magnet quenched")

            exp = manager.queued_exec(measure)()
            (mail,) = server.wait_for(1)
        finally:
            services.stop()
    assert "Magnet quenched" in mail.body and "Experiment: " in mail.body
    assert f"labqueue.instrument [{exp.id[:8]}] Magnet quenched" in log_text(isolated_dirs)


def test_bad_settings_are_reported_in_the_log_and_defaults_used(isolated_dirs, server):
    write_config(isolated_dirs, server, max_per_hour=0)
    with Manager(isolated_dirs, start=False) as manager:
        services = start_services(manager, isolated_dirs)
        services.stop()
    (problem,) = services.problems
    assert "[email] max_per_hour = 0" in problem and str(isolated_dirs / "config.toml") in problem
    assert problem in log_text(isolated_dirs)
    assert services.settings.email.max_per_hour == EmailSettings().max_per_hour


def test_stop_sends_the_pending_digest(isolated_dirs, server):
    write_config(isolated_dirs, server, digest_seconds=3600)
    with Manager(isolated_dirs, start=False) as manager:
        services = start_services(manager, isolated_dirs)
        logging.getLogger("labqueue.test").warning("Helium low")
    services.stop()
    (mail,) = server.messages
    assert "Helium low" in mail.body


def test_apply_changes_addresses_and_level_at_once(isolated_dirs, server):
    write_config(isolated_dirs, server, digest_seconds=0)
    with Manager(isolated_dirs, start=False) as manager:
        services = start_services(manager, isolated_dirs)
        try:
            changed = Settings(
                EmailSettings(
                    to=("bo@lab.example",),
                    level="CRITICAL",
                    host="127.0.0.1",
                    port=server.port,
                    security="none",
                    digest_seconds=0,
                )
            )
            services.apply(changed)
            logging.getLogger("labqueue.test").error("not critical enough")
            logging.getLogger("labqueue.test").critical("Room flooding")
            (mail,) = server.wait_for(1)
        finally:
            services.stop()
    assert mail.rcpt_tos == ["bo@lab.example"]
    assert "Room flooding" in mail.body and "not critical enough" not in mail.body
    assert manager.pause_on_failure is True


_release = threading.Event()


def _slow():
    _release.wait(30)


def test_queue_done_and_stall_notices_arrive_by_email(isolated_dirs, server):
    write_config(isolated_dirs, server, digest_seconds=0, queue_done="true", stall_minutes=0.003)
    release = _release  # at module level, so the journal can store the call (no warning mail)
    release.clear()

    with Manager(isolated_dirs) as manager:
        services = start_services(manager, isolated_dirs)
        try:
            manager.queued_exec(_slow)()
            stall_mail = server.wait_for(1)[0]
            release.set()
            done_mail = server.wait_for(2)[1]
        finally:
            release.set()
            services.stop()
    assert "has reported no progress" in stall_mail.body and "Experiment: " in stall_mail.body
    assert done_mail.subject.endswith("queue done, 1 finished")


def test_no_gui_run_uses_the_same_settings_and_sends_the_same_email(isolated_dirs, server, tmp_path):
    write_config(isolated_dirs, server, digest_seconds=3600)
    script = tmp_path / "script.py"
    script.write_text(
        "import logging\n"
        "def warm_up():\n"
        "    logging.getLogger('labqueue.script').warning('Stage temperature overshoot')\n"
        "manager.queued_exec(warm_up)()\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    assert run_headless(script, data_dir=isolated_dirs, out=out) == 0, out.getvalue()
    (mail,) = server.messages  # sent at the end of the run, within the shutdown limit
    assert "Stage temperature overshoot" in mail.body
    assert "warm_up()" in mail.body
    assert "Stage temperature overshoot" in log_text(isolated_dirs)
    assert load_settings(isolated_dirs / "config.toml")[1] == []


def test_the_dask_table_sets_up_the_dask_lane_and_the_command_line_scheduler_wins(isolated_dirs):
    isolated_dirs.mkdir(parents=True, exist_ok=True)
    (isolated_dirs / "config.toml").write_text(
        '[queue]\nkill_grace_seconds = 2\n[dask]\nscheduler = "tcp://10.0.0.5:8786"\nworkers = 3\n'
        'dashboard = ":8790"\nconnect_timeout_seconds = 4\n',
        encoding="utf-8",
    )
    with Manager(isolated_dirs, start=False) as manager:
        services = start_services(manager, isolated_dirs)
        services.stop()
        lane = manager.dask_lane
        assert (lane.address, lane.n_workers, lane.dashboard_address) == ("tcp://10.0.0.5:8786", 3, ":8790")
        assert (lane.connect_timeout, lane.kill_grace) == (4.0, 2.0)
    with Manager(isolated_dirs, start=False) as manager:
        services = start_services(manager, isolated_dirs, dask_scheduler="tcp://127.0.0.1:9999")
        services.stop()
        assert manager.dask_lane.address == "tcp://127.0.0.1:9999"


def test_a_bad_dask_setting_is_named_and_its_default_used(isolated_dirs):
    isolated_dirs.mkdir(parents=True, exist_ok=True)
    (isolated_dirs / "config.toml").write_text('[dask]\nscheduler = "tcp://a b"\nworkers = -1\n', encoding="utf-8")
    settings, problems = load_settings(isolated_dirs / "config.toml")
    assert settings.dask.scheduler == "" and settings.dask.workers == 0
    assert any("[dask] scheduler = 'tcp://a b': must be an address like tcp://host:8786" in p for p in problems)
    assert any("[dask] workers = -1" in p for p in problems)
