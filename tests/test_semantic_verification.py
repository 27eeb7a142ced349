"""Verification of served semantic hits: a sample is queued (never run in the request), answered again without
the cache, and a wrong verdict stops its entry being served to that neighbourhood; the stats show the rate."""

import json
from dataclasses import replace

import pytest
from django_tasks import default_task_backend

from cache_policies import semantic
from cache_policies.models import CachedQuestion, CachePolicy, SemanticVerdict, Verdict
from cache_policies.policies import Policy, policies_changed
from cache_policies.services import semantic_budget_floor_update
from cache_policies.verification import sources_agree, verdict_decide, verification_due
from qa.pipeline import question_answer
from tests.conftest import defaults_create, semantic_policy_edit
from tests.test_semantic_budget import guard_off  # noqa: F401 (a fixture)
from tests.test_semantic_guard import string_kb  # noqa: F401 (guard_off's fixture)
from tests.test_semantic_lookup import cached, nearest

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
# With the guard off (these tests are about what happens after a hit is served) and the threshold at 0.35,
# "split" is served "uppercase"'s answer at 0.39, and "capital" at 0.75 (tests/test_semantic_budget.py measured both).
UPPERCASE = "How do I convert a string to uppercase?"
SPLIT = "How do I split a string on commas?"
CAPITAL = "How do I make every letter of a string a capital?"


