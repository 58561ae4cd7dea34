"""labqueue is a library to a script: it logs to the ``labqueue`` logger and adds no
handler anywhere, so the script's own logging set-up (or Python's last resort) decides
what is printed. Each case runs in a fresh interpreter, where pytest's own logging
handlers are not in the way."""

import subprocess
import sys
import textwrap


def run_script(body: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=60)


def test_importing_and_making_a_manager_adds_no_handler_anywhere():
    done = run_script(
        """
        import logging
        import labqueue
        manager = labqueue.Manager()
        manager.queued_exec(lambda: logging.getLogger("driver").warning("hot"))().result(timeout=30)
        manager.shutdown()
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        print(sum(len(getattr(lg, "handlers", [])) for lg in loggers), logging.getLogger().level)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", str(30)]  # no handlers; the root logger's level untouched (WARNING)


def test_basic_config_after_a_manager_still_configures_logging():
    done = run_script(
        """
        import logging, sys
        from labqueue import Manager
        manager = Manager()
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s %(message)s")

        def measure():
            logging.getLogger("lockin").info("reading 7")
            return 7

        exp = manager.queued_exec(measure)()
        print("result", exp.result(timeout=30))
        print("captured", [r.getMessage() for r in exp.log_records])
        manager.shutdown()
        """
    )
    assert done.returncode == 0, done.stderr
    assert "INFO lockin reading 7" in done.stdout.splitlines()
    assert "captured ['reading 7']" in done.stdout  # the experiment still keeps its own lines


def test_a_failed_job_in_a_plain_script_is_printed_by_pythons_last_resort():
    done = run_script(
        """
        import logging
        from labqueue import Manager
        manager = Manager()

        def measure():
            logging.getLogger("cryostat").warning("helium low")
            raise RuntimeError("lock-in not answering")

        exp = manager.queued_exec(measure)()
        exp.exception(timeout=30)
        manager.shutdown()
        """
    )
    assert done.returncode == 0, done.stderr
    assert "helium low" in done.stderr
    assert "measure() failed" in done.stderr and "RuntimeError: lock-in not answering" in done.stderr
