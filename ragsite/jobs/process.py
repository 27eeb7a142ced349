"""The job worker as a child of the web server: started with it, restarted if it dies, stopped with it.

gunicorn.conf.py calls supervise() from its master's when_ready hook and stop() from on_exit, so
`make run` stays one command. The worker also watches its parent (--parent-pid): if the master is
killed outright, the worker finishes the job in hand and exits instead of running on as an orphan.
"""

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
RESTART_DELAY = 2.0  # between a worker's death and its successor: a worker that dies at start must not spin
STOP_TIMEOUT = 30.0  # a job in hand gets this long to finish on shutdown before the worker is killed


# glibc's malloc, read at the worker's start: large buffers (a batch's activations) always mmapped, so freeing
# them returns them to the system, and two arenas rather than 8 per core. Measured by bench/ingest_memory.py:
# a 200 KB document's peak went from 917 to 742 MB and what stayed after it from 81 to 44-65 MB.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}


def worker_env() -> dict[str, str]:
    return {**os.environ, **MALLOC_ENV}


def worker_command(*extra: str) -> list[str]:
    return [sys.executable, str(MANAGE), "jobs_worker", "--no-startup-delay", "--parent-pid", str(os.getpid()), *extra]


class Supervisor:
    """One jobs_worker child, restarted while the supervisor runs."""

    def __init__(self, *, command: list[str] | None = None, env: dict | None = None):
        self.command = command or worker_command()
        self.env = env or worker_env()
        self.proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> "Supervisor":
        self._spawn()
        threading.Thread(target=self._watch, name="jobs-supervisor", daemon=True).start()
        return self

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                # Its own session: a Ctrl-C in the terminal reaches the master, which stops it in order.
                self.proc = subprocess.Popen(self.command, env=self.env, start_new_session=True)
                logger.info("job worker started (pid %s)", self.proc.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            # poll() also notices a child that gunicorn's arbiter reaped first (waitpid(-1) takes every child).
            if self.proc is not None and self.proc.poll() is not None:
                logger.warning("job worker (pid %s) exited with %s: restarting", self.proc.pid, self.proc.returncode)
                time.sleep(RESTART_DELAY)
                self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # db_worker finishes the job in hand, then exits
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()  # its job stays RUNNING until the next worker's start requeues it (ragsite/jobs/lease.py)
            proc.wait(timeout=10)
