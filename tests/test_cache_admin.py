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


def test_it_still_lists_the_hit_ratios_while_redis_is_down(admin_client):
    _record("miss", "hit")
    redis_client.breaker.record_failure()

    page = admin_client.get(CHANGELIST).content.decode()

    assert "50% of 2" in page, "the counts are kept in PostgreSQL"


def test_it_purges_the_selected_layers(admin_client):
    policy = CachePolicy.objects.get(layer="embedding")

    response = admin_client.post(
        CHANGELIST, {"action": "purge_layers", "_selected_action": [policy.pk]}, follow=True
    )

    assert "Purged 1 layer(s): embedding → v2." in response.content.decode()
    assert CachePolicy.objects.get(layer="embedding").namespace_version == 2
    assert CachePolicy.objects.get(layer="response").namespace_version == 1


def test_it_keeps_the_semantic_index_read_only(admin_client):
    assert admin_client.get("/admin/cache_policies/cachedquestion/").status_code == 200
    assert admin_client.get("/admin/cache_policies/cachedquestion/add/").status_code == 403
    assert not CachedQuestion.objects.exists()


def test_it_links_the_stats_page_from_the_admin(admin_client):
    assert 'href="/stats/"' in admin_client.get("/admin/").content.decode()
    assert 'href="/stats/"' in admin_client.get(CHANGELIST).content.decode()


def _change_form(admin_client, layer: str) -> str:
    policy = CachePolicy.objects.get(layer=layer)
    return admin_client.get(f"{CHANGELIST}{policy.pk}/change/").content.decode()


def test_it_shows_each_layer_only_its_own_fields(admin_client):
    response, semantic = _change_form(admin_client, "response"), _change_form(admin_client, "semantic")

    assert 'name="ttl_seconds"' in response and 'name="lock_timeout_seconds"' in response
    assert 'name="similarity_threshold"' not in response and 'name="guard_min_evidence"' not in response
    assert 'name="similarity_threshold"' in semantic and 'name="guard_min_alignment"' in semantic and "False-hit guard" in semantic
    assert 'name="ttl_seconds"' not in semantic and 'name="lock_timeout_seconds"' not in semantic
    assert 'name="layer"' not in response  # shown, not editable


def test_it_says_what_a_field_changes_for_users(admin_client):
    page = _change_form(admin_client, "response")

    assert "is answered from Redis in about a millisecond" in page
    assert "raising it drops every cached answer at once" in page


def test_it_offers_no_add_or_delete_for_policies(admin_client):
    policy = CachePolicy.objects.get(layer="response")

    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.get(f"{CHANGELIST}{policy.pk}/delete/").status_code == 403
    assert CachePolicy.objects.count() == 4


def test_it_shows_ttls_as_durations_with_presets(admin_client):
    page = _change_form(admin_client, "response")

    assert 'value="1 day"' in page and '<option value="15 min">' in page
    assert "1 day" in admin_client.get(CHANGELIST).content.decode()


def _save(admin_client, layer: str, **changes):
    policy = CachePolicy.objects.get(layer=layer)
    data = {"enabled": "on" if policy.enabled else "", "ttl_seconds": "1 day", "scope": policy.scope,
            "lock_timeout_seconds": policy.lock_timeout_seconds, "namespace_version": policy.namespace_version, **changes}
    return admin_client.post(f"{CHANGELIST}{policy.pk}/change/", {k: v for k, v in data.items() if v != ""}, follow=True)


def test_it_saves_a_duration_and_says_what_the_change_does(admin_client):
    page = _save(admin_client, "response", ttl_seconds="1 hour").content.decode()

    assert CachePolicy.objects.get(layer="response").ttl_seconds == 3600
    assert ("Response TTL 1 day → 1 hour: applies to new entries within 1 s on all workers; "
            "existing entries keep their TTL.") in page


def test_it_refuses_a_duration_it_cannot_read_and_says_why(admin_client):
    page = _save(admin_client, "response", ttl_seconds="soon").content.decode()

    assert "&quot;soon&quot; is not a duration" in page
    assert CachePolicy.objects.get(layer="response").ttl_seconds == 86400


RULES = "/admin/cache_policies/invalidationrule/"


def test_it_shows_the_rules_as_an_events_by_layers_grid(admin_client):
    page = admin_client.get(RULES).content.decode()

    assert page.count("<select") == 4 * 4  # document changed, document deleted, prompt changed, model changed
    assert '<select name="model_changed:embedding"' in page
    assert admin_client.get(f"{RULES}add/").status_code == 403


def test_it_saves_a_grid_cell_and_names_the_change(admin_client):
    from cache_policies.models import InvalidationRule

    grid = {f"{r.event}:{r.layer}": r.action for r in InvalidationRule.objects.all()}
    grid["document_deleted:retrieval"] = "whole_layer"
    grid["document_changed:response"] = "off"

    page = admin_client.post(RULES, grid, follow=True).content.decode()

    assert InvalidationRule.objects.get(event="document_deleted", layer="retrieval").action == "whole_layer"
    assert not InvalidationRule.objects.get(event="document_changed", layer="response").enabled
    assert "A document is deleted → Retrieved context: only the entries that used what changed → the whole layer" in page
    assert "document_changed:response" in page and page.count("whole_layer") >= 1


def test_it_saves_a_stale_window_as_a_duration_and_shows_off_for_none(admin_client):
    assert 'value="off"' in _change_form(admin_client, "response")
    page = _save(admin_client, "response", stale_seconds="15 min").content.decode()
    assert CachePolicy.objects.get(layer="response").stale_seconds == 900
    assert "Response stale window off → 15 min" in page
    assert 'name="stale_seconds"' not in _change_form(admin_client, "semantic")