@pytest.fixture
def queued(settings):
    """Jobs are recorded, not run (the test process otherwise runs them at once, in the request)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    yield default_task_backend.results
    default_task_backend.clear()


def _verify_share(share: float, **fields) -> None:
    CachePolicy.objects.filter(layer="semantic").update(verify_share=share, **fields)
    policies_changed()


def _verify(result) -> SemanticVerdict:
    """Run a queued verification job here, from its payload as JSON stores it, and read the verdict it wrote."""
    verdict = result.task.call(**json.loads(json.dumps(result.kwargs)))
    return SemanticVerdict.objects.get(verdict=verdict)


def test_it_stops_serving_a_wrongly_served_entry_to_its_neighbourhood(guard_off, queued):
    _verify_share(1.0)
    question_answer(question=UPPERCASE)
    wrong = question_answer(question=SPLIT)
    assert wrong.cache["response"] == "semantic_hit" and len(queued) == 1

    verdict = _verify(queued[0])

    assert verdict.verdict == Verdict.WRONG and verdict.answer_similarity < 0.5, "str.split's sentence, not str.upper's"
    assert verdict.similarity == pytest.approx(wrong.cache["similarity"], abs=1e-4)
    assert (verdict.question, verdict.cached_question) == (SPLIT, "how do i convert a string to uppercase")
    again = question_answer(question=SPLIT)
    assert again.cache["response"] == "miss", "neither its alias nor the entry is served at that distance"
    assert again.answer != wrong.answer
    assert question_answer(question=CAPITAL).cache["response"] == "semantic_hit", "a nearer question still is"
    assert question_answer(question=UPPERCASE).cache["response"] == "hit", "and its own question exactly"


def test_it_keeps_serving_an_entry_verified_the_same(guard_off, queued):
    _verify_share(1.0)
    question_answer(question=UPPERCASE)
    assert question_answer(question=CAPITAL).cache["response"] == "semantic_hit"

    verdict = _verify(queued[0])

    assert (verdict.verdict, verdict.sources_agree, verdict.answer_similarity) == (Verdict.SAME, True, pytest.approx(1.0))
    assert question_answer(question=CAPITAL).cache["response"] == "hit"
    assert question_answer(question="How do I turn every letter of a string into a capital?").cache["response"] == "semantic_hit"


def test_it_queues_verification_only_for_served_semantic_hits_and_runs_none_in_the_request(guard_off, queued):
    _verify_share(1.0)
    miss = question_answer(question=UPPERCASE)
    exact = question_answer(question=UPPERCASE)
    assert (miss.cache["response"], exact.cache["response"], len(queued)) == ("miss", "hit", 0)

    semantic = question_answer(question=CAPITAL)

    assert semantic.cache["response"] == "semantic_hit"
    assert [r.task.name for r in queued] == ["semantic_hit_verify_job"]
    assert queued[0].kwargs == {
        "question": CAPITAL, "answer": semantic.answer, "documents": ["string-methods"],
        "cached_question": "how do i convert a string to uppercase", "response_key": queued[0].kwargs["response_key"],
        "similarity": pytest.approx(semantic.cache["similarity"], abs=1e-4),
    }
    assert not SemanticVerdict.objects.exists(), "the request only queued it"


def test_it_never_verifies_a_no_store_request(guard_off, queued):
    _verify_share(1.0)
    question_answer(question=UPPERCASE)

    assert question_answer(question=CAPITAL, cache_mode="no-store").cache["response"] == "miss"
    assert not queued
    assert not verification_due(policy=_policy(share=1.0), mode="no-store", shared=True)


def test_it_never_verifies_per_user_answers(guard_off, queued):
    _verify_share(1.0, scope="per_user")
    question_answer(question=UPPERCASE, user_id=1)

    own = question_answer(question=CAPITAL, user_id=1)
    other = question_answer(question=CAPITAL, user_id=2)

    assert (own.cache["response"], other.cache["response"]) == ("semantic_hit", "miss")
    assert not queued


def test_it_queues_nothing_with_a_verify_share_of_zero(guard_off, queued):
    _verify_share(0.0)
    question_answer(question=UPPERCASE)

    assert question_answer(question=CAPITAL).cache["response"] == "semantic_hit"
    assert not queued


def _policy(*, share: float) -> Policy:
    return Policy("semantic", True, 3600, "shared", 1, 0.35, 0.3, True, 0.78, 30.0, verify_share=share)


def test_it_samples_the_verify_share_of_hits():
    due = [verification_due(policy=_policy(share=0.25), mode="default", shared=True) for _ in range(4000)]

    assert 0.2 < sum(due) / len(due) < 0.3
    assert not any(verification_due(policy=_policy(share=0.0), mode="default", shared=True) for _ in range(100))


def test_it_calls_a_hit_the_same_only_when_sources_and_answers_agree():
    assert sources_agree(served=["a", "b"], fresh=["b", "a"])
    assert not sources_agree(served=["a", "b"], fresh=["b", "c"]), "the served answer's first source is not cited"
    assert not sources_agree(served=[], fresh=["a"])
    assert verdict_decide(sources_agree=True, answer_similarity=0.75) == Verdict.SAME
    assert verdict_decide(sources_agree=True, answer_similarity=0.74) == Verdict.WRONG
    assert verdict_decide(sources_agree=False, answer_similarity=1.0) == Verdict.WRONG


def _verdicts(*, same: int, wrong: int) -> None:
    for verdict, count in ((Verdict.SAME, same), (Verdict.WRONG, wrong)):
        SemanticVerdict.objects.bulk_create(
            SemanticVerdict(question=f"q{i}", cached_question="c", response_key="k", similarity=0.8,
                            answer_similarity=0.9, sources_agree=True, verdict=verdict)
            for i in range(count)
        )


def test_the_stats_show_the_wrong_rate_with_its_interval_beside_the_budget(admin_client):
    CachePolicy.objects.update_or_create(layer="semantic", defaults={"max_wrong_rate": 0.01})
    _verdicts(same=9, wrong=1)
    semantic_budget_floor_update()  # what the verification job does after each verdict

    page = admin_client.get("/stats/").content.decode()

    # Wilson 95 % of 1 in 10: 1.79 %-40.42 %.
    assert "10.0 % (1 of 10 verified)" in page
    assert "1.8–40.4 %" in page
    assert "1.0 %: over the budget" in page, "even the interval's low end is above 1 %"
    assert "served only above similarity 0.80" in page, "all ten at 0.8: above it, none verified wrong"
    verified = admin_client.get("/api/stats").json()["verified"]
    assert verified == {"verified": 10, "wrong": 1, "interval": pytest.approx([0.0179, 0.4042], abs=1e-4),
                        "budget": 0.01, "verdict": "over the budget", "floor": pytest.approx(0.8)}


def test_the_stats_page_says_when_nothing_was_verified(admin_client):
    assert "No semantic hit verified yet" in admin_client.get("/stats/").content.decode()


def test_it_edits_the_verify_share_in_the_semantic_layers_admin_form(admin_client):
    defaults_create()
    form, page, policy = semantic_policy_edit(admin_client, verify_share=0.05)

    assert 'name="verify_share"' in form and "answered again in the background" in form
    assert "Semantic verified share 0.0% → 5.0%: applies to the next semantic hits" in page
    assert policy.verify_share == 0.05


def test_it_reads_each_candidates_highest_wrong_similarity_in_the_lookup():
    cached("near", t=0.5)   # cos 0.8944 to the query
    cached("far", t=1.0)    # cos 0.7071
    for similarity, verdict in ((0.6, Verdict.WRONG), (0.7, Verdict.WRONG), (0.95, Verdict.SAME)):
        SemanticVerdict.objects.create(question="q", cached_question="near", response_key="resp:near",
                                       similarity=similarity, answer_similarity=0.5, sources_agree=True, verdict=verdict)

    found = {c.entry.question: c.refused_up_to for c in nearest()}

    assert found == {"near": 0.7, "far": None}


def test_the_guard_refuses_an_entry_at_or_beyond_where_it_was_served_wrongly():
    unguarded = replace(_policy(share=0.0), guard_min_overlap=0.0, guard_contrast=False, guard_min_evidence=0.0)

    def rejection(similarity: float) -> str | None:
        entry = CachedQuestion(question="how do i join strings", chunk_ids=[1], document_ids=[1], embedding=[0.0] * 384)
        candidate = semantic.Candidate(entry=entry, similarity=similarity, refused_up_to=0.8)
        return semantic.guard_rejection(candidate=candidate, question="How do I glue strings?", passages=[],
                                        policy=unguarded, embedding=None, sentence_vectors=None, word_vectors=None)

    assert [rejection(s) for s in (0.75, 0.8, 0.81)] == ["verified", "verified", None]


def test_it_lists_the_verdicts_in_the_admin_read_only(admin_client):
    _verdicts(same=0, wrong=1)

    page = admin_client.get("/admin/cache_policies/semanticverdict/").content.decode()

    assert "q0" in page and "Wrong answer served" in page
    assert admin_client.get("/admin/cache_policies/semanticverdict/add/").status_code == 403
