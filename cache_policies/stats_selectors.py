"""Reads of the counters stats.py writes, and of Redis's own INFO: for the stats page, /api/stats and /metrics.

Every read goes through redis_client.call, so with Redis down a selector returns None and the
callers say "Redis is down" instead of erroring.

Hit ratio of a layer = (hit + semantic_hit) / (hit + semantic_hit + miss + error). Requests that
did not ask the layer (bypass, off) are not lookups and leave the ratio alone.
"""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings

from cache_policies import keys, redis_client, stats
from cache_policies.models import Layer, Outcome

LOOKUP_OUTCOMES = (Outcome.HIT, Outcome.SEMANTIC_HIT, Outcome.MISS, Outcome.ERROR)
HIT_OUTCOMES = (Outcome.HIT, Outcome.SEMANTIC_HIT)
UNITS = {
    "minute": (60, lambda n: keys.stats_minute_key(epoch_minute=n)),
    "hour": (3600, lambda n: keys.stats_hour_key(epoch_hour=n)),
}


@dataclass(frozen=True)
class LayerStats:
    layer: str
    counts: dict[str, int]
    latency_us: dict[str, int]

    @property
    def lookups(self) -> int:
        return sum(self.counts[o] for o in LOOKUP_OUTCOMES)

    @property
    def hits(self) -> int:
        return sum(self.counts[o] for o in HIT_OUTCOMES)

    @property
    def hit_ratio(self) -> float | None:
        return self.hits / self.lookups if self.lookups else None

    @property
    def mean_latency_ms(self) -> dict[str, float]:
        return {o: self.latency_us[o] / self.counts[o] / 1000 for o in stats.OUTCOMES if self.counts[o]}


@dataclass(frozen=True)
class StatsWindow:
    """Summed counters of one or more buckets (or of the running total)."""

    fields: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: "StatsWindow") -> "StatsWindow":
        names = self.fields.keys() | other.fields.keys()
        return StatsWindow({n: self.fields.get(n, 0) + other.fields.get(n, 0) for n in names})

    def layer(self, layer: str) -> LayerStats:
        return LayerStats(
            layer=layer,
            counts={o: self.fields.get(f"{layer}:{o}", 0) for o in stats.OUTCOMES},
            latency_us={o: self.fields.get(f"{layer}:{o}:us", 0) for o in stats.OUTCOMES},
        )

    @property
    def layers(self) -> dict[str, LayerStats]:
        return {layer: self.layer(layer) for layer in Layer.values}

    @property
    def hit_ratios(self) -> dict[str, float | None]:
        return {layer: s.hit_ratio for layer, s in self.layers.items()}

    @property
    def lookups(self) -> dict[str, int]:
        return {layer: s.lookups for layer, s in self.layers.items()}

    def latency_buckets(self, layer: str, outcome: str) -> list[tuple[str, int]]:
        """Cumulative (upper bound, events) pairs, Prometheus style, ending with +Inf = the event count."""
        cumulative, running = [], 0
        for bound in stats.LATENCY_BUCKETS:
            running += self.fields.get(f"{layer}:{outcome}:le:{bound:g}", 0)
            cumulative.append((f"{bound:g}", running))
        return cumulative + [("+Inf", self.fields.get(f"{layer}:{outcome}", 0))]

    requests = property(lambda self: self.fields.get("requests", 0))
    errors = property(lambda self: self.fields.get("errors", 0))
    saved_ms = property(lambda self: self.fields.get("saved:ms", 0))
    saved_seconds = property(lambda self: self.saved_ms / 1000)
    saved_tokens = property(lambda self: self.fields.get("saved:tokens", 0))
    saved_usd = property(lambda self: self.fields.get("saved:usd_micro", 0) / 1_000_000)


class SimilarityBucket(NamedTuple):
    bucket: float  # lower bound, in steps of stats.SIMILARITY_BUCKET
    count: int


class AskedQuestion(NamedTuple):
    question: str
    count: int
    digest: str = ""  # the sha256 it was counted under

    @property
    def complete(self) -> bool:
        """Whether question is the whole text counted (a long one is kept cut short)."""
        return keys.text_hash(self.question) == self.digest


@dataclass(frozen=True)
class SeriesPoint:
    start: datetime
    window: StatsWindow


@dataclass(frozen=True)
class RedisHealth:
    up: bool
    embedded: bool
    location: str
    server: str = ""
    version: str = ""
    used_memory: int = 0
    maxmemory: int = 0
    maxmemory_policy: str = ""
    evicted_keys: int = 0
    expired_keys: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0

    @property
    def memory_ratio(self) -> float | None:
        return self.used_memory / self.maxmemory if self.maxmemory else None

    @property
    def keyspace_hit_ratio(self) -> float | None:
        lookups = self.keyspace_hits + self.keyspace_misses
        return self.keyspace_hits / lookups if lookups else None


@dataclass(frozen=True)
class StatsOverview:
    minutes: int
    hours: int
    last_minutes: StatsWindow | None
    last_hours: StatsWindow | None
    all_time: StatsWindow | None
    per_minute: list[SeriesPoint] | None
    per_hour: list[SeriesPoint] | None
    similarity: list[SimilarityBucket] | None
    questions: list[AskedQuestion] | None
    redis: RedisHealth


