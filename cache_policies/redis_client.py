"""The one place Redis failures are handled: callers get a default (a miss), never an exception.

A circuit breaker stops paying the connect timeout on every request while Redis is down:
after a failure the circuit opens for REDIS_RETRY_AFTER seconds, then one call probes it.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django_redis import get_redis_connection
from django_redis.exceptions import ConnectionInterrupted
from redis import Redis
from redis.exceptions import RedisClusterException, RedisError

logger = logging.getLogger(__name__)
T = TypeVar("T")
# Not RedisErrors: RedisClusterException (a slot no node covers) and django-redis's ConnectionInterrupted
# (the cluster client could not be built: no node answered).
FAILURES = (RedisError, RedisClusterException, ConnectionInterrupted, OSError)


class CircuitBreaker:
    def __init__(self, *, retry_after: float):
        self.retry_after = retry_after
        self.open_until = 0.0
        self.failures = 0
        self._lock = threading.Lock()
        self._recovery_hooks: list[Callable[[], None]] = []

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            self.open_until = time.monotonic() + self.retry_after

    def record_success(self) -> None:
        recovered = self.failures > 0
        with self._lock:
            self.failures = 0
            self.open_until = 0.0
        if recovered:
            for hook in self._recovery_hooks:
                hook()

    def on_recovery(self, hook: Callable[[], None]) -> None:
        self._recovery_hooks.append(hook)

    def reset(self) -> None:
        """Closed with no failures, running no recovery hook: a test's fresh start, not a recovery."""
        with self._lock:
            self.failures = 0
            self.open_until = 0.0


breaker = CircuitBreaker(retry_after=getattr(settings, "REDIS_RETRY_AFTER", 3.0))


def connection() -> Redis:
    return get_redis_connection("default")


def call(operation: Callable[[Redis], T], *, default: Any = None, even_if_open: bool = False) -> T | Any:
    """Run operation(redis); on any Redis failure (or an open circuit) return default.

    even_if_open: try even while the circuit is open. For rare writes that others depend on (an
    invalidation): on a Redis Cluster one master failing opens this process's circuit while other
    processes still reach the entries, and would serve them stale until the purge is replayed.
    """
    if breaker.is_open and not even_if_open:
        return default
    try:
        result = operation(connection())
    except FAILURES as exc:
        logger.warning("redis unavailable, serving uncached: %s", exc)
        breaker.record_failure()
        return default
    breaker.record_success()
    return result
