"""config.toml: defaults, per-key messages for bad values, and a writer that keeps the rest."""

import logging
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labqueue.core.config import (
    EMAIL_OFF,
    EmailSettings,
    QueueSettings,
    SettingError,
    Settings,
    check_setting,
    config_path,
    email_level_number,
    load_settings,
    save_settings,
)
from labqueue.core.engine import DEFAULT_ABORT_GRACE_SECONDS


@pytest.fixture
def config(tmp_path):
    return tmp_path / "config.toml"


def test_missing_file_gives_defaults_and_no_message(config):
    assert load_settings(config) == (Settings(), [])


def test_config_lives_in_the_data_dir_when_one_is_given(tmp_path):
    assert config_path(tmp_path / "d") == tmp_path / "d" / "config.toml"


def test_valid_file_is_read(config):
    config.write_text(
        """
[email]
to = ["ana@lab.example", "bo@lab.example"]
level = "error"
host = "smtp.lab.example"
port = 465
security = "ssl"
username = "ana"
sender = "labqueue@lab.example"
digest_seconds = 30
max_per_hour = 4
queue_done = true
stall_minutes = 12.5

[queue]
pause_on_failure = false
abort_grace_seconds = 2.5
""",
        encoding="utf-8",
    )
    loaded, problems = load_settings(config)
    assert problems == []
    assert loaded == Settings(
        EmailSettings(
            to=("ana@lab.example", "bo@lab.example"),
            level="ERROR",
            host="smtp.lab.example",
            port=465,
            security="ssl",
            username="ana",
            sender="labqueue@lab.example",
            digest_seconds=30.0,
            max_per_hour=4,
            queue_done=True,
            stall_minutes=12.5,
        ),
        QueueSettings(pause_on_failure=False, abort_grace_seconds=2.5),
    )


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        ('to = ["not an address"]', "to", "not an email address"),
        ("port = 70000", "port", "from 1 to 65535"),
        ('level = "LOUD"', "level", "INFO, WARNING, ERROR, CRITICAL, OFF"),
        ('security = "tls"', "security", "starttls, ssl, none"),
        ("max_per_hour = 0", "max_per_hour", "from 1 to 3600"),
        ('digest_seconds = "soon"', "digest_seconds", "number"),
        ("queue_done = 1", "queue_done", "true or false"),
    ],
)
def test_bad_value_names_key_and_file_and_only_that_key_falls_back(config, line, key, reason):
    config.write_text(f'[email]\nhost = "mail.example"\n{line}\n', encoding="utf-8")
    loaded, problems = load_settings(config)
    assert len(problems) == 1
    assert str(config) in problems[0]
    assert f"[email] {key} =" in problems[0]
    assert reason in problems[0]
    assert getattr(loaded.email, key) == getattr(EmailSettings(), key)
    assert loaded.email.host == "mail.example"


@pytest.mark.parametrize("value", ["-1", "3601", '"soon"', "true"])
def test_an_abort_grace_period_out_of_range_takes_the_default(config, value):
    config.write_text(f"[queue]\nabort_grace_seconds = {value}\n", encoding="utf-8")
    loaded, problems = load_settings(config)
    assert loaded.queue.abort_grace_seconds == QueueSettings().abort_grace_seconds == DEFAULT_ABORT_GRACE_SECONDS
    assert len(problems) == 1 and "[queue] abort_grace_seconds" in problems[0]
    assert "must be a number from 0 to 3600" in problems[0]


def test_unknown_key_is_named_with_the_known_ones(config):
    config.write_text("[queue]\npause_on_fail = false\n", encoding="utf-8")
    loaded, problems = load_settings(config)
    assert loaded.queue.pause_on_failure is True
    known = "pause_on_failure, kill_grace_seconds, abort_grace_seconds"
    assert problems == [f"{config}: [queue] unknown key 'pause_on_fail' is ignored (known keys: {known})"]


def test_a_password_in_the_file_is_refused_with_the_right_advice(config):
    config.write_text('[email]\npassword = "hunter2"\n', encoding="utf-8")
    loaded, problems = load_settings(config)
    assert "hunter2" not in repr(loaded)
    assert "keyring" in problems[0] and "LABQUEUE_SMTP_PASSWORD" in problems[0]
    assert "hunter2" not in problems[0]


