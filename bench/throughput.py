"""Closed-loop load over HTTP: `concurrency` threads each send their next request as soon as the
last one is answered. The client runs on the same two cores as gunicorn (and as other people's
work), so endpoints are compared in alternating slices: each sees the same background load, and
the ratio between them is the number to read.
"""

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.http import Client
from bench.percentiles import summary

WARM_UP_REQUESTS = 20
SLICES = 5


@dataclass
class Load:
    path: str
    bodies: list[bytes]
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    x_cache: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def result(self, *, concurrency: int) -> dict:
        ok = self.statuses.get(200, 0)
        return {
            "concurrency": concurrency,
            "requests": sum(self.statuses.values()),
            "ok": ok,
            "statuses": {str(status): n for status, n in self.statuses.items()},
            "x_cache": dict(self.x_cache),
            "seconds": round(self.seconds, 3),
            "rps": round(ok / self.seconds, 1) if self.seconds else None,
            "latency": summary(self.latencies),
        }


def loads_compare(*, client: Client, loads: dict[str, Load], concurrency: int, requests: int) -> dict[str, dict]:
    """`requests` POSTs per load, sent in SLICES alternating slices; requests/s and latency per load."""
    for load in loads.values():
        _send(client, Load(load.path, load.bodies), concurrency=concurrency, requests=WARM_UP_REQUESTS)
    for _ in range(SLICES):
        for load in loads.values():
            _send(client, load, concurrency=concurrency, requests=requests // SLICES)
    return {name: load.result(concurrency=concurrency) for name, load in loads.items()}


def _send(client: Client, load: Load, *, concurrency: int, requests: int) -> None:
    numbers = itertools.count()
    lock = threading.Lock()

    def worker():
        while (n := next(numbers)) < requests:
            try:
                status, headers, _, wall = client.post(load.path, load.bodies[n % len(load.bodies)])
            except OSError:
                status, headers, wall = 0, {}, None
            with lock:
                load.statuses[status] += 1
                load.x_cache[headers.get("x-cache", "-")] += 1
                if status == 200:
                    load.latencies.append(wall)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds += time.perf_counter() - started
