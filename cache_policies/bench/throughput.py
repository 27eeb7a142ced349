"""Closed-loop load over HTTP: `concurrency` threads each send their next request as soon as the
last one is answered, until `requests` have been sent. The client runs on the same two cores as
gunicorn, so both endpoints pay for it alike; the ratio between them is the number to read.
"""

import itertools
import threading
import time
from collections import Counter

from cache_policies.bench.http import Client
from cache_policies.bench.percentiles import summary

WARM_UP_REQUESTS = 20


def load_run(*, client: Client, path: str, bodies: list[bytes], concurrency: int, requests: int) -> dict:
    """Requests per second and latency of `requests` POSTs to path, cycling through bodies."""
    _send(client=client, path=path, bodies=bodies, concurrency=concurrency, requests=WARM_UP_REQUESTS)
    started = time.perf_counter()
    latencies, statuses, x_cache = _send(client=client, path=path, bodies=bodies, concurrency=concurrency, requests=requests)
    elapsed = time.perf_counter() - started
    ok = statuses.get(200, 0)
    return {
        "concurrency": concurrency,
        "requests": requests,
        "ok": ok,
        "statuses": {str(status): n for status, n in statuses.items()},
        "x_cache": dict(x_cache),
        "seconds": round(elapsed, 3),
        "rps": round(ok / elapsed, 1),
        "latency": summary(latencies),
    }


def _send(*, client: Client, path: str, bodies: list[bytes], concurrency: int, requests: int):
    numbers = itertools.count()
    latencies: list[float] = []
    statuses: Counter = Counter()
    x_cache: Counter = Counter()
    lock = threading.Lock()

    def worker():
        while (n := next(numbers)) < requests:
            try:
                status, headers, _, wall = client.post(path, bodies[n % len(bodies)])
            except OSError:
                status, headers, wall = 0, {}, None
            with lock:
                statuses[status] += 1
                x_cache[headers.get("x-cache", "-")] += 1
                if status == 200:
                    latencies.append(wall)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, statuses, x_cache
