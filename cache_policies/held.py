"""Values held in-process so a cache hit waits on no database query: policies, the prompt template,
model prices. Each is re-loaded when it is older than its refresh interval, or, with a stamp, only
when a cheap stamp read (a Redis GET) shows it changed. forget_all() drops them all (tests, signals).

While PostgreSQL is unreachable a re-load fails: the last known value keeps serving (a cached answer
still needs its policies), and the database is not tried again for DB_RETRY_AFTER seconds, so a
partitioned database (a connect timeout, not a refusal) costs one request a wait, not every request.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError

from cache_policies.redis_client import CircuitBreaker

logger = logging.getLogger(__name__)
T = TypeVar("T")
_NOTHING = object()
# What a stamp function returns when Redis did not answer (an absent stamp is None, a value like any other).
UNREACHABLE = object()
_all: list["Held"] = []
_forget_hooks: list[Callable[[], None]] = []
database = CircuitBreaker(retry_after=settings.DB_RETRY_AFTER)


class Held(Generic[T]):
    def __init__(self, load: Callable[[], T], *, refresh: float, stamp: Callable[[], object] | None = None,
                 default: object = _NOTHING):
        """default: served when the database is down before anything was loaded (else the error is raised)."""
        self._load, self._refresh, self._stamp, self._default = load, refresh, stamp, default
        self._lock = threading.Lock()
        self._value: object = _NOTHING
        self._seen_stamp: object = _NOTHING
        self._checked_at = 0.0
        _all.append(self)

    @property
    def is_held(self) -> bool:
        return self._value is not _NOTHING

    def get(self) -> T:
        now = time.monotonic()
        if self._value is not _NOTHING and now - self._checked_at < self._refresh:
            return self._value
        with self._lock:
            if self._value is _NOTHING or now - self._checked_at >= self._refresh:
                self._reload_if_stale()
                self._checked_at = now
        return self._value

    def _reload_if_stale(self) -> None:
        if self._stamp is None:
            self._value = self._load_or_keep()
            return
        # A stamp Redis could not give always reloads: the price of honouring edits meanwhile.
        stamp = self._stamp()
        if stamp is UNREACHABLE or stamp != self._seen_stamp or self._value is _NOTHING:
            self._value = self._load_or_keep()
            self._seen_stamp = stamp

    def _load_or_keep(self) -> object:
        kept = self._value if self._value is not _NOTHING else self._default
        if kept is not _NOTHING and database.is_open:
            return kept
        try:
            value = self._load()
        except (DatabaseError, InterfaceError) as exc:
            database.record_failure()
            if kept is _NOTHING:
                raise
            logger.warning("database unavailable, serving last known values: %s", exc)
            return kept
        database.record_success()
        return value

    def forget(self) -> None:
        with self._lock:
            self._value = _NOTHING
            self._seen_stamp = _NOTHING
            self._checked_at = 0.0


def forget_all() -> None:
    for held in _all:
        held.forget()
    for hook in _forget_hooks:
        hook()


def on_forget_all(hook: Callable[[], None]) -> None:
    """Another in-process value to drop with the held ones (the change ledger's marks)."""
    _forget_hooks.append(hook)
