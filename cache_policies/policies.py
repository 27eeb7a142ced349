"""Policies held in-process behind a version stamp kept in Redis.

Every worker re-reads the stamp at most every STAMP_CHECK_SECONDS; an admin edit
increments it, so the edit reaches every worker within a second without a restart.
"""

from dataclasses import dataclass

from django.db import transaction

from cache_policies import freshness, keys, redis_client
from cache_policies.held import UNREACHABLE, Held
from cache_policies.models import CachePolicy, Layer, Scope

STAMP_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class Policy:
    layer: str
    enabled: bool
    ttl_seconds: int
    scope: str
    namespace_version: int
    similarity_threshold: float
    guard_min_overlap: float
    guard_contrast: bool
    guard_min_evidence: float
    lock_timeout_seconds: float
    stale_seconds: int = 0
    guard_min_alignment: float = 0.0
    guard_alignment_below: float = 0.0  # no question is off-topic unless the policy says so
    guard_off_topic_similarity: float = 0.0
    verify_share: float = 0.0
    max_wrong_rate: float = 1.0
    budget_floor: float | None = None

    @property
    def ttl(self) -> int | None:
        return self.ttl_seconds or None

    @property
    def kept_for(self) -> int | None:
        """How long Redis keeps an entry: its TTL, plus the grace in which it is served stale."""
        return self.ttl_seconds + self.stale_seconds if self.ttl_seconds else None


_DISABLED = {
    layer: Policy(
        layer=layer, enabled=False, ttl_seconds=0, scope=Scope.SHARED, namespace_version=1, similarity_threshold=1.0,
        guard_min_overlap=1.0, guard_contrast=True, guard_min_evidence=1.0, lock_timeout_seconds=30.0,
        guard_min_alignment=1.0,
    )
    for layer in Layer.values
}


def _load() -> dict[str, Policy]:
    loaded = {
        p.layer: Policy(
            layer=p.layer, enabled=p.enabled, ttl_seconds=p.ttl_seconds, scope=p.scope,
            namespace_version=p.namespace_version, similarity_threshold=p.similarity_threshold,
            guard_min_overlap=p.guard_min_overlap, guard_contrast=p.guard_contrast,
            guard_min_evidence=p.guard_min_evidence, guard_min_alignment=p.guard_min_alignment,
            guard_alignment_below=p.guard_alignment_below, guard_off_topic_similarity=p.guard_off_topic_similarity,
            lock_timeout_seconds=p.lock_timeout_seconds, stale_seconds=p.stale_seconds, verify_share=p.verify_share,
            max_wrong_rate=p.max_wrong_rate, budget_floor=p.budget_floor,
        )
        for p in CachePolicy.objects.all()
    }
    return {**_DISABLED, **loaded}


_held = Held(
    _load, refresh=STAMP_CHECK_SECONDS,
    stamp=lambda: redis_client.call(lambda r: r.get(keys.policy_stamp_key()), default=UNREACHABLE),
)


# The Redis stamp tells workers within a second; the ledger makes sure even if Redis lost the stamp.
freshness.ledger.on_mark(freshness.POLICIES, _held.forget)


def policy_for(layer: str) -> Policy:
    return _held.get()[layer]


def all_policies() -> dict[str, Policy]:
    return dict(_held.get())


def policies_held() -> bool:
    """Whether this process knows the policies (so it can serve hits without the database)."""
    return _held.is_held


def policies_changed() -> None:
    """Tell every worker to re-read the policies (after the transaction commits)."""
    freshness.subjects_mark(subjects=[freshness.POLICIES])

    def bump():
        _held.forget()
        redis_client.call(lambda r: r.incr(keys.policy_stamp_key()))

    transaction.on_commit(bump)


def policy_namespace_bump(*, layer: str) -> int:
    """Drop a whole layer at once: its keys all carry the namespace version."""
    from django.db.models import F

    CachePolicy.objects.filter(layer=layer).update(namespace_version=F("namespace_version") + 1)
    policies_changed()
    return CachePolicy.objects.get(layer=layer).namespace_version
