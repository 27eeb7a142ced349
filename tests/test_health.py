"""/healthz and /readyz as a load balancer sees them, and what users get while PostgreSQL or Redis is down:
cached answers keep coming while PostgreSQL is away, and everything resumes when it returns."""

import pytest
import requests

from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import (  # noqa: F401  (fixtures)
    Gunicorn, Valkey, database_proxy, proxied_database_url, site_database_url, site_env, wait_until, wire_kb,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis]

CACHED = "What does the with statement do?"
COLD = "How does a while loop end early?"


def ask(site: Gunicorn, question: str) -> requests.Response:
    return requests.post(site.url("/api/ask"), json={"question": question}, timeout=30)


def probe(site: Gunicorn, path: str) -> tuple[int, dict]:
    response = requests.get(site.url(path), timeout=10)
    return response.status_code, response.json()


def _redis_warnings(site: Gunicorn) -> str:
    return "\n".join(line for line in site.log().splitlines() if "redis unavailable" in line)[-2000:] + "\n"


def test_it_reports_each_outage_and_serves_cached_answers_while_postgres_is_down(wire_kb, openai_wire, database_proxy):
    valkey = Valkey().start()
    env = site_env(redis_url=valkey.url(), database_url=proxied_database_url(database_proxy), wire_url=openai_wire.base_url)
    try:
        with Gunicorn(env=env, workers=2) as site:
            assert ask(site, CACHED).headers["X-Cache"] == "MISS"
            assert probe(site, "/readyz") == (200, {"status": "ready", "database": "up", "redis": "up"})

            valkey.kill()
            assert probe(site, "/readyz") == (200, {"status": "degraded", "database": "up", "redis": "down"})
            assert probe(site, "/healthz") == (200, {"status": "alive"})
            assert ask(site, COLD).status_code == 200, "answers still work, uncached"

            valkey = Valkey(port=valkey.port).start()
            # Every worker must see Redis again (its circuit breaker retries after 3 s) before the next outage.
            wait_until(lambda: all(ask(site, CACHED).headers.get("X-Cache") == "HIT" for _ in range(10)), seconds=30,
                       what="hits from every worker after Redis returns")

            database_proxy.cut()
            hits = [ask(site, CACHED) for _ in range(10)]
            assert [(r.status_code, r.headers.get("X-Cache")) for r in hits] == [(200, "HIT")] * 10, _redis_warnings(site) + site.log()[-3000:]
            cold = ask(site, COLD)
            assert cold.status_code == 503 and cold.json()["code"] == "database_unavailable"
            assert probe(site, "/readyz") == (
                200, {"status": "degraded", "database": "down", "redis": "up", "serving": "cached answers only"},
            )

            valkey.kill()
            assert probe(site, "/readyz") == (
                503, {"status": "unavailable", "database": "down", "redis": "down", "serving": "nothing"},
            )
            assert probe(site, "/healthz") == (200, {"status": "alive"})

            valkey = Valkey(port=valkey.port).start()
            database_proxy.restore()
            wait_until(lambda: ask(site, COLD).status_code == 200, seconds=15, what="answers after PostgreSQL returns")
            after = [requests.get(site.url("/api/documents"), timeout=10).status_code for _ in range(40)]
            assert after == [200] * 40, "no worker thread kept a connection that died with the outage"
            assert probe(site, "/readyz") == (200, {"status": "ready", "database": "up", "redis": "up"})
    finally:
        valkey.stop()
