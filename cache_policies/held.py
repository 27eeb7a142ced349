"""Values held in-process so a cache hit waits on no database query: policies, the prompt template,
model prices. Each is re-loaded when it is older than its refresh interval, or, with a stamp, only
when a cheap stamp read (a Redis GET) shows it changed. forget_all() drops them all (tests, signals).
"""

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_NOTHING = object()
_all: list["Held"] = []


class Held(Generic[T]):
    def __init__(self, load: Callable[[], T], *, refresh: float, stamp: Callable[[], object] | None = None):
        self._load, self._refresh, self._stamp = load, refresh, stamp
        self._lock = threading.Lock()
        self._value: object = _NOTHING
        self._seen_stamp: object = None
        self._checked_at = 0.0
        _all.append(self)

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
            self._value = self._load()
            return
        # A stamp that reads None (Redis down) always reloads: the price of honouring edits meanwhile.
        stamp = self._stamp()
        if stamp is None or stamp != self._seen_stamp or self._value is _NOTHING:
            self._value = self._load()
            self._seen_stamp = stamp

    def forget(self) -> None:
        with self._lock:
            self._value = _NOTHING
            self._checked_at = 0.0


def forget_all() -> None:
    for held in _all:
        held.forget()
