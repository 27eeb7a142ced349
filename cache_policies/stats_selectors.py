"""Reads of the counters stats.py writes, with Redis's health beside them: for the stats page, /api/stats and /metrics.

The counts come from the durable roll-up in PostgreSQL, so all three readers see the same
numbers whatever Redis evicted or forgot; with the database down a count selector returns None.
The question ranking goes through redis_client.call: with Redis down it is None, never an error.

Hit ratio of a layer = (hit + semantic_hit + stale) / (hit + semantic_hit + stale + miss + error). Requests
that did not ask the layer (bypass, off) are not lookups and leave the ratio alone.
"""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Q

from cache_policies import keys, redis_client, stats
from cache_policies.calibration import wilson_interval
from cache_policies.models import CachePolicy, Layer, Outcome, SemanticVerdict, StatsPeriod, StatsRollup, Verdict
from cache_policies.redis_advice import RedisAdvice, redis_advice
from cache_policies.redis_health import RedisHealth, redis_health

LOOKUP_OUTCOMES = (Outcome.HIT, Outcome.SEMANTIC_HIT, Outcome.STALE, Outcome.MISS, Outcome.ERROR)
HIT_OUTCOMES = (Outcome.HIT, Outcome.SEMANTIC_HIT, Outcome.STALE)
UNIT_SECONDS = {StatsPeriod.MINUTE: 60, StatsPeriod.HOUR: 3600}


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
    redis_advice: list[RedisAdvice]
    verified: "VerifiedRate | None"


def _rollup_read(*, period: str, first: int, last: int) -> dict[int, dict[str, int]] | None:
    """{bucket: {counter: value}} for the buckets first..last of a period; None with the database down."""
    stats.flush_pending()  # this process's own recent requests first
    buckets: dict[int, dict[str, int]] = {}
    try:
        rows = StatsRollup.objects.filter(
            namespace=settings.REDIS_KEY_PREFIX, period=period, bucket__range=(first, last)
        ).values_list("bucket", "name", "value")
        for bucket, name, value in rows:
            buckets.setdefault(bucket, {})[name] = value
    except DatabaseError:
        return None
    return buckets


def stats_series(*, unit: str, count: int, now: float | None = None) -> list[SeriesPoint] | None:
    """One point per minute (or hour) for the last `count` of them, oldest first, the current one last."""
    seconds = UNIT_SECONDS[unit]
    current = int((time.time() if now is None else now) // seconds)
    numbers = range(current - count + 1, current + 1)
    buckets = _rollup_read(period=unit, first=numbers[0], last=current)
    if buckets is None:
        return None
    return [
        SeriesPoint(start=datetime.fromtimestamp(n * seconds, tz=UTC), window=StatsWindow(buckets.get(n, {})))
        for n in numbers
    ]


def _series_sum(series: list[SeriesPoint] | None) -> StatsWindow | None:
    if series is None:
        return None
    return sum((point.window for point in series), StatsWindow())


def stats_window(*, unit: str, count: int, now: float | None = None) -> StatsWindow | None:
    return _series_sum(stats_series(unit=unit, count=count, now=now))


def stats_all_time() -> StatsWindow | None:
    buckets = _rollup_read(period=StatsPeriod.TOTAL, first=0, last=0)
    return StatsWindow(buckets.get(0, {})) if buckets is not None else None


def similarity_histogram(*, totals: StatsWindow) -> list[SimilarityBucket]:
    """Semantic hits per similarity bucket, for every bucket that has any, lowest similarity first."""
    prefix = "similarity:"
    return sorted(
        SimilarityBucket(float(name.removeprefix(prefix)), count)
        for name, count in totals.fields.items() if name.startswith(prefix)
    )


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


@dataclass(frozen=True)
class VerifiedRate:
    """The wrong share of the verified semantic hits, its Wilson 95 % interval (0-1 with none verified), the
    operator's budget it is measured against, and the floor the verdicts set (services.semantic_budget_floor_update)."""

    verified: int
    wrong: int
    low: float
    high: float
    budget: float
    floor: float | None = None  # the similarity semantic hits are served above while the verdicts show the budget broken

    @property
    def verdict(self) -> str:
        if self.high <= self.budget:
            return "within the budget"
        return "over the budget" if self.low > self.budget else "not yet known to be within the budget"

    @property
    def interval(self) -> tuple[float, float]:
        return self.low, self.high

    @property
    def percent(self) -> dict[str, float]:
        rate = self.wrong / self.verified if self.verified else 0.0
        return {"rate": 100 * rate, "low": 100 * self.low, "high": 100 * self.high, "budget": 100 * self.budget}


def semantic_verified_rate() -> VerifiedRate | None:
    """Every verdict so far (qa/verification.py writes them); None with the database down."""
    try:
        counts = SemanticVerdict.objects.aggregate(verified=Count("id"), wrong=Count("id", filter=Q(verdict=Verdict.WRONG)))
        budget, floor = CachePolicy.objects.filter(layer=Layer.SEMANTIC).values_list(
            "max_wrong_rate", "budget_floor").first() or (0.0, None)
    except DatabaseError:
        return None
    low, high = wilson_interval(hits=counts["wrong"], n=counts["verified"])
    return VerifiedRate(verified=counts["verified"], wrong=counts["wrong"], low=low, high=high, budget=budget, floor=floor)


def stats_overview(*, minutes: int = 60, hours: int = 24, now: float | None = None) -> StatsOverview:
    """Everything the stats page and /api/stats show: the last `minutes`, the last `hours`, all time."""
    per_minute = stats_series(unit=StatsPeriod.MINUTE, count=minutes, now=now)
    per_hour = stats_series(unit=StatsPeriod.HOUR, count=hours, now=now)
    all_time = stats_all_time()
    health = redis_health()
    return StatsOverview(
        minutes=minutes,
        hours=hours,
        last_minutes=_series_sum(per_minute),
        last_hours=_series_sum(per_hour),
        all_time=all_time,
        per_minute=per_minute,
        per_hour=per_hour,
        similarity=similarity_histogram(totals=all_time) if all_time is not None else None,
        questions=questions_top(),
        redis=health,
        redis_advice=redis_advice(health=health),
        verified=semantic_verified_rate(),
    )
