"""The HTTP client side: POST /api/ask as a browser or script would, reading X-Cache and Server-Timing.

The bench gunicorn raises the anonymous rate (THROTTLE_ASK_ANON) so its single client address is not
refused; the throttle still counts every request in Redis.
"""

import json
import threading
import time
from http.client import HTTPConnection

from cache_policies.models import Outcome

ASK_PATH = "/api/ask"
BARE_PATH = "/api/bench/bare"
X_CACHE = {"HIT": Outcome.HIT, "SEMANTIC-HIT": Outcome.SEMANTIC_HIT, "MISS": Outcome.MISS}



def server_timing(header: str) -> dict[str, float]:
    """'embed;dur=1.20, total;dur=3.40' → {"embed": 1.2, "total": 3.4}"""
    timings = {}
    for metric in filter(None, (part.strip() for part in header.split(","))):
        name, _, params = metric.partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                timings[name.strip()] = float(value)
    return timings


class Client:
    """One connection's worth of requests to the bench gunicorn (it closes each connection: sync workers)."""

    _local = threading.local()

    def __init__(self, *, host: str, port: int, timeout: float = 60.0):
        self.host, self.port, self.timeout = host, port, timeout

    def _connection(self) -> HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or (conn.host, conn.port) != (self.host, self.port):
            conn = self._local.conn = HTTPConnection(self.host, self.port, timeout=self.timeout)
        return conn

    def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes, float]:
        """(status, headers, body, wall ms)"""
        conn = self._connection()
        headers = {"Content-Type": "application/json"}
        start = time.perf_counter()
        try:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            data = response.read()
        except OSError:
            conn.close()
            raise
        wall = (time.perf_counter() - start) * 1000
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data, wall

    def ask(self, question: str, *, cache: str = "default") -> tuple[str, dict]:
        """(outcome, timings) as latency_rounds wants them; raises on anything but 200."""
        status, headers, data, wall = self.post(ASK_PATH, ask_body(question, cache=cache))
        if status != 200:
            raise RuntimeError(f"POST {ASK_PATH} → {status}: {data[:200]!r}")
        outcome = X_CACHE.get(headers.get("x-cache", ""), "unknown")
        return outcome, {**server_timing(headers.get("server-timing", "")), "wall": wall}


def ask_body(question: str, *, cache: str = "default") -> bytes:
    return json.dumps({"question": question, "cache": cache}).encode()