def test_invalid_toml_gives_defaults_and_a_message_with_the_position(config):
    config.write_text("[email\nto = 3\n", encoding="utf-8")
    loaded, problems = load_settings(config)
    assert loaded == Settings()
    assert str(config) in problems[0] and "line 1" in problems[0]


def test_a_table_that_is_not_a_table_is_reported(config):
    config.write_text('email = "me@lab.example"\n', encoding="utf-8")
    loaded, problems = load_settings(config)
    assert loaded == Settings()
    assert problems == [f"{config}: [email] must be a table; using the defaults for all of it"]


def test_other_tables_are_not_ours_to_judge(config):
    config.write_text("[gui]\ntheme = 'dark'\n", encoding="utf-8")
    assert load_settings(config) == (Settings(), [])


def test_save_keeps_other_tables_and_drops_a_stray_password(config):
    config.write_text('[gui]\ntheme = "dark"\n[email]\npassword = "hunter2"\n', encoding="utf-8")
    wanted = Settings(EmailSettings(to=("ana@lab.example",), port=2525), QueueSettings(False))
    save_settings(wanted, config)
    text = config.read_text(encoding="utf-8")
    assert "hunter2" not in text
    assert tomllib.loads(text)["gui"] == {"theme": "dark"}
    assert load_settings(config) == (wanted, [])


def test_save_backs_up_a_file_it_cannot_parse(config):
    config.write_text("this is [not toml\n", encoding="utf-8")
    save_settings(Settings(), config)
    assert (config.parent / "config.toml.bak").read_text(encoding="utf-8") == "this is [not toml\n"
    assert load_settings(config) == (Settings(), [])


def test_save_creates_the_directory(tmp_path):
    path = tmp_path / "new" / "dir" / "config.toml"
    save_settings(Settings(), path)
    assert load_settings(path) == (Settings(), [])


text_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    username=text_values,
    host=st.from_regex(r"[a-z0-9.\-]{1,20}", fullmatch=True),
    stall=st.floats(0, 600),
)
def test_save_then_load_round_trips(tmp_path_factory, username, host, stall):
    path = tmp_path_factory.mktemp("rt") / "config.toml"
    wanted = Settings(EmailSettings(username=username, host=host, stall_minutes=stall))
    save_settings(wanted, path)
    assert load_settings(path) == (wanted, [])


def test_check_setting_normalises_and_explains():
    assert check_setting("email", "level", "warning") == "WARNING"
    assert check_setting("email", "to", "a@b") == ("a@b",)
    with pytest.raises(SettingError, match="from 1 to 65535"):
        check_setting("email", "port", 0)
    with pytest.raises(KeyError):
        check_setting("email", "password", "x")


def test_email_level_numbers():
    assert email_level_number("warning") == logging.WARNING
    assert email_level_number("OFF") == EMAIL_OFF > logging.CRITICAL
    with pytest.raises(SettingError):
        email_level_number("LOUD")


def test_the_example_in_the_module_documentation_is_valid(config):
    import labqueue.core.config.settings

    example = labqueue.core.config.settings.__doc__.split("::\n", 1)[1]
    config.write_text("\n".join(line[4:] for line in example.splitlines()), encoding="utf-8")
    loaded, problems = load_settings(config)
    assert problems == []
    assert loaded.email.host == "smtp.lab.example" and loaded.queue.pause_on_failure is True


def test_the_kill_grace_of_commands_is_a_queue_setting(config):
    config.write_text("[queue]\nkill_grace_seconds = 2\n", encoding="utf-8")
    loaded, problems = load_settings(config)
    assert loaded.queue.kill_grace_seconds == 2.0 and problems == []
    config.write_text("[queue]\nkill_grace_seconds = -1\n", encoding="utf-8")
    loaded, problems = load_settings(config)
    assert loaded.queue.kill_grace_seconds == 5.0 and "kill_grace_seconds" in problems[0]
