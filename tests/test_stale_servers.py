"""Serve-stale-while-revalidate across two app servers with a real job worker (gunicorn's, as under `make run`):
a stale answer is served at once by both, refreshed exactly once, and a refresh outlives a killed worker."""

import os
import signal
import threading
import time

import pytest
import requests

from cache_policies.models import CachePolicy
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import Gunicorn, shared_redis_url, site_database_url, site_env, wait_until, wire_kb  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.redis]
QUESTION = "What does the with statement do?"
TTL = 1


@pytest.fixture
def sites(wire_kb, openai_wire, site_database_url, redis_conn):
    """Two app servers on one Redis and one database; only the first runs a job worker."""
    CachePolicy.objects.filter(layer="response").update(ttl_seconds=TTL, stale_seconds=300)
    common = dict(redis_url=shared_redis_url(), database_url=site_database_url, wire_url=openai_wire.base_url,
                  OPENAI_TIMEOUT=30)
    with Gunicorn(env=site_env(**common, JOBS_WORKER=1), workers=1) as first, \
            Gunicorn(env=site_env(**common), workers=1) as second:
        yield first, second


def ask(site: Gunicorn) -> requests.Response:
    response = requests.post(site.url("/api/ask"), json={"question": QUESTION}, timeout=60)
    assert response.status_code == 200, response.text[:300]
    return response


def asked_at_once(sites, per_site: int) -> list[requests.Response]:
    replies: list[requests.Response] = []
    threads = [threading.Thread(target=lambda s=site: replies.append(ask(s))) for site in sites for _ in range(per_site)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies


def refreshed(site: Gunicorn) -> bool:
    return ask(site).headers["X-Cache"] == "HIT"


def stale_now(site: Gunicorn, openai_wire) -> str:
    first = ask(site)
    assert first.headers["X-Cache"] == "MISS" and openai_wire.counts["chat"] == 1
    time.sleep(TTL + 0.1)  # the TTL is what is being tested: the answer must be this old
    return first.json()["answer"]


def test_it_serves_stale_on_both_servers_and_refreshes_exactly_once(sites, openai_wire):
    old = stale_now(sites[0], openai_wire)
    openai_wire.configure(chat_latency_ms=1500)  # the refresh is still running while everyone reads
    replies = asked_at_once(sites, 5)

    assert [r.headers["X-Cache"] for r in replies] == ["STALE"] * 10
    assert {r.json()["answer"] for r in replies} == {old}
    wait_until(lambda: refreshed(sites[1]), seconds=60, what="the refreshed answer")
    assert openai_wire.counts["chat"] == 2, "the first answer and exactly one refresh"


def test_it_finishes_a_refresh_whose_job_worker_was_killed(sites, openai_wire):
    from django_tasks_db.models import DBTaskResult

    from ragsite.jobs.lease import worker_pid

    stale_now(sites[0], openai_wire)
    openai_wire.configure(chat_latency_ms=4000)
    assert ask(sites[1]).headers["X-Cache"] == "STALE"
    running = wait_until(lambda: DBTaskResult.objects.running().first(), seconds=60, what="a worker to take the refresh")
    wait_until(lambda: openai_wire.counts["chat"] == 2, seconds=30, what="the refresh to call the LLM")
    os.kill(worker_pid(running.worker_ids[-1]), signal.SIGKILL)
    openai_wire.configure(chat_latency_ms=0)

    wait_until(lambda: refreshed(sites[1]), seconds=90, what="the restarted worker's refresh")
    # The answer is stored before the job's row says it succeeded.
    job = wait_until(lambda: DBTaskResult.objects.filter(pk=running.pk, status="SUCCESSFUL").first(), seconds=30,
                     what="the job's result")
    assert len(job.worker_ids) == 2, "requeued once, run by the restarted worker"
    assert openai_wire.counts["chat"] == 3, "the killed refresh's call and the rerun's"
