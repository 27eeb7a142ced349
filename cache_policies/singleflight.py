"""Concurrent identical misses wait for one computation instead of each calling the LLM.

The first request takes a Redis lock (redis-py's Lock: SET NX PX with a token naming its
process) on a short lease that a heartbeat thread keeps renewing while the leader lives. The
others poll the entry's key:

- the entry appears: they serve it;
- the lock is gone without an entry (the leader failed, or its process was SIGKILLed and the
  lease ran out): the first follower to take the lock computes, the rest keep waiting for it,
  so a failed leader costs one more computation, not one per follower (and if that one fails
  too, the rest get AnswerPending);
- the lock timeout passes: AnswerPending (a 503 with Retry-After), never an unbounded wait and
  never a stampede on a provider that is already slow.

A follower holds a server thread while it waits, so each process lets at most
SINGLEFLIGHT_MAX_WAITERS of them wait at once; one more is told AnswerPending at once, which
keeps threads free for hits (see ragsite/gunicorn.conf.py).
With Redis down there is no lock: every request computes, which is the uncached behaviour.
"""

import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from redis.exceptions import RedisError
from redis.lock import Lock

from cache_policies import keys, redis_client

T = TypeVar("T")
# Followers poll quickly at first (most answers come from the cache's own speed) and back off to
# POLL_MAX_SECONDS, so fifty waiting threads do not keep Redis and the GIL busy for seconds.
POLL_SECONDS = 0.01
POLL_MAX_SECONDS = 0.1
MAX_COMPUTATIONS = 2  # the leader's and one takeover's
_UNREACHABLE = object()


class AnswerPending(Exception):
    """The same question is being answered elsewhere and this request may wait no longer."""

    retry_after = 1


_slots: dict[int, threading.BoundedSemaphore] = {}


def _waiters() -> threading.BoundedSemaphore:
    """This process's waiting slots (one semaphore per configured size, so a changed setting applies)."""
    size = settings.SINGLEFLIGHT_MAX_WAITERS
    return _slots.get(size) or _slots.setdefault(size, threading.BoundedSemaphore(size))


def _lock(key: str) -> Lock:
    return Lock(redis_client.connection(), keys.lock_key(key=key), timeout=settings.SINGLEFLIGHT_LEASE_SECONDS,
                thread_local=False, raise_on_release_error=False)


def _lock_take(lock: Lock, *, key: str, timeout: float) -> object:
    """True if taken (and counted), False if another holds it, _UNREACHABLE if Redis did not answer."""
    # The token names the holder's process, so an operator (or a test) can tell whose lock it is.
    token = f"{os.getpid()}:{uuid.uuid4().hex}"
    attempts = keys.lock_attempts_key(key=key)

    def take(r) -> bool:
        if not lock.acquire(blocking=False, token=token):
            return False
        pipe = r.pipeline(transaction=False)
        pipe.incr(attempts)
        pipe.expire(attempts, max(1, math.ceil(timeout)))
        pipe.execute()
        return True

    return redis_client.call(take, default=_UNREACHABLE)


def _computations(key: str) -> int:
    return int(redis_client.call(lambda r: r.get(keys.lock_attempts_key(key=key)), default=None) or 0)


def computations_forget(*, key: str) -> None:
    """A computation of key ended well: the count is of failures in a row, not of every lock take.

    Called by the leader before it releases the lock, so no follower counts it in between. Otherwise a
    question recomputed twice within the lock timeout (an edit dropped its answer twice, or its answer
    was not cacheable) looks to the third asker like a leader and a takeover that both failed.
    """
    redis_client.call(lambda r: r.delete(keys.lock_attempts_key(key=key)))


@contextmanager
def _held(lock: Lock) -> Iterator[None]:
    """Renew the lease every third of it until the block ends, then release the lock."""
    done = threading.Event()
    interval = settings.SINGLEFLIGHT_LEASE_SECONDS / 3

    def heartbeat():
        while not done.wait(interval):
            try:
                lock.reacquire()
            except (RedisError, OSError):
                return  # lost or unreachable: followers will take over, as for a dead leader

    threading.Thread(target=heartbeat, daemon=True, name="singleflight-heartbeat").start()
    try:
        yield
    finally:
        done.set()
        redis_client.call(lambda r: lock.release())


