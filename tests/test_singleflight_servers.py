"""Single-flight under gunicorn when the leader fails or is SIGKILLed: followers are answered by one takeover,
and a cached question keeps being answered meanwhile (the serving model of ragsite/gunicorn.conf.py)."""

import os
import signal
import threading
import time
from dataclasses import dataclass

import pytest
import requests

from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import Gunicorn, shared_redis_url, site_database_url, site_env, wait_until, wire_kb  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.redis]

COLD = "What does the with statement do?"
CACHED = "How does a while loop end early?"


@dataclass
class Reply:
    status: int
    x_cache: str
    done: float  # time.monotonic() when the answer arrived
    attempts: int


def ask(site: Gunicorn, question: str) -> Reply:
    """POST /api/ask; a connection that dies with its worker is retried once, as a load balancer would."""
    for attempt in (1, 2):
        try:
            response = requests.post(site.url("/api/ask"), json={"question": question}, timeout=60)
        except requests.ConnectionError:
            if attempt == 2:
                raise
            continue
        return Reply(response.status_code, response.headers.get("X-Cache", ""), time.monotonic(), attempt)


class Burst:
    """n identical questions sent at once from threads; replies collected as they come."""

    def __init__(self, site: Gunicorn, question: str, n: int):
        self.replies: list[Reply] = []
        self._threads = [threading.Thread(target=lambda: self.replies.append(ask(site, question))) for _ in range(n)]

    def __enter__(self) -> "Burst":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        for thread in self._threads:
            thread.join(timeout=90)


@pytest.fixture
def site(wire_kb, openai_wire, site_database_url, redis_conn):
    """The issue's setup: 3 workers; CACHED is already a cached answer."""
    env = site_env(
        redis_url=shared_redis_url(), database_url=site_database_url, wire_url=openai_wire.base_url, OPENAI_TIMEOUT=30,
    )
    with Gunicorn(env=env, workers=3) as server:
        assert ask(server, CACHED).status == 200 and ask(server, CACHED).x_cache == "HIT"
        openai_wire.counts.clear()
        yield server


def lock_holder(redis_conn) -> int | None:
    """The pid in the token of the single-flight lock, once a leader holds it."""
    for key in redis_conn.scan_iter(match="rag-test:lock:*"):
        if token := redis_conn.get(key):
            return int(token.decode().split(":")[0])
    return None


def test_it_answers_followers_through_one_takeover_when_the_leaders_worker_is_killed(site, openai_wire, redis_conn):
    openai_wire.configure(chat_latency_ms=5000)
    with Burst(site, COLD, 6) as burst:
        wait_until(lambda: openai_wire.counts["chat"] == 1, seconds=30, what="the leader to call the LLM")
        leader = wait_until(lambda: lock_holder(redis_conn), seconds=5, what="the leader's lock")
        os.kill(leader, signal.SIGKILL)
        hit = ask(site, CACHED)
    assert len(burst.replies) == 6
    assert [r.status for r in burst.replies] == [200] * 6, "every request is answered (those on the killed worker on a retry)"
    assert openai_wire.counts["chat"] == 2, "the dead leader's call and one follower's takeover"
    assert [r.x_cache for r in burst.replies].count("MISS") == 1, "the others were served the takeover's answer"
    assert hit.status == 200 and hit.x_cache == "HIT"
    assert hit.done < min(r.done for r in burst.replies), "the cached question was answered while the followers waited"


def test_it_answers_followers_through_one_takeover_when_the_leaders_llm_call_fails(site, openai_wire):
    openai_wire.configure(chat_latency_ms=3000, fail_times=1, fail_endpoint="chat")
    with Burst(site, COLD, 6) as burst:
        wait_until(lambda: openai_wire.counts["chat"] == 1, seconds=30, what="the leader to call the LLM")
        hit = ask(site, CACHED)
    assert sorted(r.status for r in burst.replies) == [200] * 5 + [502], "only the leader's own request sees its failure"
    assert openai_wire.counts["chat"] == 2
    assert hit.status == 200 and hit.x_cache == "HIT"
    assert hit.done < min(r.done for r in burst.replies), "the cached question was answered while the followers waited"
