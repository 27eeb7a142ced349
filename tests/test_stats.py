"""/api/stats and the /stats/ page: the numbers equal the events the test produced."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cache_policies import redis_client
from cache_policies.stats import StatsRecorder
from qa.pipeline import question_answer

pytestmark = [pytest.mark.redis, pytest.mark.cluster, pytest.mark.django_db]


@pytest.fixture
def staff():
    user = get_user_model().objects.create_user("alice", password="pw", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _request(*events: tuple[str, str, float], saved: dict | None = None, similarity: float | None = None) -> None:
    """Record one request's layer events the way the pipeline does."""
    recorder = StatsRecorder()
    for layer, outcome, seconds in events:
        recorder.layer(layer, outcome, seconds)
    if saved:
        recorder.saved(**saved)
    recorder.similarity = similarity
    recorder.add("requests")
    recorder.flush()


@pytest.fixture
def three_requests():
    """A miss, an exact hit and a semantic hit on the response layer, with hand-checkable numbers."""
    _request(("embedding", "miss", 0.004), ("retrieval", "miss", 0.010), ("response", "miss", 0.300))
    _request(("response", "hit", 0.002), saved={"ms": 298, "tokens": 120, "usd": 0.0042})
    _request(
        ("embedding", "hit", 0.001), ("retrieval", "miss", 0.012), ("response", "semantic_hit", 0.020),
        ("semantic", "hit", 0.020), saved={"ms": 250, "tokens": 80, "usd": 0.0028}, similarity=0.853,
    )


def test_it_reports_the_recorded_counts_per_layer(staff, three_requests):
    body = staff.get("/api/stats").json()

    response = body["last_minutes"]["layers"]["response"]
    assert response["counts"] == {"hit": 1, "semantic_hit": 1, "stale": 0, "miss": 1, "bypass": 0, "error": 0, "off": 0}
    assert (response["lookups"], response["hits"], response["hit_ratio"]) == (3, 2, pytest.approx(2 / 3))
    assert response["mean_latency_ms"] == {"hit": 2.0, "semantic_hit": 20.0, "miss": 300.0}
    assert body["last_minutes"]["layers"]["embedding"]["hit_ratio"] == 0.5
    assert body["last_minutes"]["layers"]["retrieval"]["hit_ratio"] == 0.0
    assert body["last_minutes"]["layers"]["semantic"]["counts"]["hit"] == 1


def test_it_adds_up_what_cached_answers_saved(staff, three_requests):
    body = staff.get("/api/stats").json()

    for window in ("last_minutes", "last_hours", "all_time"):
        totals = body[window]
        assert (totals["requests"], totals["errors"]) == (3, 0)
        assert (totals["saved_ms"], totals["saved_tokens"]) == (548, 200)
        assert totals["saved_usd"] == pytest.approx(0.0070)


def test_it_returns_a_point_per_minute_and_per_hour(staff, three_requests):
    body = staff.get("/api/stats?minutes=5&hours=3").json()

    assert [len(body["per_minute"]), len(body["per_hour"])] == [5, 3]
    # Only the current minute has anything (a minute boundary mid-test would split it in two).
    assert sum(p["requests"] for p in body["per_minute"]) == 3
    assert sum(p["lookups"]["response"] for p in body["per_minute"]) == 3
    assert body["per_hour"][-1]["hit_ratios"]["response"] == pytest.approx(2 / 3)
    assert body["per_hour"][0]["hit_ratios"]["response"] is None


def test_it_reports_the_similarity_histogram(staff, three_requests):
    assert staff.get("/api/stats").json()["similarity"] == [{"bucket": 0.84, "count": 1}]


def test_it_ranks_the_most_repeated_questions(staff, kb):
    for question in ("What does the with statement do?", "what does the WITH statement do", "How does import work?"):
        question_answer(question=question)

    questions = staff.get("/api/stats").json()["questions"]

    assert questions == [
        {"question": "what does the with statement do", "count": 2},
        {"question": "how does import work", "count": 1},
    ]


def test_it_counts_what_the_pipeline_did(staff, kb):
    first = question_answer(question="What does the with statement do?")
    second = question_answer(question="What does the with statement do?")
    assert (first.x_cache, second.x_cache) == ("MISS", "HIT")

    layers = staff.get("/api/stats").json()["last_minutes"]["layers"]

    assert layers["response"]["counts"]["hit"] == 1 and layers["response"]["counts"]["miss"] == 1
    assert layers["response"]["hit_ratio"] == 0.5
    # The hit was served before any embedding or retrieval: only the miss asked those layers.
    assert layers["embedding"]["lookups"] == layers["retrieval"]["lookups"] == 1


def test_it_shows_redis_health(staff):
    redis = staff.get("/api/stats").json()["redis"]

    assert redis["up"] is True
    assert redis["server"] in ("valkey", "redis") and redis["version"]
    assert redis["used_memory"] > 0
    assert redis["maxmemory_policy"]
    assert {"maxmemory", "evicted_keys", "expired_keys", "keyspace_hits", "keyspace_misses"} <= redis.keys()
    assert "@" not in redis["location"]


def test_it_says_redis_is_embedded_or_external(staff, settings):
    assert staff.get("/api/stats").json()["redis"]["embedded"] is settings.EMBEDDED_REDIS


def test_it_still_reports_the_counts_when_redis_is_down(staff, three_requests):
    redis_client.breaker.record_failure()

    body = staff.get("/api/stats").json()

    assert body["redis"]["up"] is False
    assert body["last_minutes"]["requests"] == body["all_time"]["requests"] == 3, "the counts are kept in PostgreSQL"
    assert body["questions"] is None, "the ranking is kept in Redis"


def test_it_refuses_anonymous_requests():
    assert APIClient().get("/api/stats").status_code == 401


def test_it_refuses_users_who_are_not_staff():
    user = get_user_model().objects.create_user("bob", password="pw")
    client = APIClient()
    client.force_authenticate(user)
    assert client.get("/api/stats").status_code == 403


def test_it_names_a_bad_window(staff):
    response = staff.get("/api/stats?minutes=0")
    assert response.status_code == 400
    assert "minutes" in response.json()


def test_it_shows_the_same_numbers_on_the_page(admin_client, three_requests):
    page = admin_client.get("/stats/").content.decode()

    assert 'id="last-minutes-response-ratio">67%<' in page
    assert 'id="last-minutes-embedding-ratio">50%<' in page
    assert 'id="last-minutes-semantic-ratio">100%<' in page
    assert "0.55 s" in page  # 548 ms saved
    assert "$0.0070" in page
    assert 'id="chart-minutes"' in page and 'id="chart-similarity"' in page
    assert 'id="redis-status">up<' in page


def test_it_links_each_policy_to_its_admin_page(admin_client):
    page = admin_client.get("/stats/").content.decode()
    assert page.count("/admin/cache_policies/cachepolicy/") == 4


def test_it_says_so_when_redis_is_down(admin_client):
    redis_client.breaker.record_failure()

    response = admin_client.get("/stats/")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="redis-down"' in page and 'id="redis-status">unreachable<' in page
    assert 'id="last-minutes-response-ratio"' in page, "the counts still show"


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/stats/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
