"""Where labqueue keeps things (platformdirs, or one ``--data-dir``) and ``config.toml``."""

from .paths import APP_NAME, DATA_DIR_ENV, config_dir, data_dir, log_dir
from .settings import (
    CONFIG_FILE_NAME,
    EMAIL_LEVELS,
    EMAIL_OFF,
    SECURITY_MODES,
    DaskSettings,
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

__all__ = [
    "APP_NAME",
    "CONFIG_FILE_NAME",
    "DATA_DIR_ENV",
    "EMAIL_LEVELS",
    "EMAIL_OFF",
    "SECURITY_MODES",
    "DaskSettings",
    "EmailSettings",
    "QueueSettings",
    "SettingError",
    "Settings",
    "check_setting",
    "config_dir",
    "config_path",
    "data_dir",
    "email_level_number",
    "load_settings",
    "log_dir",
    "save_settings",
]
