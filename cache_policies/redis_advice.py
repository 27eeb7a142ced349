"""What a Redis configuration means for ragsite's guarantees: shown on the stats page and by `manage.py check --deploy`.

Answers never depend on Redis remembering: every entry is checked against the freshness ledger in
PostgreSQL, and the counts live there too. What Redis's configuration can still cost is speed
(hit ratio) and the sharing that rests on short-lived control keys (single-flight locks, shared
streams, policy stamps).
"""

from dataclasses import dataclass
from enum import StrEnum

from cache_policies.redis_health import RedisHealth


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"


@dataclass(frozen=True)
class RedisAdvice:
    id: str  # the system check's id
    level: Level
    message: str
    hint: str


def _unreachable(health: RedisHealth) -> RedisAdvice:
    return RedisAdvice(
        "ragsite.W110", Level.WARNING, f"Redis at {health.location} could not be checked: it did not answer.",
        "The site still answers, uncached, while Redis is down. Check again once it is up.",
    )


def _eviction(policy: str) -> RedisAdvice | None:
    if policy.startswith("allkeys-"):
        return RedisAdvice(
            "ragsite.W111", Level.WARNING,
            f"maxmemory-policy is {policy}: when memory is full Redis may evict any key, control data included "
            "(single-flight locks, shared streams, policy stamps, the question ranking).",
            "Answers stay correct (each entry is checked against the freshness ledger in PostgreSQL, and the "
            "counts are kept there), but the hit ratio and the sharing of identical questions may suffer. "
            "volatile-lru or volatile-lfu evict only keys with a TTL: give every cache policy a TTL.",
        )
    if policy == "noeviction":
        return RedisAdvice(
            "ragsite.W112", Level.WARNING,
            "maxmemory-policy is noeviction: once memory is full Redis refuses writes, so caching stops.",
            "Every question is then a miss (answers stay correct) until keys expire. Use volatile-lru.",
        )
    return None


def _memory(health: RedisHealth) -> RedisAdvice | None:
    if health.maxmemory:
        return None
    return RedisAdvice(
        "ragsite.W113", Level.WARNING, "Redis has no maxmemory: it grows until the machine runs out of memory.",
        "Set maxmemory so Redis evicts cache entries instead of being killed (which drops every entry at once).",
    )


def _persistence(health: RedisHealth) -> RedisAdvice | None:
    if not health.persistence:
        return None
    return RedisAdvice(
        "ragsite.I114", Level.INFO, "Redis saves snapshots or an append-only file: a restart reloads older entries.",
        "Harmless: an entry built before a later change is refused at read time by the freshness ledger.",
    )


def redis_advice(*, health: RedisHealth) -> list[RedisAdvice]:
    """What this Redis's configuration weakens, most serious first."""
    if not health.up:
        return [_unreachable(health)]
    found = (_eviction(health.maxmemory_policy), _memory(health), _persistence(health))
    return [advice for advice in found if advice is not None]
