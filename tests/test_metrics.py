"""/metrics: Prometheus text whose counters equal the events recorded, whichever process recorded them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from cache_policies import redis_client
from cache_policies.stats import StatsRecorder
from tests.servers import site_database_url  # noqa: F401  (fixture)

pytestmark = [pytest.mark.redis, pytest.mark.django_db]
BASE_DIR = Path(__file__).resolve().parent.parent


def _samples(client, **headers) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def _events(samples, layer: str, outcome: str) -> float:
    return samples[("ragsite_cache_events_total", frozenset({"layer": layer, "outcome": outcome}.items()))]


def _latency(samples, suffix: str, layer: str, outcome: str, **extra) -> float:
    labels = frozenset({"layer": layer, "outcome": outcome, **extra}.items())
    return samples[(f"ragsite_cache_latency_seconds_{suffix}", labels)]


@pytest.fixture
def recorded():
    """One exact hit in 2 ms and two misses in 300 ms each, on the response layer."""
    for outcome, seconds in (("hit", 0.002), ("miss", 0.3), ("miss", 0.3)):
        recorder = StatsRecorder()
        recorder.layer("response", outcome, seconds)
        recorder.add("requests")
        if outcome == "hit":
            recorder.saved(ms=298, tokens=120, usd=0.0042)
        recorder.flush()


def test_it_counts_events_per_layer_and_outcome(client, recorded):
    samples = _samples(client)

    assert _events(samples, "response", "hit") == 1
    assert _events(samples, "response", "miss") == 2
    assert _events(samples, "response", "semantic_hit") == 0
    assert _events(samples, "embedding", "miss") == 0
    assert samples[("ragsite_requests_total", frozenset())] == 3


def test_it_exposes_a_latency_histogram_per_layer(client, recorded):
    samples = _samples(client)

    assert _latency(samples, "bucket", "response", "hit", le="0.001") == 0
    assert _latency(samples, "bucket", "response", "hit", le="0.0025") == 1
    assert _latency(samples, "count", "response", "hit") == 1
    assert _latency(samples, "sum", "response", "hit") == pytest.approx(0.002)
    assert _latency(samples, "bucket", "response", "miss", le="0.25") == 0
    assert _latency(samples, "bucket", "response", "miss", le="0.5") == 2
    assert _latency(samples, "bucket", "response", "miss", le="+Inf") == 2
    assert _latency(samples, "sum", "response", "miss") == pytest.approx(0.6)


def test_it_counts_what_cached_answers_saved(client, recorded):
    samples = _samples(client)

    assert samples[("ragsite_cache_saved_seconds_total", frozenset())] == pytest.approx(0.298)
    assert samples[("ragsite_cache_saved_tokens_total", frozenset())] == 120
    assert samples[("ragsite_cache_saved_usd_total", frozenset())] == pytest.approx(0.0042)


def test_it_counts_the_asks_made_through_the_api(client, kb):
    for _ in range(2):
        APIClient().post("/api/ask", {"question": "What does the while statement do?"}, format="json")

    samples = _samples(client)

    assert (_events(samples, "response", "miss"), _events(samples, "response", "hit")) == (1, 1)


def test_it_serves_what_another_process_recorded(client, site_database_url):
    """Two gunicorn workers are two processes: a counter flushed by one is scraped from the other."""
    script = (
        "import django; django.setup()\n"
        "from cache_policies.stats import StatsRecorder\n"
        "r = StatsRecorder(); r.layer('retrieval', 'hit', 0.003); r.add('requests'); r.flush()\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ragsite.settings_test", "DATABASE_URL": site_database_url}
    subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, env=env, check=True, timeout=60)

    samples = _samples(client)

    assert _events(samples, "retrieval", "hit") == 1
    assert samples[("ragsite_requests_total", frozenset())] == 1


def test_it_reports_redis_health(client, settings):
    samples = _samples(client)

    assert samples[("ragsite_redis_up", frozenset())] == 1
    assert samples[("ragsite_redis_used_memory_bytes", frozenset())] > 0
    (info,) = [labels for name, labels in samples if name == "ragsite_redis_info"]
    assert dict(info)["embedded"] == str(settings.EMBEDDED_REDIS).lower()
    assert dict(info)["server"] in ("valkey", "redis")


def test_it_still_serves_the_counters_when_redis_is_down(client, recorded):
    redis_client.breaker.record_failure()

    samples = _samples(client)

    assert samples[("ragsite_redis_up", frozenset())] == 0
    assert ("ragsite_redis_used_memory_bytes", frozenset()) not in samples
    assert _events(samples, "response", "miss") == 2, "the counters are kept in PostgreSQL"


def test_it_is_open_without_a_metrics_token(client):
    assert client.get("/metrics").status_code == 200


def test_it_requires_the_bearer_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "s3cret"

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
    assert client.get("/metrics")["WWW-Authenticate"] == 'Bearer realm="metrics"'
