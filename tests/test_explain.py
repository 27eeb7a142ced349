"""Explain a question: each layer's entry, semantic candidates with their guard checks, the deciding policy,
the answer; and none of it touches the cache or the stats."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from cache_policies import redis_client
from cache_policies.models import CachedQuestion, CachePolicy
from cache_policies.policies import policies_changed
from cache_policies.stats import flush_pending
from qa.explain import question_explain
from qa.pipeline import question_answer

pytestmark = [pytest.mark.redis]
CACHED = "How does the with statement work?"


def _redis_snapshot() -> dict:
    flush_pending()  # counts are written in the background: any that explain made must show up here
    return redis_client.call(lambda r: {k: (r.type(k), r.dump(k)) for k in r.scan_iter("*")})


def test_it_explains_a_miss_and_changes_nothing(kb):
    before, rows = _redis_snapshot(), CachedQuestion.objects.count()

    explanation = question_explain(question="What does the import statement bind?")

    assert [(e.layer, e.present, e.ttl_left) for e in explanation.layers] == [
        ("embedding", False, "–"), ("retrieval", False, "–"), ("response", False, "–")
    ]
    assert explanation.candidates == []
    assert explanation.decision == "generate"
    assert "no cached question is close enough" in explanation.policy
    assert "binds a name" in explanation.answer and explanation.answer_source.startswith("extractive")
    assert _redis_snapshot() == before and CachedQuestion.objects.count() == rows


def test_it_explains_an_exact_hit_with_its_ttl_and_document_tags(kb):
    served = question_answer(question=CACHED)
    before = _redis_snapshot()

    explanation = question_explain(question=CACHED)

    response = explanation.layers[2]
    assert (response.layer, response.key, response.present) == ("response", served.cache["key"], True)
    assert response.ttl_left in ("1 day", "23 hours 59 min 59 s")
    assert {"slug": "with", "tagged": True} in response.documents
    assert all(d["tagged"] for d in response.documents)  # editing any of them drops the answer
    assert explanation.decision == "response"
    assert explanation.policy.startswith("Exact responses: this question was answered before")
    assert explanation.answer == served.answer
    assert _redis_snapshot() == before


def test_it_explains_a_semantic_hit_with_each_guard_check(kb):
    CachePolicy.objects.filter(layer="semantic").update(guard_min_alignment=0.30)  # every check on, alignment too
    policies_changed()
    question_answer(question=CACHED)

    explanation = question_explain(question="Explain how the with statement works")

    [candidate] = explanation.candidates
    assert candidate.question == "how does the with statement work"
    assert candidate.would_serve and candidate.answer_present
    assert [c["name"] for c in candidate.checks] == [
        "similarity", "retrieval", "retrieval", "contrast", "evidence", "alignment",
    ]
    assert all(c["passed"] for c in candidate.checks)
    assert candidate.checks[0]["detail"] == f"{candidate.similarity:.2f} >= 0.35"
    assert explanation.decision == "semantic"
    assert explanation.answer == question_answer(question=CACHED).answer


def test_it_explains_a_guard_refusal_and_names_the_failing_check(kb):
    question_answer(question=CACHED)

    explanation = question_explain(question="How does the with statement not work?")

    [candidate] = explanation.candidates
    failed = [c for c in candidate.checks if not c["passed"]]
    assert [(c["name"], c["detail"]) for c in failed] == [("negation", "differ in negation")]
    assert not candidate.would_serve
    assert explanation.decision == "generate"
    assert "no candidate passed the guard" in explanation.policy


def test_it_prints_the_explanation_from_the_command(kb):
    question_answer(question=CACHED)
    out = StringIO()

    call_command("cache_explain", CACHED, stdout=out)
    call_command("cache_explain", CACHED, "--json", stdout=(as_json := StringIO()))

    assert "response" in out.getvalue() and "present" in out.getvalue()
    assert "Decision: response. Exact responses" in out.getvalue()
    assert json.loads(as_json.getvalue())["decision"] == "response"


def test_it_serves_the_explanation_to_staff_only(kb, admin_client, client):
    question_answer(question=CACHED)

    body = admin_client.get("/api/explain", {"question": CACHED}).json()

    assert body["decision"] == "response" and body["layers"][2]["present"] is True
    assert client.get("/api/explain", {"question": CACHED}).status_code == 401
    assert "question" in admin_client.get("/api/explain").json()


def test_it_shows_the_explanation_on_an_admin_page(kb, admin_client):
    question_answer(question=CACHED)

    page = admin_client.get("/admin/explain/", {"question": CACHED}).content.decode()

    assert '<span id="decision">response</span>' in page
    assert "Exact responses: this question was answered before" in page
