"""The budget kept between derivations: verified hits that show the wrong-answer budget broken raise a floor that
every lookup obeys, through the policy row (PostgreSQL) that reaches every worker; a looser budget or a deleted
wrong verdict lowers it again."""

import pytest

from cache_policies.calibration import budget_floor
from cache_policies.models import CachePolicy, SemanticVerdict, Verdict
from cache_policies.services import semantic_budget_floor_update, semantic_verdict_record
from qa.explain import question_explain
from qa.pipeline import question_answer
from tests.conftest import defaults_create, semantic_policy_edit
from tests.test_semantic_budget import guard_off  # noqa: F401 (a fixture)
from tests.test_semantic_guard import string_kb  # noqa: F401 (guard_off's fixture)
from tests.test_semantic_verification import UPPERCASE

# With the guard off and the threshold at 0.35, each is served UPPERCASE's answer at 0.7-0.8
# (tests/test_semantic_verification.py measured "capital" at 0.75).
CAPITALS = ("How do I make every letter of a string a capital?", "How do I turn every letter of a string into a capital?",
            "How can I make all the letters of a string capitals?")


def test_the_floor_rises_just_above_the_wrong_hits_that_prove_the_budget_broken():
    assert budget_floor(verdicts=[(0.5, True), (0.6, True), (0.9, False), (0.95, False)], max_wrong_rate=0.01) == 0.6
    assert budget_floor(verdicts=[(0.5, True), (0.6, True), (0.9, False), (0.95, False)], max_wrong_rate=0.5) is None, (
        "2 wrong of 4 does not prove a 50 % budget broken")
    assert budget_floor(verdicts=[(0.5, True)] + [(0.9, False)] * 29, max_wrong_rate=0.01) is None, (
        "1 wrong of 30: its Wilson lower bound, 0.6 %, is within 1 %")
    assert budget_floor(verdicts=[], max_wrong_rate=0.01) is None


def _wrong_verdicts(*, similarity: float, count: int) -> None:
    for i in range(count):
        semantic_verdict_record(question=f"elsewhere {i}", cached_question="another entry", response_key=f"resp:other:{i}",
                                similarity=similarity, answer_similarity=0.2, sources_agree=False)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_verified_hits_that_break_the_budget_stop_every_entry_being_served_at_or_below_them(guard_off):
    question_answer(question=UPPERCASE)
    assert question_answer(question=CAPITALS[0]).cache["response"] == "semantic_hit"

    _wrong_verdicts(similarity=0.9, count=2)  # wrong hits of other entries, verified elsewhere

    assert CachePolicy.objects.get(layer="semantic").budget_floor == pytest.approx(0.9)
    [candidate] = question_explain(question=CAPITALS[1]).candidates
    failed = [(c["name"], c["detail"]) for c in candidate.checks if not c["passed"]]
    assert failed == [("budget", f"{candidate.similarity:.2f} <= 0.90, at or below which verified hits break the 1.0% budget")]
    assert question_answer(question=CAPITALS[1]).cache["response"] == "miss"

    CachePolicy.objects.filter(layer="semantic").update(max_wrong_rate=0.9)
    assert semantic_budget_floor_update() is None, "2 wrong of 2 does not prove a 90 % budget broken"
    assert question_answer(question=CAPITALS[2]).cache["response"] == "semantic_hit"


def test_the_admin_sets_the_floor_when_the_budget_is_edited_and_when_a_wrong_verdict_is_deleted(admin_client):
    if not CachePolicy.objects.exists():  # a transactional test before this one flushed what the migrations made
        defaults_create()
    for similarity in (0.8, 0.85):
        SemanticVerdict.objects.create(question="q", cached_question="c", response_key="resp:c", similarity=similarity,
                                       answer_similarity=0.2, sources_agree=False, verdict=Verdict.WRONG)

    _, page, policy = semantic_policy_edit(admin_client, max_wrong_rate=0.02)

    assert policy.budget_floor == pytest.approx(0.85)
    assert "Semantic budget floor 0.85: the verified hits show the budget broken at or below it" in page
    stats = admin_client.get("/stats/").content.decode()
    assert "served only above similarity 0.85" in stats

    wrongest = SemanticVerdict.objects.get(similarity=0.85)
    admin_client.post(f"/admin/cache_policies/semanticverdict/{wrongest.pk}/delete/", {"post": "yes"})

    assert CachePolicy.objects.get(layer="semantic").budget_floor == pytest.approx(0.8), "the operator disagreed with it"