def _ints(raw: dict[bytes, bytes]) -> dict[str, int]:
    return {name.decode(): int(value) for name, value in raw.items()}


def _hashes_read(hash_keys: list[str]) -> list[dict[str, int]] | None:
    stats.flush_pending()  # this process's own recent requests first
    def read(r):
        pipe = r.pipeline(transaction=False)
        for key in hash_keys:
            pipe.hgetall(key)
        return [_ints(raw) for raw in pipe.execute()]

    return redis_client.call(read)


def stats_series(*, unit: str, count: int, now: float | None = None) -> list[SeriesPoint] | None:
    """One point per minute (or hour) for the last `count` of them, oldest first, the current one last."""
    seconds, key_for = UNITS[unit]
    current = int((time.time() if now is None else now) // seconds)
    numbers = range(current - count + 1, current + 1)
    hashes = _hashes_read([key_for(n) for n in numbers])
    if hashes is None:
        return None
    return [
        SeriesPoint(start=datetime.fromtimestamp(n * seconds, tz=UTC), window=StatsWindow(fields))
        for n, fields in zip(numbers, hashes)
    ]


def _series_sum(series: list[SeriesPoint] | None) -> StatsWindow | None:
    if series is None:
        return None
    return sum((point.window for point in series), StatsWindow())


def stats_window(*, unit: str, count: int, now: float | None = None) -> StatsWindow | None:
    return _series_sum(stats_series(unit=unit, count=count, now=now))


def stats_all_time() -> StatsWindow | None:
    hashes = _hashes_read([keys.stats_total_key()])
    return StatsWindow(hashes[0]) if hashes is not None else None


def similarity_histogram() -> list[SimilarityBucket] | None:
    """Semantic hits per similarity bucket, for every bucket that has any, lowest similarity first."""
    stats.flush_pending()  # this process's own recent requests first
    raw = redis_client.call(lambda r: r.hgetall(keys.stats_similarity_key()))
    if raw is None:
        return None
    return sorted(SimilarityBucket(float(bucket), count) for bucket, count in _ints(raw).items())


def questions_top(*, limit: int = 10) -> list[AskedQuestion] | None:
    """The most asked questions (normalized text) with how often they were asked."""
    stats.flush_pending()  # this process's own recent requests first

    def read(r):
        ranked = r.zrevrange(keys.stats_questions_rank_key(), 0, limit - 1, withscores=True)
        if not ranked:
            return []
        texts = r.hmget(keys.stats_questions_text_key(), [digest for digest, _ in ranked])
        return [AskedQuestion((text or b"?").decode(), int(score), digest.decode())
                for text, (digest, score) in zip(texts, ranked)]

    return redis_client.call(read)


def question_texts(*, digests: list[str]) -> dict[str, str]:
    """The counted text of each question sha256 that has its whole text kept ({} with Redis down)."""
    stats.flush_pending()  # this process's own recent requests first
    raw = redis_client.call(lambda r: r.hmget(keys.stats_questions_text_key(), digests)) or []
    texts = {digest: text.decode() for digest, text in zip(digests, raw) if text}
    return {digest: text for digest, text in texts.items() if keys.text_hash(text) == digest}


def _location() -> str:
    """Where Redis is, without any password the URL carries."""
    parts = urlsplit(settings.REDIS_URL)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def redis_health() -> RedisHealth:
    info = redis_client.call(lambda r: r.info())
    where = {"embedded": settings.EMBEDDED_REDIS, "location": _location()}
    if info is None:
        return RedisHealth(up=False, **where)
    return RedisHealth(
        up=True,
        **where,
        server="valkey" if "valkey_version" in info else "redis",
        version=str(info.get("valkey_version") or info.get("redis_version", "")),
        used_memory=int(info.get("used_memory", 0)),
        maxmemory=int(info.get("maxmemory", 0)),
        maxmemory_policy=str(info.get("maxmemory_policy", "")),
        evicted_keys=int(info.get("evicted_keys", 0)),
        expired_keys=int(info.get("expired_keys", 0)),
        keyspace_hits=int(info.get("keyspace_hits", 0)),
        keyspace_misses=int(info.get("keyspace_misses", 0)),
    )


def stats_overview(*, minutes: int = 60, hours: int = 24, now: float | None = None) -> StatsOverview:
    """Everything the stats page and /api/stats show: the last `minutes`, the last `hours`, all time."""
    per_minute = stats_series(unit="minute", count=minutes, now=now)
    per_hour = stats_series(unit="hour", count=hours, now=now)
    return StatsOverview(
        minutes=minutes,
        hours=hours,
        last_minutes=_series_sum(per_minute),
        last_hours=_series_sum(per_hour),
        all_time=stats_all_time(),
        per_minute=per_minute,
        per_hour=per_hour,
        similarity=similarity_histogram(),
        questions=questions_top(),
        redis=redis_health(),
    )
