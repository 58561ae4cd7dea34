"""The run supervisor: a small process that starts labqueue's command runs and outlives none of them.

labqueue starts one per process lane (``python -I supervisor.py FD``, standard library
only) and talks to it over the Unix socket ``FD`` (SOCK_SEQPACKET: one JSON message
per packet, a file descriptor attached to a spawn when the run needs a channel of its
own). It exists for two reasons:

* No orphans. Each run is the leader of its own process group (its own session).
  When labqueue dies, even by SIGKILL, the socket reaches end-of-file and the
  supervisor kills every group it started, grandchildren included, then exits.
  ``PR_SET_PDEATHSIG`` could not do that much: it reaches only the direct child, and
  fires when the *thread* that forked ends, not the process. Set in each run (a
  ``preexec_fn``) it would also cost a full fork instead of a vfork, 1.5 ms a run
  here; so a run outlives the supervisor only if the supervisor alone is SIGKILLed.
* Cheap starts. Spawning from this small process costs a fraction of spawning from
  labqueue with Qt and a journal mapped in.

Requests: ``{"op": "spawn", "id", "argv", "cwd", "env", "stdout", "stderr", "fd_env"}``
(plus an attached descriptor, which the run inherits; its number here, which is the
run's too, goes into the environment variable named by ``fd_env``) and
``{"op": "signal", "id", "signal", "kill_after"}``: signal the run's group, then
SIGKILL it after ``kill_after`` seconds if the run is still there.
Events: ``{"event": "started", "id", "pid"}``, ``{"event": "failed", "id", "error",
"errno", "filename"}`` (the run could not start) and ``{"event": "exited", "id",
"returncode"}`` (negative: killed by that signal). When a run's leader exits, what is
left of its group is killed before the leader is reaped, so the group id cannot have
been reused by then.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

#: Largest request accepted (an environment and a command line fit many times over).
MAX_MESSAGE = 1 << 20


class Supervisor:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ, None)
        self.runs: dict[int, subprocess.Popen] = {}  # run id -> its process
        self.kill_at: dict[int, float] = {}  # run id -> monotonic time of its SIGKILL

    def send(self, message: dict) -> None:
        try:
            self.sock.send(json.dumps(message).encode())
        except OSError:  # labqueue is gone: the next read sees it and cleans up
            pass

    def serve(self) -> None:
        while True:
            timeout = None
            if self.kill_at:
                timeout = max(0.0, min(self.kill_at.values()) - time.monotonic())
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    if not self.read_request():
                        self.kill_everything()
                        return
                else:
                    self.reap(key.data, key.fileobj)
            self.kill_overdue()

    def read_request(self) -> bool:
        """Handle one request; False at end-of-file (labqueue closed the socket or died)."""
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 4)
        except ConnectionResetError:
            return False
        if not data:
            return False
        request = json.loads(data)
        if request["op"] == "spawn":
            try:
                self.spawn(request, fds)
            finally:
                for fd in fds:
                    os.close(fd)
        elif request["op"] == "signal":
            self.signal_group(request["id"], request["signal"], request.get("kill_after"))
        return True

    def spawn(self, request: dict, fds: list[int]) -> None:
        run_id = request["id"]
        try:
            with open(request["stdout"], "wb") as out, open(request["stderr"], "wb") as err:
                env = dict(request["env"])
                if fds and request.get("fd_env"):
                    env[request["fd_env"]] = str(fds[0])
                process = subprocess.Popen(
                    request["argv"],
                    cwd=request["cwd"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    pass_fds=fds,
                )
        except OSError as exc:
            self.send(
                {
                    "event": "failed",
                    "id": run_id,
                    "error": exc.strerror or str(exc),
                    "errno": exc.errno,
                    "filename": exc.filename if exc.filename is None else str(exc.filename),
                }  # fmt: skip
            )
            return
        except Exception as exc:  # a bad argument (NUL in the command line, say): the run fails, not the lane
            self.send({"event": "failed", "id": run_id, "error": f"{type(exc).__name__}: {exc}", "errno": None,
                       "filename": None})  # fmt: skip
            return
        self.runs[run_id] = process
        pidfd = os.pidfd_open(process.pid)
        self.selector.register(pidfd, selectors.EVENT_READ, run_id)
        self.send({"event": "started", "id": run_id, "pid": process.pid})

    def signal_group(self, run_id: int, signum: int, kill_after: float | None) -> None:
        process = self.runs.get(run_id)
        if process is None:
            return
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass
        if kill_after is not None and signum != signal.SIGKILL:
            self.kill_at.setdefault(run_id, time.monotonic() + kill_after)

    def kill_overdue(self) -> None:
        now = time.monotonic()
        for run_id in [r for r, due in self.kill_at.items() if due <= now]:
            del self.kill_at[run_id]
            self.signal_group(run_id, signal.SIGKILL, None)

    def reap(self, run_id: int, pidfd: int) -> None:
        self.selector.unregister(pidfd)
        os.close(pidfd)
        process = self.runs.pop(run_id)
        self.kill_at.pop(run_id, None)
        # The leader is a zombie until waited for, so its group id is still ours: kill
        # what is left of the group (a grandchild that ignored SIGTERM) before reaping.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.send({"event": "exited", "id": run_id, "returncode": process.wait()})

    def kill_everything(self) -> None:
        for process in self.runs.values():
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for process in self.runs.values():
            process.wait()


def main() -> None:
    # labqueue's Ctrl-C reaches its whole terminal group, this process included: the
    # runs are stopped by labqueue (or by the end of the socket), never from here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=int(sys.argv[1]))
    Supervisor(sock).serve()


if __name__ == "__main__":
    main()