@contextmanager
def turn(*, key: str, read: Callable[[], T | None], timeout: float) -> Iterator[T | None]:
    """Yields the entry if another request computed it, else None while this request holds the lock.

    Raises AnswerPending when the entry did not come within timeout, when the leader and a
    takeover both failed, or when too many requests of this process are already waiting.
    """
    lock = _lock(key)
    taken = _lock_take(lock, key=key, timeout=timeout)
    if taken is _UNREACHABLE:
        yield None
        return
    if not taken:
        value = _follow(lock, key=key, read=read, timeout=timeout)
        if value is not None:
            yield value
            return
    with _held(lock):
        # The leader may have stored its entry and released between our last read and our take.
        yield read()
        computations_forget(key=key)  # not reached when the computation raised


def _follow(lock: Lock, *, key: str, read: Callable[[], T | None], timeout: float) -> T | None:
    """Wait for the entry (returned) or for the lock (None: this request now holds it).

    The lock is taken at most MAX_COMPUTATIONS times per lock timeout (counted in Redis, since a
    follower polling every 100 ms can miss a takeover that happened between two polls): after a
    failed leader and a failed takeover, computing again would turn a failing provider into a stampede.
    """
    slots = slot_take()
    try:
        deadline, pause = time.monotonic() + timeout, POLL_SECONDS
        while time.monotonic() < deadline:
            if (value := read()) is not None:
                return value
            held = redis_client.call(lambda r: r.exists(lock.name), default=None)
            if held is None:
                return None  # Redis went away: compute, as without a cache
            if not held:
                # The leader may have stored its entry and released between the read above and this check.
                if (value := read()) is not None:
                    return value
                if _computations(key) < MAX_COMPUTATIONS:
                    if _lock_take(lock, key=key, timeout=timeout) is not False:
                        return None
                elif not redis_client.call(lambda r: r.exists(lock.name), default=False):
                    # Counted twice and nobody holds the lock: unless the second one stored its entry just
                    # now, both failed. (A lock held again is another follower's takeover: keep waiting.)
                    if (value := read()) is not None:
                        return value
                    raise AnswerPending("The answer to this question failed twice while this request waited; retry shortly.")
            time.sleep(pause)
            pause = min(pause * 1.5, POLL_MAX_SECONDS)
    finally:
        slots.release()
    raise AnswerPending(f"The same question has been computing for more than {timeout:g} s; retry shortly.")


# --- for work that outlives its request: a shared answer stream (qa/streaming.py) ----------

@dataclass(frozen=True)
class Claim:
    """Who computes key now: this request (lock held; leader is its token), another (leader names it), nobody
    (leader None: the last leader just finished or died), or unknown (reachable False: compute alone)."""

    lock: Lock | None
    leader: str | None
    reachable: bool = True


def claim(*, key: str, timeout: float) -> Claim:
    """Take key's lock if free (counted, as turn() does); else name the request that holds it."""
    lock = _lock(key)
    taken = _lock_take(lock, key=key, timeout=timeout)
    if taken is _UNREACHABLE:
        return Claim(lock=None, leader=None, reachable=False)
    if taken:
        return Claim(lock=lock, leader=lock.local.token.decode())
    return Claim(lock=None, leader=leader_of(key=key))


def claim_after_leader(*, key: str, timeout: float, read: Callable[[], object | None]) -> Claim:
    """The leader is gone without an entry: follow another follower that took over already, else take over,
    at most MAX_COMPUTATIONS times per lock timeout. Nobody (leader None, lock None) when the entry is there
    after all: a takeover stored it and released between the caller's read and this look, as in _follow."""
    if (leader := leader_of(key=key)) is not None:
        return Claim(lock=None, leader=leader)
    if _computations(key) >= MAX_COMPUTATIONS:
        if read() is not None:
            return Claim(lock=None, leader=None)
        raise AnswerPending("The answer to this question failed twice while this request waited; retry shortly.")
    return claim(key=key, timeout=timeout)


def leader_of(*, key: str) -> str | None:
    """The token of the request holding key's lock, or None (nobody, or Redis unreachable)."""
    token = redis_client.call(lambda r: r.get(keys.lock_key(key=key)))
    return token.decode() if token else None


def leading(lock: Lock):
    """Hold the lock with its heartbeat while the block runs (the leader's computation), then release it."""
    return _held(lock)


def slot_take() -> threading.BoundedSemaphore:
    """One of this process's slots for requests that hold a thread long (waiting followers, streamed answers).

    The caller releases it. Raises AnswerPending when all are taken, so hits keep the other threads.
    """
    slots = _waiters()
    if not slots.acquire(blocking=False):
        raise AnswerPending("Too many requests are already waiting for answers on this server; retry shortly.")
    return slots


def release(lock: Lock | None) -> None:
    """Give up a claim without computing (the entry came meanwhile)."""
    if lock is not None:
        redis_client.call(lambda r: lock.release())
