"""Counts kept in PostgreSQL: the stats page, /api/stats and /metrics agree after eviction and FLUSHALL;
Redis configurations that weaken a guarantee are named on the page and by `manage.py check`."""

import os
import re
import subprocess
import sys
import time
from collections import Counter

import pytest
import redis
import requests
from django.conf import settings
from django.core import checks
from prometheus_client.parser import text_string_to_metric_families

from cache_policies.checks import redis_checks_asked
from cache_policies.models import StatsRollup
from cache_policies.stats import FLUSH_SECONDS, StatsRecorder, flush_pending
from cache_policies.stats_selectors import stats_all_time
from cache_policies.stats_store import Batch, batch_apply
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.private_valkey import PrivateValkey, valkey_of  # noqa: F401  (fixture)
from tests.servers import (  # noqa: F401  (fixtures)
    Gunicorn, database_proxy, proxied_database_url, shared_redis_url, site_database_url, site_env, wait_until, wire_kb,
)

pytestmark = [pytest.mark.redis, pytest.mark.django_db]
SAFE = ("--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru")


def _requests(count: int, *, outcome: str = "hit") -> None:
    """Requests as the pipeline submits them: to the background writer."""
    for _ in range(count):
        recorder = StatsRecorder()
        recorder.layer("response", outcome, 0.002)
        recorder.add("requests")
        recorder.submit()
    flush_pending()


def _fill(server: PrivateValkey) -> int:
    """Write filler keys until the server has evicted some; returns how many it evicted."""
    r = redis.Redis(port=server.port)
    for first in range(0, 20000, 500):
        with r.pipeline(transaction=False) as pipe:
            for i in range(first, first + 500):
                pipe.set(f"filler:{i}", b"x" * 2000)
            pipe.execute()
        if evicted := int(r.info("stats")["evicted_keys"]):
            return evicted
    raise AssertionError("the server never evicted")


def _seen_by_every_reader(admin_client) -> dict[str, tuple[int, int]]:
    """(requests, response hits) as /api/stats, the stats page and /metrics report them."""
    body = admin_client.get("/api/stats").json()["all_time"]
    page = admin_client.get("/stats/").content.decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(admin_client.get("/metrics").content.decode())
        for s in family.samples
    }
    page_hits = re.search(r'id="last-hours-response-hits">(\d+)<', page)  # the page's layer tables: 1 h and 24 h
    return {
        "api": (body["requests"], body["layers"]["response"]["counts"]["hit"]),
        "page": (int(re.search(r'id="all-time-requests">(\d+)<', page)[1]), int(page_hits[1])),
        "metrics": (
            int(samples[("ragsite_requests_total", ())]),
            int(samples[("ragsite_cache_events_total", (("layer", "response"), ("outcome", "hit")))]),
        ),
    }


def test_it_agrees_on_the_page_the_api_and_metrics_after_eviction(valkey_of, admin_client):
    server = valkey_of("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
    _requests(5)

    evicted = _fill(server)
    _requests(2)

    assert set(_seen_by_every_reader(admin_client).values()) == {(7, 7)}
    page = admin_client.get("/stats/").content.decode()
    assert int(re.search(r'id="redis-evicted">(\d+)<', page)[1]) >= evicted > 0
    assert 'id="advice-ragsite.W111"' in page, "an allkeys-* policy is pointed out"
    assert [a["id"] for a in admin_client.get("/api/stats").json()["redis_advice"]] == ["ragsite.W111"]


def test_it_agrees_on_the_page_the_api_and_metrics_after_flushall(valkey_of, admin_client):
    server = valkey_of(*SAFE)
    _requests(3)

    redis.Redis(port=server.port).flushall()
    _requests(1, outcome="miss")

    assert set(_seen_by_every_reader(admin_client).values()) == {(4, 3)}
    assert 'id="redis-advice"' not in admin_client.get("/stats/").content.decode(), "nothing to say of a safe server"


def test_it_counts_a_retried_flush_once():
    """A flush whose COMMIT went through but whose answer was lost is retried with the same batch."""
    batch = Batch(rows=Counter({(settings.REDIS_KEY_PREFIX, "total", 0, "requests"): 2}))

    assert batch_apply(batch=batch) and batch_apply(batch=batch)

    assert StatsRollup.objects.get(period="total", name="requests").value == 2


def test_it_counts_each_key_prefix_apart(settings):
    """The bench (its own REDIS_KEY_PREFIX) never adds to the site's counts."""
    _requests(2)
    site = settings.REDIS_KEY_PREFIX
    settings.REDIS_KEY_PREFIX = "rag-bench"
    _requests(1)

    assert stats_all_time().requests == 1
    settings.REDIS_KEY_PREFIX = site
    assert stats_all_time().requests == 2


@pytest.mark.slow
def test_it_keeps_the_counts_a_worker_made_while_postgres_was_down(wire_kb, openai_wire, database_proxy, redis_conn):
    env = site_env(redis_url=shared_redis_url(), database_url=proxied_database_url(database_proxy), wire_url=openai_wire.base_url)
    with Gunicorn(env=env, workers=1) as site:
        ask = lambda: requests.post(site.url("/api/ask"), json={"question": "What does the with statement do?"}, timeout=30)
        assert ask().headers["X-Cache"] == "MISS"
        wait_until(lambda: stats_all_time().requests == 1, seconds=5, what="the first count")

        database_proxy.cut()
        assert [ask().headers.get("X-Cache") for _ in range(5)] == ["HIT"] * 5, "cached answers, counted in the worker"
        time.sleep(3 * FLUSH_SECONDS)  # flushes that fail meanwhile keep the counts
        assert stats_all_time().requests == 1
        database_proxy.restore()

        wait_until(lambda: stats_all_time().requests == 6, seconds=15, what="the counts held through the outage")
    assert stats_all_time().requests == 6, "and none counted twice"


def _check_ids() -> set[str]:
    with redis_checks_asked():
        return {m.id for m in checks.run_checks(tags=["ragsite_redis"])}


def test_it_warns_at_check_time_about_an_allkeys_policy(valkey_of):
    valkey_of("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    assert _check_ids() == {"ragsite.W111"}


def test_it_warns_at_check_time_that_noeviction_without_maxmemory_stops_caching(valkey_of):
    valkey_of()  # valkey's defaults: maxmemory 0, noeviction
    assert _check_ids() == {"ragsite.W112", "ragsite.W113"}


def test_it_has_nothing_to_say_at_check_time_of_a_safe_server(valkey_of):
    valkey_of(*SAFE)
    assert _check_ids() == set()


def test_it_says_at_check_time_that_redis_could_not_be_checked(valkey_of, admin_client):
    valkey_of(*SAFE).stop()

    assert _check_ids() == {"ragsite.W110"}
    page = admin_client.get("/stats/")
    assert page.status_code == 200 and 'id="redis-status">unreachable<' in page.content.decode()


def test_it_leaves_the_redis_checks_out_of_every_other_command():
    """migrate, runserver and the like run the checks without the check command: no Redis round trip for them."""
    assert not any(m.id.startswith("ragsite.") for m in checks.run_checks())


def test_it_warns_in_a_plain_manage_py_check(valkey_of):
    server = valkey_of("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "RAGSITE_"))}
    env.update(DJANGO_SETTINGS_MODULE="ragsite.settings", REDIS_URL=server.url)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "ragsite.W111" in result.stdout + result.stderr, result.stdout + result.stderr
