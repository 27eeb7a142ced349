"""The cache admin and "Explain a question" in headless Chromium: the per-layer form, the rule grid, a TTL
edit taking effect, and Explain for a hit, a semantic hit, a guard refusal and a miss."""

from urllib.parse import urlencode

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from cache_policies import keys, redis_client
from cache_policies.models import CachePolicy, InvalidationRule
from qa.pipeline import question_answer
from tests.test_browser import _log_in, _screenshot, browser, staff_user  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]
CACHED = "How does the with statement work?"


def _policy_form(browser, live_server, layer: str):
    policy = CachePolicy.objects.get(layer=layer)
    browser.get(f"{live_server.url}/admin/cache_policies/cachepolicy/{policy.pk}/change/")
    return policy


def _names(browser) -> set[str]:
    return {e.get_attribute("name") for e in browser.find_elements(By.CSS_SELECTOR, "form input, form select")}


def test_it_shows_each_layer_only_its_fields_grouped(browser, live_server, kb, staff_user):
    _log_in(browser, live_server, staff_user)

    _policy_form(browser, live_server, "semantic")
    semantic, groups = _names(browser), [h.text for h in browser.find_elements(By.CSS_SELECTOR, "fieldset h2")]
    _screenshot(browser, "admin-semantic-policy.png")
    _policy_form(browser, live_server, "embedding")
    embedding = _names(browser)

    assert {"similarity_threshold", "guard_min_evidence", "guard_min_alignment"} <= semantic and "ttl_seconds" not in semantic
    assert "False-hit guard" in groups
    assert "ttl_seconds" in embedding and not {"similarity_threshold", "scope", "layer"} & embedding
    assert not browser.find_elements(By.CSS_SELECTOR, ".deletelink")


def test_it_edits_the_rules_in_one_grid(browser, live_server, kb, staff_user):
    _log_in(browser, live_server, staff_user)
    browser.get(live_server.url + "/admin/cache_policies/invalidationrule/")

    Select(browser.find_element(By.NAME, "document_deleted:retrieval")).select_by_value("whole_layer")
    browser.find_element(By.CSS_SELECTOR, "#rule-grid input[type=submit]").click()
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist")))
    _screenshot(browser, "admin-rule-grid.png")

    assert "Retrieved context: only the entries that used what changed → the whole layer" in browser.page_source
    assert InvalidationRule.objects.get(event="document_deleted", layer="retrieval").action == "whole_layer"
    assert Select(browser.find_element(By.NAME, "document_deleted:retrieval")).first_selected_option.text.startswith("The whole layer")


def test_it_applies_a_ttl_edited_as_a_duration_to_new_answers(browser, live_server, kb, staff_user):
    _log_in(browser, live_server, staff_user)
    _policy_form(browser, live_server, "response")
    ttl = browser.find_element(By.ID, "id_ttl_seconds")
    assert ttl.get_attribute("value") == "1 day"

    ttl.clear()
    ttl.send_keys("1 hour")
    browser.find_element(By.NAME, "_save").click()
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist .success")))
    message = browser.find_element(By.CSS_SELECTOR, ".messagelist").text
    answer = question_answer(question=CACHED)  # a new entry, after the edit reached this process
    left = redis_client.call(lambda r: r.ttl(_response_key(answer.cache["key"])))

    assert "Response TTL 1 day → 1 hour: applies to new entries within 1 s on all workers" in message
    assert 3500 < left <= 3600


def _response_key(short_id: str) -> str:
    return next(k.decode() for k in redis_client.call(lambda r: list(r.scan_iter("*:resp:*"))) if keys.short_id(k.decode()) == short_id)


def _explain(browser, live_server, question: str) -> str:
    browser.get(f"{live_server.url}/admin/explain/?{urlencode({'question': question})}")
    return WebDriverWait(browser, 60).until(expected_conditions.presence_of_element_located((By.ID, "decision"))).text


def test_it_explains_a_hit_a_semantic_hit_a_guard_refusal_and_a_miss(browser, live_server, kb, staff_user):
    _log_in(browser, live_server, staff_user)
    question_answer(question=CACHED)

    assert _explain(browser, live_server, CACHED) == "response"
    assert browser.find_element(By.CSS_SELECTOR, ".layer-response .present").text == "present"
    _screenshot(browser, "explain-hit.png")

    assert _explain(browser, live_server, "Explain how the with statement works") == "semantic"
    assert browser.find_element(By.CSS_SELECTOR, ".candidate .verdict").text == "would serve"
    _screenshot(browser, "explain-semantic-hit.png")

    assert _explain(browser, live_server, "How does the with statement not work?") == "generate"
    failed = browser.find_element(By.CSS_SELECTOR, ".candidate .checks tr.failed").text
    assert failed.startswith("negation FAIL")
    _screenshot(browser, "explain-guard-refusal.png")

    assert _explain(browser, live_server, "What does the import statement bind?") == "generate"
    assert "would serve" not in browser.find_element(By.ID, "explanation").text
    assert "binds a name" in browser.find_element(By.ID, "answer-text").text
    _screenshot(browser, "explain-miss.png")
