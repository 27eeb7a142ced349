"""A real gunicorn for the HTTP measurements, on a free 127.0.0.1 port, stopped when done."""

import socket
import subprocess
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

from django.conf import settings

READY_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, *, workers: int, env: dict[str, str], log_path: Path):
        self.workers, self.env, self.log_path = workers, env, log_path
        self.host, self.port = "127.0.0.1", free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        binary = Path(sys.executable).with_name("gunicorn")
        command = [
            str(binary), "bench.wsgi:application", "-c", str(settings.BASE_DIR / "ragsite" / "gunicorn.conf.py"),
            "--workers", str(self.workers),
            "--bind", f"{self.host}:{self.port}", "--timeout", "120", "--log-level", "warning",
            "--no-control-socket",  # a throwaway server: it must not take var/gunicorn.ctl from `make run`'s
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                conn = HTTPConnection(self.host, self.port, timeout=2)
                conn.request("GET", "/api/bench/bare")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {READY_TIMEOUT}s; see {self.log_path}")

    def __exit__(self, *exc_info) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
