"""What a user sees when Redis, PostgreSQL or a provider fails: clear JSON, never a traceback, nothing cached wrong."""

import socket
import threading
import time
from dataclasses import dataclass

import pytest
import requests
from rest_framework.test import APIClient

from cache_policies.models import CachedQuestion
from qa import providers
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import Gunicorn, Valkey, free_port, shared_redis_url, site_database_url, site_env, wire_kb  # noqa: F401

QUESTIONS = [
    "What does the with statement do?",
    "How does a while loop end early?",
    "How do I import a module under another name?",
    "When does __exit__ run?",
]


@dataclass
class Reply:
    started: float
    seconds: float
    status: int
    x_cache: str


class Traffic:
    """Threads asking QUESTIONS in turn against a site until stopped; every reply is recorded."""

    def __init__(self, site: Gunicorn, *, threads: int):
        self.site = site
        self.replies: list[Reply] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._ask_in_turn, args=(i,)) for i in range(threads)]

    def _ask_in_turn(self, offset: int) -> None:
        session = requests.Session()
        turn = offset
        while not self._stop.is_set():
            started = time.monotonic()
            response = session.post(self.site.url("/api/ask"), json={"question": QUESTIONS[turn % len(QUESTIONS)]}, timeout=30)
            reply = Reply(started, time.monotonic() - started, response.status_code, response.headers.get("X-Cache", ""))
            with self._lock:
                self.replies.append(reply)
            turn += 1

    def __enter__(self) -> "Traffic":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=35)

    def between(self, start: float, end: float) -> list[Reply]:
        return [r for r in self.replies if start <= r.started < end]


def ask(site: Gunicorn, question: str = QUESTIONS[0]) -> requests.Response:
    return requests.post(site.url("/api/ask"), json={"question": question}, timeout=30)


# --- Redis ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.redis
def test_it_keeps_answering_uncached_while_redis_is_down_and_caches_again_when_it_returns(
    wire_kb, openai_wire, site_database_url
):
    with Valkey() as valkey, Gunicorn(
        env=site_env(redis_url=valkey.url(), database_url=site_database_url, wire_url=openai_wire.base_url)
    ) as site:
        assert ask(site).headers["X-Cache"] == "MISS"
        assert ask(site).headers["X-Cache"] == "HIT"

        with Traffic(site, threads=6) as traffic:
            time.sleep(1.5)
            killed = time.monotonic()
            valkey.kill()
            time.sleep(3.0)
            valkey.start()
            back = time.monotonic()
            time.sleep(6.0)
        errors = site.log()

    down = traffic.between(killed + 0.3, back)
    recovered = [r for r in traffic.between(back, back + 10) if r.x_cache == "HIT"]
    assert traffic.replies and {r.status for r in traffic.replies} == {200}, errors[-4000:]
    assert down and {r.x_cache for r in down} == {"MISS"}
    assert recovered and recovered[0].started - back < 5.0
    last_second = traffic.between(back + 5.0, back + 6.0)
    assert sum(r.x_cache == "HIT" for r in last_second) > len(last_second) / 2, "every worker caches again"


# --- PostgreSQL -------------------------------------------------------------------

@pytest.fixture
def site_without_database(request):
    """The site with DATABASE_URL at a closed port, or at a socket that never answers (param 'silent')."""
    port = free_port()
    silent = None
    if request.param == "silent":
        # Accepts TCP connections into its backlog and never speaks: the client waits for connect_timeout.
        silent = socket.socket()
        silent.bind(("127.0.0.1", port))
        silent.listen(64)
    env = site_env(
        redis_url=shared_redis_url(), database_url=f"postgresql://postgres:x@127.0.0.1:{port}/ragsite",
        DB_CONNECT_TIMEOUT=1,
    )
    with Gunicorn(env=env, workers=1) as site:
        yield site
    if silent:
        silent.close()


@pytest.mark.slow
@pytest.mark.parametrize("site_without_database", ["refused", "silent"], indirect=True)
@pytest.mark.parametrize(("method", "path", "body"), [("post", "/api/ask", {"question": QUESTIONS[0]}), ("get", "/api/documents", None)])
def test_it_answers_503_json_when_postgres_is_unreachable(site_without_database, method, path, body):
    started = time.monotonic()
    response = requests.request(method, site_without_database.url(path), json=body, timeout=30)
    seconds = time.monotonic() - started

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "The database is unavailable; try again shortly.", "code": "database_unavailable"}
    assert seconds < 1 + 2.0, "bounded by DB_CONNECT_TIMEOUT"


