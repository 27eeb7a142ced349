"""Prometheus exposition of the cache counters and of Redis's health.

The collector reads the running totals from the durable roll-up in PostgreSQL at scrape time, so
every gunicorn worker serves the same numbers as the stats page and /api/stats, and they only ever
go up, whatever Redis evicts or forgets: no per-process registry, no multiprocess directory. Per-process
collectors (CPU, GC) are left out for the same reason: a scrape reaches one worker at random.
"""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from cache_policies import stats
from cache_policies.models import Layer
from cache_policies.redis_health import RedisHealth, redis_health
from cache_policies.stats_selectors import StatsWindow, stats_all_time


def _cache_metrics(totals: StatsWindow) -> Iterator[Metric]:
    events = CounterMetricFamily(
        "ragsite_cache_events", "Cache layer events per outcome (bypass, off: the layer was not asked).",
        labels=["layer", "outcome"],
    )
    latency = HistogramMetricFamily(
        "ragsite_cache_latency_seconds", "Time spent in a cache layer, per outcome.", labels=["layer", "outcome"]
    )
    for layer in Layer.values:
        layer_stats = totals.layer(layer)
        for outcome in stats.OUTCOMES:
            events.add_metric([layer, outcome], layer_stats.counts[outcome])
            if layer_stats.counts[outcome]:
                latency.add_metric(
                    [layer, outcome], buckets=totals.latency_buckets(layer, outcome),
                    sum_value=layer_stats.latency_us[outcome] / 1_000_000,
                )
    yield events
    yield latency
    yield CounterMetricFamily("ragsite_requests", "Questions answered.", value=totals.requests)
    yield CounterMetricFamily("ragsite_request_errors", "Questions that failed.", value=totals.errors)
    yield CounterMetricFamily(
        "ragsite_cache_saved_seconds", "Time saved by cached answers.", value=totals.saved_ms / 1000
    )
    yield CounterMetricFamily("ragsite_cache_saved_tokens", "LLM tokens saved by cached answers.", value=totals.saved_tokens)
    yield CounterMetricFamily("ragsite_cache_saved_usd", "Money saved by cached answers, in USD.", value=totals.saved_usd)


def _redis_metrics(health: RedisHealth) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "ragsite_redis_info", "Which Redis serves the cache.", labels=["server", "version", "maxmemory_policy", "embedded"]
    )
    info.add_metric([health.server, health.version, health.maxmemory_policy, str(health.embedded).lower()], 1)
    yield info
    yield GaugeMetricFamily("ragsite_redis_used_memory_bytes", "Memory Redis uses.", value=health.used_memory)
    yield GaugeMetricFamily("ragsite_redis_maxmemory_bytes", "Redis maxmemory (0: no limit).", value=health.maxmemory)
    yield CounterMetricFamily("ragsite_redis_evicted_keys", "Keys Redis evicted for memory.", value=health.evicted_keys)
    yield CounterMetricFamily("ragsite_redis_expired_keys", "Keys that expired.", value=health.expired_keys)
    yield CounterMetricFamily("ragsite_redis_keyspace_hits", "Redis key lookups that found a key.", value=health.keyspace_hits)
    yield CounterMetricFamily("ragsite_redis_keyspace_misses", "Redis key lookups that found none.", value=health.keyspace_misses)


class RedisStatsCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        health = redis_health()
        yield GaugeMetricFamily("ragsite_redis_up", "1 if Redis answered this scrape.", value=int(health.up))
        if health.up:
            yield from _redis_metrics(health)
        totals = stats_all_time()
        # With the database down: no counters at all rather than zeros, which would read as a counter reset.
        if totals is not None:
            yield from _cache_metrics(totals)


registry = CollectorRegistry(auto_describe=False)
registry.register(RedisStatsCollector())


def metrics_text() -> bytes:
    return generate_latest(registry)
