"""The guard's word alignment: a near-copy that changes the words that matter is refused, a paraphrase is not."""

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pytest

from bench.evaluation import Pair, pair_evaluate
from cache_policies import contrast, keys, semantic
from cache_policies.models import CachedQuestion, CachePolicy
from cache_policies.policies import Policy, policies_changed
from qa.providers.word_vectors import word_vectors
from qa.services import chunk_sentence_vectors
from tests.conftest import semantic_policy_edit
from tests.test_semantic_guard import string_kb  # noqa: F401 (a fixture)

# Only the similarity, contrast and alignment checks: every question is off-topic, so retrieval and evidence are
# not asked.
ALIGNED = Policy("semantic", True, 3600, "shared", 1, 0.35, 0.0, True, 0.0, 30.0, guard_min_alignment=0.30,
                 guard_alignment_below=1.0)
CATCH = "How do I catch several exceptions in a single except clause?"
RAISE = "How do I raise a new exception from inside an except clause?"  # a wrong hit the other checks let through
PARAPHRASE = "How can one except clause catch multiple exceptions?"


@dataclass(frozen=True)
class Retrieved:
    chunk_id: int
    document_id: int
    score: float


def _checks(
    question: str, *, cached: str, policy: Policy, best_passage: float | None = None,
) -> Iterator[semantic.GuardCheck]:
    """The guard's checks, computed as they are read (as the lookup does: the first refusal stops it)."""
    entry = CachedQuestion(question=keys.normalize_text(cached), chunk_ids=[], document_ids=[], embedding=[0.0] * 384)
    passages = [] if best_passage is None else [Retrieved(1, 1, best_passage), Retrieved(2, 1, best_passage / 2)]
    return semantic.guard_checks(
        candidate=semantic.Candidate(entry=entry, similarity=0.9), question=question, passages=passages, policy=policy,
        embedding=np.zeros(384, dtype=np.float32), sentence_vectors=chunk_sentence_vectors, word_vectors=word_vectors,
    )


def _rejection(question: str, *, cached: str, policy: Policy, best_passage: float | None = None) -> str | None:
    checks = _checks(question, cached=cached, policy=policy, best_passage=best_passage)
    return next((check.name for check in checks if not check.passed), None)


def test_it_refuses_a_near_copy_whose_changed_words_have_no_counterpart():
    assert _rejection(RAISE, cached=CATCH, policy=ALIGNED) == "alignment"
    assert _rejection(PARAPHRASE, cached=CATCH, policy=ALIGNED) is None


def test_it_scores_matching_words_higher_than_swapped_ones():
    paraphrase = semantic.word_alignment(question=PARAPHRASE, cached_question=CATCH, word_vectors=word_vectors)
    swapped = semantic.word_alignment(question=RAISE, cached_question=CATCH, word_vectors=word_vectors)
    reworded = semantic.word_alignment(
        question="Explain how the with statement works", cached_question="How does the with statement work?",
        word_vectors=word_vectors,
    )

    assert swapped < 0.30 <= paraphrase < reworded == 1.0


def test_it_runs_no_model_when_the_questions_use_the_same_words():
    def unused(**_):
        raise AssertionError("the word vectors were computed")

    reordered = semantic.word_alignment(
        question="Explain how the with statement works", cached_question="how does the with statement work",
        word_vectors=unused,
    )

    assert reordered == 1.0


def test_it_asks_for_alignment_only_where_the_knowledge_base_has_nothing_close():
    off_topic = replace(ALIGNED, guard_alignment_below=0.35)

    assert _rejection(RAISE, cached=CATCH, policy=off_topic, best_passage=0.20) == "alignment"
    [alignment] = [c for c in _checks(RAISE, cached=CATCH, policy=off_topic, best_passage=0.62) if c.name == "alignment"]
    assert alignment.passed and alignment.detail.startswith("not asked: best passage 0.62 >= 0.35")
    assert _rejection(RAISE, cached=CATCH, policy=replace(off_topic, guard_alignment_below=1.0), best_passage=0.62) == "alignment"


