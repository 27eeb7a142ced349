"""The bench's own corner of Redis and of the semantic index, apart from the developer's cache.

Every key the bench writes starts with PREFIX (the pipeline's keys and question ranking, DRF's
throttle counters, the naive-scan vectors) and its semantic index rows and stats rows carry PREFIX
in their namespace, so bench_purge() removes exactly what the bench created. Never
cache_policies.services' purges here: they bump the shared namespace versions and empty the whole
semantic index, which would drop the developer's cache.
"""

import copy
import os
from contextlib import contextmanager

from django.conf import settings
from django.test import override_settings

from cache_policies import held, redis_client
from cache_policies.models import CachedQuestion, StatsRollup

PREFIX = "rag-bench"
SETTINGS_MODULE = "bench.server_settings"


@contextmanager
def bench_settings():
    """Point this process's cache layers, stats and throttles at PREFIX for the duration."""
    if settings.REDIS_KEY_PREFIX == PREFIX:
        raise RuntimeError(f"REDIS_KEY_PREFIX is already {PREFIX!r}: the bench could not tell its keys from yours")
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = PREFIX
    # MODEL_CHANGED_FIRES off: switching profiles must not drop the developer's cache.
    with override_settings(REDIS_KEY_PREFIX=PREFIX, CACHES=caches, MODEL_CHANGED_FIRES=False):
        held.forget_all()
        try:
            yield
        finally:
            held.forget_all()
    held.forget_all()


def keys_delete(*, pattern: str) -> int:
    conn = redis_client.connection()
    deleted, batch = 0, []
    for key in conn.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) == 1000:
            deleted += conn.unlink(*batch)
            batch = []
    return deleted + (conn.unlink(*batch) if batch else 0)


def bench_purge() -> int:
    """Drop every Redis key, semantic index row and stats row the bench created; returns how many."""
    rows, _ = CachedQuestion.objects.filter(namespace__startswith=f"{PREFIX}:").delete()
    counts, _ = StatsRollup.objects.filter(namespace=PREFIX).delete()
    return keys_delete(pattern=f"{PREFIX}:*") + rows + counts


def server_environment(**overrides: str) -> dict[str, str]:
    """The environment a bench gunicorn runs with: this one, plus the bench's prefix and URLs."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "REDIS_KEY_PREFIX": PREFIX,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # The throttle still counts every request (its INCR is part of the measured path); the
        # rate is only raised so the load generator, one client address, is not refused.
        "THROTTLE_ASK_ANON": "1000000000/minute",
        "GUNICORN_ACCESS_LOG": "0",
        "JOBS_WORKER": "0",  # the bench writes no document through its servers; its ingest phase runs its own worker
        **overrides,
    }
