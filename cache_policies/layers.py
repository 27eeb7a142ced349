"""A cache layer as one object: get, get_or_compute and store, cache-aside, for one request.

A CacheLayer knows its policy and the request's cache mode (what it may read and write), times
itself, and records one Outcome per request: the status reported with the answer and the stats
count. Redis failures read as misses. Values go through a codec: embeddings as raw float32 bytes,
retrievals and responses as JSON; nothing pickled. An entry is written only after its dependency
tags (entry_set says why that order, not a MULTI, is what keeps it findable on a Redis Cluster).
"""

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from cache_policies import redis_client
from cache_policies.models import Layer, Outcome
from cache_policies.policies import Policy
from cache_policies.roundtrip import Command
from cache_policies.stats import StatsRecorder

MODES = ("default", "no-cache", "no-store")


@dataclass(frozen=True)
class Access:
    """What a request may do with a layer, from its policy and the request's cache mode."""

    read: bool
    write: bool

    @classmethod
    def of(cls, *, policy: Policy, mode: str) -> "Access":
        if not policy.enabled or mode == "no-store":
            return cls(read=False, write=False)
        return cls(read=mode == "default", write=True)


# --- codecs -------------------------------------------------------------------

class Codec(Protocol):
    def encode(self, value: Any) -> bytes: ...

    def decode(self, raw: bytes) -> Any | None:
        """The value, or None for bytes this codec did not write (read as a miss)."""


@dataclass(frozen=True)
class VectorCodec:
    dimensions: int

    def encode(self, value: np.ndarray) -> bytes:
        return np.asarray(value, dtype=np.float32).tobytes()

    def decode(self, raw: bytes) -> np.ndarray | None:
        return np.frombuffer(raw, dtype=np.float32) if len(raw) == self.dimensions * 4 else None


class JsonCodec:
    def encode(self, value: dict) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    def decode(self, raw: bytes) -> dict | None:
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


# --- raw entries ----------------------------------------------------------------

def entry_get(*, key: str, even_if_open: bool = False) -> bytes | None:
    return redis_client.call(lambda r: r.get(key), even_if_open=even_if_open)


def entry_set(*, key: str, data: bytes, ttl: int | None, tag_keys: Iterable[str]) -> bool:
    """Store data under key after adding key to every dependency tag set: no entry without its tags.

    The tags and the entry may sit in different hash slots (on different masters in a cluster), so
    no MULTI or script can write them together. Order does it instead: the entry is written only
    once every tag write was acknowledged. A failure or a crash in between leaves tag members
    pointing at nothing, which an invalidation deletes harmlessly; it never leaves an entry that
    an invalidation cannot find. An invalidation committed between the two writes is caught when the
    entry is read: its stamp predates the change's mark (cache_policies/freshness.py).
    """
    tags = list(tag_keys)

    def write(r):
        if tags:
            tags_add(r, tags=tags, member=key, ttl=ttl)
        return bool(r.set(key, data, ex=ttl))

    return bool(redis_client.call(write, default=False))


def tags_add(r, *, tags: list[str], member: str, ttl: int | None) -> None:
    """Add member to every tag set, each set kept at least as long as the entries it points at."""
    # Not a transaction: each set is one key of its own slot, and the pipeline is only a batch.
    pipe = r.pipeline(transaction=False)
    for tag in tags:
        pipe.sadd(tag, member)
        if ttl:
            # A tag set must outlive the entries it points at; stale members are harmless.
            pipe.expire(tag, ttl + 3600, gt=True)
            pipe.expire(tag, ttl + 3600, nx=True)
        else:
            pipe.persist(tag)
    pipe.execute()


def entries_delete(*, keys_to_delete: list[str]) -> int:
    if not keys_to_delete:
        return 0
    return int(redis_client.call(lambda r: r.unlink(*keys_to_delete), default=0))


# --- one request's layers -------------------------------------------------------

@dataclass
class Report:
    """What a request's layers did: the status each reports with the answer, and the stats counts."""

    mode: str
    stats: StatsRecorder = field(default_factory=StatsRecorder)
    status: dict[Layer, Outcome] = field(default_factory=dict)

    def record(self, layer: Layer, outcome: Outcome, seconds: float = 0.0, *, reported: bool = True) -> None:
        self.stats.layer(layer, outcome, seconds)
        if reported:
            # A bypassed layer reads as a miss when the request asked to recompute, else as unused.
            bypass = Outcome.MISS if self.mode == "no-cache" else Outcome.OFF
            self.status[layer] = bypass if outcome == Outcome.BYPASS else outcome

    def status_of(self, layer: Layer) -> Outcome:
        return self.status.get(layer, Outcome.OFF)