def ask_on_the_page(site: Gunicorn) -> requests.Response:
    session = requests.Session()
    assert session.get(site.url("/"), timeout=30).status_code == 200, "the empty form needs no database"
    form = {"question": QUESTIONS[0], "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    return session.post(site.url("/"), data=form, timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("site_without_database", ["refused"], indirect=True)
def test_it_shows_no_traceback_on_the_ask_page_when_postgres_is_unreachable(site_without_database):
    response = ask_on_the_page(site_without_database)
    assert response.status_code >= 500
    assert "Traceback" not in response.text and "psycopg" not in response.text


@pytest.mark.slow
@pytest.mark.parametrize("site_without_database", ["refused"], indirect=True)
def test_it_explains_a_database_outage_on_the_ask_page(site_without_database):
    response = ask_on_the_page(site_without_database)
    assert response.status_code == 503
    assert "database is unavailable" in response.text


# --- providers ----------------------------------------------------------------------

@pytest.fixture
def api(wire_kb, redis_conn):
    return APIClient()


def post_ask(api: APIClient, question: str = QUESTIONS[0]):
    started = time.monotonic()
    response = api.post("/api/ask", {"question": question}, format="json")
    response.seconds = time.monotonic() - started
    return response


def assert_nothing_of_the_answer_cached(redis_conn) -> None:
    assert redis_conn.keys("*:resp:*") == []
    assert redis_conn.keys("*:lock:*") == []
    assert not CachedQuestion.objects.exists()


@pytest.mark.redis
def test_it_answers_502_when_the_embedding_provider_fails_and_caches_nothing(api, openai_wire, redis_conn):
    openai_wire.configure(fail_times=100, fail_status=500)
    openai_wire.counts.clear()

    response = post_ask(api)

    assert response.status_code == 502
    assert response.json() == {
        "detail": "The openai provider failed: HTTP 500: wire server told to fail",
        "code": "provider_error",
    }
    assert openai_wire.counts["embeddings"] == 3, "the client's two retries, then the error"
    assert redis_conn.keys("*:emb:*") == []
    assert_nothing_of_the_answer_cached(redis_conn)

    openai_wire.configure(fail_times=0)
    retried = post_ask(api)
    assert (retried.status_code, retried["X-Cache"]) == (200, "MISS")
    assert post_ask(api)["X-Cache"] == "HIT"


@pytest.mark.redis
def test_it_answers_502_when_only_the_llm_fails_and_keeps_the_answer_uncached(api, openai_wire, redis_conn):
    assert post_ask(api).status_code == 200
    redis_conn.delete(*redis_conn.keys("*:resp:*"))
    CachedQuestion.objects.all().delete()
    openai_wire.configure(fail_times=100, fail_status=503)
    openai_wire.counts.clear()

    response = post_ask(api)

    assert response.status_code == 502
    assert response.json()["detail"] == "The openai provider failed: HTTP 503: wire server told to fail"
    assert openai_wire.counts == {"chat": 3}, "embedding and retrieval were cached; the chat call and its two retries failed"
    assert_nothing_of_the_answer_cached(redis_conn)

    openai_wire.configure(fail_times=0)
    retried = post_ask(api)
    assert (retried.status_code, retried["X-Cache"]) == (200, "MISS")
    assert retried.json()["cache"]["embedding"] == "hit"


@pytest.mark.redis
def test_it_answers_504_when_the_provider_times_out_and_caches_nothing(api, openai_wire, redis_conn, settings):
    settings.OPENAI_TIMEOUT = 0.5
    settings.OPENAI_MAX_RETRIES = 0
    providers.reset()
    openai_wire.configure(hang_seconds=3)

    response = post_ask(api)

    assert response.status_code == 504
    assert response.json() == {"detail": "The openai provider failed: no answer within 0.5s", "code": "provider_error"}
    assert response.seconds < 2.0
    assert_nothing_of_the_answer_cached(redis_conn)

    openai_wire.configure(hang_seconds=0)
    retried = post_ask(api)
    assert (retried.status_code, retried["X-Cache"]) == (200, "MISS")