def test_it_decides_an_off_topic_question_on_similarity_and_words_not_on_sources():
    guarded = replace(ALIGNED, guard_alignment_below=0.35, guard_min_overlap=0.3, guard_min_evidence=0.78,
                      guard_off_topic_similarity=0.75)
    # The cached entry shares no source with the passages: in the domain that refuses it.
    assert _rejection(PARAPHRASE, cached=CATCH, policy=guarded, best_passage=0.62) == "retrieval"
    # Off the knowledge base's topics the sources are not asked; similarity (0.9 here) and alignment decide.
    off_topic = list(_checks(PARAPHRASE, cached=CATCH, policy=guarded, best_passage=0.20))
    assert [c.name for c in off_topic] == ["similarity", "off-topic", "contrast", "alignment"]
    assert all(c.passed for c in off_topic)
    assert _rejection(PARAPHRASE, cached=CATCH, policy=replace(guarded, guard_off_topic_similarity=0.95),
                      best_passage=0.20) == "off-topic"
    assert _rejection(RAISE, cached=CATCH, policy=guarded, best_passage=0.20) == "alignment"


def test_it_skips_the_alignment_check_at_zero():
    assert _rejection(RAISE, cached=CATCH, policy=replace(ALIGNED, guard_min_alignment=0.0)) is None


def test_it_reads_a_keyword_beside_a_code_keyword_as_content():
    assert contrast.content_words("What does async for do?") == ["async", "for"]
    assert contrast.content_words("What is a lambda expression?") == ["lambda", "expression"]
    assert contrast.contrast_conflict("What does yield do?", "What does yield from do?") == "content"
    assert contrast.contrast_conflict("What does import x as y do?", "What does from x import y do?") == "content"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_it_refuses_the_near_copy_through_the_live_layer_until_the_check_is_off(string_kb):  # noqa: F811
    # On by default (0.30), asked of off-topic questions only (best passage below 0.35); asked of every one here,
    # since these questions' best passages in the string KB score above that.
    assert CachePolicy.objects.filter(layer="semantic", guard_min_alignment=0.30, guard_alignment_below=0.35).exists()
    CachePolicy.objects.filter(layer="semantic").update(guard_alignment_below=1.0)
    policies_changed()
    refused = pair_evaluate(pair=Pair(CATCH, RAISE, False))
    CachePolicy.objects.filter(layer="semantic").update(guard_min_alignment=0)
    policies_changed()
    unguarded = pair_evaluate(pair=Pair(CATCH, RAISE, False))

    assert not refused.served and refused.rejection == "alignment"
    assert unguarded.served and unguarded.rejection is None


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_it_serves_a_general_paraphrase_the_knowledge_base_knows_nothing_about(string_kb):  # noqa: F811
    # The string KB's passages answer neither question; they used to decide (and refuse) this pair.
    CachePolicy.objects.filter(layer="semantic").update(guard_min_alignment=0.30, guard_alignment_below=0.35,
                                                        guard_off_topic_similarity=0.75)
    policies_changed()
    served = pair_evaluate(pair=Pair("Why is the sky blue?", "What makes the sky look blue?", True))
    different = pair_evaluate(pair=Pair("How do I convert Celsius to Fahrenheit?",
                                        "How do I convert Fahrenheit to Celsius?", False))

    assert served.served and served.rejection is None
    assert not different.served and different.rejection == "direction"


@pytest.mark.redis
@pytest.mark.django_db
def test_it_edits_the_alignment_cut_in_the_admin(admin_client):
    form, page, policy = semantic_policy_edit(admin_client, guard_min_alignment=0.45)

    assert 'name="guard_min_alignment"' in form and "raise a new exception" in form
    assert "Semantic guard: word alignment 0.3 → 0.45: applies to the next lookups" in page
    assert policy.guard_min_alignment == 0.45