class CacheLayer:
    def __init__(self, *, layer: Layer, policy: Policy, report: Report, codec: Codec, reported: bool = True,
                 current: Callable[[Any], bool] = lambda value: True,
                 outcome_of: Callable[[Any], Outcome] = lambda value: Outcome.HIT):
        """current: whether a stored value may still be served (freshness.py); a refused one is a miss.
        outcome_of: what serving a stored value counts as (a hit, or a stale hit past its TTL)."""
        self.layer, self.policy, self.report, self.codec = layer, policy, report, codec
        self.current, self.outcome_of = current, outcome_of
        self.access = Access.of(policy=policy, mode=report.mode)
        self.reported = reported  # the semantic layer counts in the stats but reports through the response's status
        self._fetched: dict[str, tuple[bytes | None, float]] = {}  # replies of the first round trip

    def record(self, outcome: Outcome, seconds: float = 0.0) -> None:
        self.report.record(self.layer, outcome, seconds, reported=self.reported)

    def recorded(self) -> bool:
        return self.layer in self.report.status

    def peek(self, key: str) -> Any | None:
        """The stored value, whatever the access, recording nothing (single-flight followers, aliases)."""
        return self._decoded(entry_get(key=key))

    def _decoded(self, raw: bytes | None) -> Any | None:
        value = None if raw is None else self.codec.decode(raw)
        return value if value is not None and self.current(value) else None

    def get_command(self, key: str) -> Command:
        """The GET of key as part of the request's first round trip (roundtrip.py); get(key) reads its reply."""
        sent = []

        def take(raw) -> None:
            self._fetched[key] = (raw, time.perf_counter() - sent[0] if sent else 0.0)  # not sent: Redis was down

        return Command(queue=lambda pipe: (sent.append(time.perf_counter()), pipe.get(key)), take=take)

    def get(self, key: str, *, even_if_open: bool = False) -> Any | None:
        """The stored value if this request may read it; a hit is recorded, a miss is left to the caller.

        even_if_open: ask Redis even while this process's circuit is open (the last resort when the
        database is down too), instead of taking the first round trip's reply.
        """
        if not self.access.read:
            return None
        start = time.perf_counter()
        if key in self._fetched and not even_if_open:
            raw, seconds = self._fetched.pop(key)
        else:
            raw, seconds = entry_get(key=key, even_if_open=even_if_open), None
        value = self._decoded(raw)
        if value is not None:
            self.record(self.outcome_of(value), (time.perf_counter() - start) + (seconds or 0.0))
        return value

    def store(self, key: str, value: Any, *, tags: Iterable[str] = ()) -> bool:
        if not self.access.write:
            return False
        return entry_set(key=key, data=self.codec.encode(value), ttl=self.policy.kept_for, tag_keys=tags)

    def skipped(self) -> Outcome:
        """The outcome of a request that computed without reading: off by policy, or bypassed by its mode."""
        if self.access.read:
            return Outcome.MISS
        return Outcome.BYPASS if self.policy.enabled else Outcome.OFF

    def get_or_compute(
        self, key: str, compute: Callable[[], Any], *, load: Callable[[Any], Any] = lambda v: v,
        dump: Callable[[Any], Any] = lambda v: v, tags: Callable[[Any], Iterable[str]] = lambda v: (),
    ) -> Any:
        """Cache-aside: the stored value (through load; None from load is a miss), else compute() stored.

        dump turns a computed value into what is stored (None: store nothing), tags names the dependency
        sets the entry joins. Empty values are not stored.
        """
        start = time.perf_counter()
        if self.access.read and (stored := self.peek(key)) is not None and (value := load(stored)) is not None:
            self.record(Outcome.HIT, time.perf_counter() - start)
            return value
        value = compute()
        if value is not None and len(value) and (stored := dump(value)) is not None:
            self.store(key, stored, tags=tags(value))
        self.record(self.skipped(), time.perf_counter() - start)
        return value


# --- inspection (explain): reads only, nothing touched ---------------------------

@dataclass(frozen=True)
class EntryState:
    present: bool
    ttl_seconds: int | None  # None: no expiry (or absent)
    tagged: dict[str, bool]  # tag key -> whether the entry is in that dependency set


def entry_inspect(*, key: str, tag_keys: list[str]) -> EntryState | None:
    """Whether key exists, its TTL left and its tag memberships, in one round trip; None if Redis is down."""

    def read(r):
        pipe = r.pipeline(transaction=False)
        pipe.pttl(key)
        for tag in tag_keys:
            pipe.sismember(tag, key)
        pttl, *members = pipe.execute()
        return EntryState(present=pttl != -2, ttl_seconds=round(pttl / 1000) if pttl >= 0 else None,
                          tagged={tag: bool(m) for tag, m in zip(tag_keys, members)})

    return redis_client.call(read)
