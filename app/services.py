"""The services every session starts beside its Manager, window or not: settings from
``config.toml``, the rotating log file, email digests, and the opt-in run notices.

``start_services(manager, data_dir)`` is called once after the Manager is made;
``services.stop()`` once after it shut down, so the last digest still goes out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from labqueue.core import Experiment, Manager
from labqueue.core.config import Settings, config_path, email_level_number, load_settings, log_dir
from labqueue.core.notify import EmailDigestHandler, QueueDoneNotifier, SmtpSettings, StallWatchdog

from .log_setup import configure_logging, remove_logging

__all__ = ["Services", "start_services"]

logger = logging.getLogger("labqueue.settings")


class Services:
    """The running services of one session; see :func:`start_services`.

    Attributes:
        settings: the settings in force.
        config_path: the ``config.toml`` they came from (and the dialog writes).
        problems: messages about what was wrong in that file or with the log
            directory; each one was also logged.
        email_handler: the :class:`EmailDigestHandler` on the root logger.
        stall_listeners: called ``(experiment, quiet_seconds)`` when the stall watchdog
            warns (on the watchdog's thread); the window adds its banner here.
    """

    def __init__(
        self,
        manager: Manager,
        settings: Settings,
        config: Path,
        problems: list[str],
        log_handler: logging.Handler | None,
        dask_scheduler: str | None = None,
    ) -> None:
        self.manager = manager
        #: ``--dask-scheduler``, which wins over the ``[dask] scheduler`` setting.
        self.dask_scheduler = dask_scheduler
        self.config_path = config
        self.problems = problems
        self.settings = settings
        self._log_handler = log_handler
        self._queue_done: QueueDoneNotifier | None = None
        self._watchdog: StallWatchdog | None = None
        self.stall_listeners: list[Callable[[Experiment, float], None]] = []
        email = settings.email
        # apply() gives the handler its digest period and hourly limit.
        self.email_handler = EmailDigestHandler(manager, SmtpSettings.from_email_settings(email))
        self.apply(settings)

    def apply(self, settings: Settings) -> None:
        """Put ``settings`` in force at once (the Settings dialog calls this after saving)."""
        email = settings.email
        self.settings = settings
        self.manager.pause_on_failure = settings.queue.pause_on_failure
        self.manager.process_lane.kill_grace = settings.queue.kill_grace_seconds
        self.manager.abort_grace_seconds = settings.queue.abort_grace_seconds
        self._apply_dask(settings)
        self.manager.notify_address = list(email.to)
        self.manager.email_handler_level = email_level_number(email.level)
        self.email_handler.configure(
            SmtpSettings.from_email_settings(email),
            digest_seconds=email.digest_seconds,
            max_per_hour=email.max_per_hour,
        )
        if self._queue_done is not None:
            self._queue_done.close()
            self._queue_done = None
        if email.queue_done:
            self._queue_done = QueueDoneNotifier(self.manager, self.email_handler.send_now)
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None
        if email.stall_minutes > 0:
            self._watchdog = StallWatchdog(self.manager, email.stall_minutes * 60, on_stall=self._report_stall)

    def _apply_dask(self, settings: Settings) -> None:
        lane, dask = self.manager.dask_lane, settings.dask
        lane.kill_grace = settings.queue.kill_grace_seconds
        lane.connect_timeout = dask.connect_timeout_seconds
        lane.n_workers = dask.workers or None
        lane.dashboard_address = dask.dashboard or None
        address = self.dask_scheduler or dask.scheduler or None
        try:
            lane.use_address(address)
        except ValueError as exc:
            logger.warning("[dask] scheduler: %s; it applies from the next start", exc)

    def _report_stall(self, experiment: Experiment, quiet_seconds: float) -> None:
        for listener in list(self.stall_listeners):
            listener(experiment, quiet_seconds)

    def stop(self) -> None:
        """Send what is pending (within the email handler's time limit), then close the
        log file. Call after ``manager.shutdown()``; calling twice is harmless."""
        for watcher in (self._watchdog, self._queue_done):
            if watcher is not None:
                watcher.close()
        self._watchdog = self._queue_done = None
        logging.getLogger().removeHandler(self.email_handler)
        self.email_handler.close()
        if self._log_handler is not None:
            remove_logging(self._log_handler)
            self._log_handler = None


def start_services(
    manager: Manager, data_dir: str | Path | None = None, *, dask_scheduler: str | None = None
) -> Services:
    """Load settings, apply them to ``manager``, start the log file and email digests.
    ``dask_scheduler`` (``--dask-scheduler``) is the Dask lane's scheduler whatever the
    ``[dask] scheduler`` setting says.

    Never raises for bad settings or an unwritable log directory: those become
    warnings (in :attr:`Services.problems` too) and the defaults are used.
    """
    path = config_path(data_dir)
    settings, problems = load_settings(path)
    directory = log_dir(data_dir)
    log_handler = None
    try:
        log_handler = configure_logging(directory)
    except OSError as exc:
        problems.append(f"{directory}: cannot write log files there ({exc}); logging to the console only")
    manager.log_file_dir = directory
    for problem in problems:
        logger.warning("%s", problem)
    services = Services(manager, settings, path, problems, log_handler, dask_scheduler)
    logging.getLogger().addHandler(services.email_handler)
    return services
