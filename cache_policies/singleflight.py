"""Concurrent identical misses wait for the first computation instead of each calling the LLM.

The first request takes a Redis lock (SET NX PX with a token); the others poll the entry's
key until it appears, the lock is released without a value (the leader failed: one of them
takes over), or the lock timeout passes (they compute themselves rather than hang).
With Redis down there is no lock: every request computes, which is the uncached behaviour.
"""

import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from typing import TypeVar

from cache_policies import keys, redis_client

T = TypeVar("T")
POLL_SECONDS = 0.02

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


@contextmanager
def leadership(*, key: str, timeout: float):
    """Yields True if this request holds the lock for key (or Redis is down), else False."""
    lock = keys.lock_key(key=key)
    token = uuid.uuid4().hex
    unreachable = object()
    # SET NX answers nil when another request holds the lock; the sentinel means no answer at all.
    acquired = redis_client.call(lambda r: bool(r.set(lock, token, nx=True, px=int(timeout * 1000))), default=unreachable)
    try:
        yield acquired is True or acquired is unreachable
    finally:
        if acquired is True:
            redis_client.call(lambda r: r.eval(_RELEASE, 1, lock, token))


def wait_for(*, key: str, read: Callable[[], T | None], timeout: float) -> T | None:
    """Poll read() until it returns a value, the lock goes away, or timeout passes."""
    lock = keys.lock_key(key=key)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value is not None:
            return value
        if not redis_client.call(lambda r: r.exists(lock), default=0):
            return read()
        time.sleep(POLL_SECONDS)
    return None
