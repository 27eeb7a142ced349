"""The cache admin: hit ratios in the policy list, the purge action, a read-only semantic index, links to /stats/."""

import pytest

from cache_policies import redis_client
from cache_policies.models import CachedQuestion, CachePolicy
from cache_policies.stats import StatsRecorder

pytestmark = [pytest.mark.redis, pytest.mark.django_db]
CHANGELIST = "/admin/cache_policies/cachepolicy/"


def _record(*outcomes: str) -> None:
    for outcome in outcomes:
        recorder = StatsRecorder()
        recorder.layer("response", outcome)
        recorder.flush()


def test_it_lists_each_layers_hit_ratio_of_the_last_hour(admin_client):
    _record("miss", "hit", "hit", "bypass")

    page = admin_client.get(CHANGELIST).content.decode()

    assert "67% of 3" in page


def test_it_says_redis_is_down_in_the_ratio_column(admin_client):
    redis_client.breaker.record_failure()

    page = admin_client.get(CHANGELIST).content.decode()

    assert page.count("Redis down") == 4


def test_it_purges_the_selected_layers(admin_client):
    policy = CachePolicy.objects.get(layer="embedding")

    response = admin_client.post(
        CHANGELIST, {"action": "purge_layers", "_selected_action": [policy.pk]}, follow=True
    )

    assert "Purged 1 layer(s): embedding → v2." in response.content.decode()
    assert CachePolicy.objects.get(layer="embedding").namespace_version == 2
    assert CachePolicy.objects.get(layer="response").namespace_version == 1


def test_it_shows_the_help_texts_on_the_change_form(admin_client):
    policy = CachePolicy.objects.get(layer="response")
    page = admin_client.get(f"{CHANGELIST}{policy.pk}/change/").content.decode()
    assert "Bumping it drops the whole layer at once." in page


def test_it_keeps_the_semantic_index_read_only(admin_client):
    assert admin_client.get("/admin/cache_policies/cachedquestion/").status_code == 200
    assert admin_client.get("/admin/cache_policies/cachedquestion/add/").status_code == 403
    assert not CachedQuestion.objects.exists()


def test_it_links_the_stats_page_from_the_admin(admin_client):
    assert 'href="/stats/"' in admin_client.get("/admin/").content.decode()
    assert 'href="/stats/"' in admin_client.get(CHANGELIST).content.decode()
