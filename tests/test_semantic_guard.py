import numpy as np
import pytest
from pydoc_data.topics import topics

from cache_policies import contrast, semantic
from bench.evaluation import Pair, PairOutcome, hit_rates, pair_evaluate, threshold_recommend, threshold_sweep
from cache_policies.models import CachedQuestion, CachePolicy
from cache_policies.policies import Policy, policies_changed
from qa.providers.base import Passage
from qa.providers.word_vectors import word_vectors
from qa.services import chunk_sentence_vectors

GUARD = Policy("semantic", True, 3600, "shared", 1, 0.35, 0.3, True, 0.78, 30.0)
QUESTION_VECTOR = np.zeros(384, dtype=np.float32)  # these checks refuse before the evidence step reads it


def passage(chunk_id: int, document_id: int) -> Passage:
    return Passage(chunk_id, document_id, f"doc{document_id}", "Doc", 1, "text", 0.5)


def candidate(question: str, *, similarity: float, chunk_ids: list[int], document_ids: list[int]) -> semantic.Candidate:
    entry = CachedQuestion(question=question, chunk_ids=chunk_ids, document_ids=document_ids, embedding=[0.0] * 384)
    return semantic.Candidate(entry=entry, similarity=similarity)


def test_it_extracts_the_features_that_flip_a_meaning():
    features = contrast.contrast_features("Why is x << 2 not the same as `a.b`?")

    assert features["negation"] == {"not"}
    assert features["number"] == {"2"}
    assert features["operator"] == {"<<"}
    assert features["code"] == {"a.b"}


def test_it_does_not_read_a_hyphenated_word_as_minus():
    assert contrast.contrast_features("What are keyword-only arguments?")["operator"] == frozenset()
    assert contrast.contrast_conflict("What are keyword-only arguments?", "What does a bare * in a def do?") is None


def test_it_names_the_feature_that_differs():
    assert contrast.contrast_conflict("What does break do?", "What does break not do?") == "negation"
    assert contrast.contrast_conflict("What is x << n?", "What is x >> n?") == "operator"
    assert contrast.contrast_conflict("What is __getattr__ for?", "What is __setattr__ for?") == "dunder"
    assert contrast.contrast_conflict("What does 2 ** 10 return?", "What does 2 ** 3 return?") == "number"


def test_it_keeps_only_content_words_and_keywords_named_as_such():
    assert contrast.content_words("What does the with statement do?") == ["with", "statement"]
    assert contrast.content_words("How do I loop with an index?") == ["loop", "index"]


def test_it_sees_a_one_word_swap_but_not_a_rewording():
    assert contrast.slot_swap("How do I convert a string to uppercase?", "How do I convert a string to lowercase?")
    assert contrast.slot_swap("How does slicing with a step work?", "How does slicing with a negative start index work?")
    assert not contrast.slot_swap("What is a generator?", "Explain what Python generators are.")
    assert not contrast.slot_swap("How do I iterate over a dict?", "How do I iterate over dictionaries?")


def test_it_sees_opposites_swapped_in_a_near_copy():
    assert contrast.contrast_conflict("How does bitwise and work?", "How does bitwise or work?") == "opposite"
    assert contrast.contrast_conflict("How do I warm up before running?", "How do I cool down after running?") == "opposite"
    assert contrast.contrast_conflict("How does bitwise and work?", "What does bitwise and do?") is None


def test_it_sees_the_same_words_in_the_other_direction():
    assert contrast.contrast_conflict("How do I convert Celsius to Fahrenheit?", "How do I convert Fahrenheit to Celsius?") == "direction"
    assert contrast.contrast_conflict("Is a list faster than a tuple?", "Is a tuple faster than a list?") == "direction"
    # No direction in "and"; the same direction, worded otherwise, is no conflict.
    assert contrast.contrast_conflict("How do a list and a tuple differ?", "How do a tuple and a list differ?") is None
    assert contrast.contrast_conflict("What is the formula from Celsius to Fahrenheit?", "How do I convert Celsius to Fahrenheit?") is None


def test_it_sees_a_qualifier_that_narrows_the_question():
    assert contrast.contrast_conflict("How does slicing work?", "How does slicing with a negative step work?") == "narrower"
    assert contrast.contrast_conflict("How do I define a class?", "How do I define a class in Python?") is None
    assert contrast.contrast_conflict("How do I define a class?", "How do I define a class when using Python?") is None


def test_it_refuses_a_one_word_contrast_that_retrieves_the_same_chunks():
    cached = candidate("which values are considered false", similarity=0.87, chunk_ids=[7, 8], document_ids=[1, 1])

    rejection = semantic.guard_rejection(
        candidate=cached, question="Which values are considered true?", passages=[passage(7, 1), passage(8, 1)], policy=GUARD,
        embedding=QUESTION_VECTOR, sentence_vectors=chunk_sentence_vectors, word_vectors=word_vectors,
    )

    assert rejection == "content"


def test_it_refuses_a_candidate_whose_best_chunk_the_question_did_not_retrieve():
    cached = candidate("how do i join strings", similarity=0.9, chunk_ids=[7, 8], document_ids=[1, 1])

    rejection = semantic.guard_rejection(
        candidate=cached, question="How do I glue strings together?", passages=[passage(9, 1), passage(10, 1)], policy=GUARD,
        embedding=QUESTION_VECTOR, sentence_vectors=chunk_sentence_vectors, word_vectors=word_vectors,
    )

    assert rejection == "retrieval"


def test_it_sweeps_thresholds_from_recorded_outcomes():
    outcomes = [
        PairOutcome(Pair("a", "b", True), served=True, similarity=0.8, rejection=None),
        PairOutcome(Pair("a", "c", True), served=False, similarity=0.4, rejection=None),
        PairOutcome(Pair("a", "d", False), served=False, similarity=0.5, rejection=None),
        PairOutcome(Pair("a", "e", False), served=False, similarity=0.9, rejection="content"),
    ]

    sweep = {row.threshold: row for row in threshold_sweep(outcomes=outcomes, thresholds=[0.3, 0.45, 0.55])}

    assert (sweep[0.3].same_hit_rate, sweep[0.3].false_hit_rate) == (1.0, 0.5)
    assert (sweep[0.45].same_hit_rate, sweep[0.45].false_hit_rate) == (0.5, 0.5)
    assert (sweep[0.55].same_hit_rate, sweep[0.55].false_hit_rate) == (0.5, 0.0)
    assert threshold_recommend(sweep=list(sweep.values()), target_false_hit=0.0).threshold == 0.55
    assert hit_rates(outcomes=outcomes) == (0.5, 0.0)


@pytest.fixture
def string_kb(redis_conn):
    from qa.services import document_ingest

    for slug in ("string-methods", "typesseq", "try", "exceptions"):
        document_ingest(slug=slug, title=slug, content=topics[slug])
    # A transactional test empties the tables afterwards, the migrated policy rows with them.
    CachePolicy.objects.update_or_create(layer="response", defaults={"enabled": True})
    CachePolicy.objects.update_or_create(
        layer="semantic", defaults={"enabled": True, "similarity_threshold": 0.35, "guard_min_overlap": 0.3, "guard_contrast": True},
    )
    policies_changed()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_it_serves_a_paraphrase_and_refuses_a_contrast_through_the_live_layer(string_kb):
    paraphrase = pair_evaluate(pair=Pair(
        "How do I split a string into a list of words?", "How can I break a string into a list of its words?", True,
    ))
    contrast = pair_evaluate(pair=Pair("How do I convert a string to uppercase?", "How do I convert a string to lowercase?", False))

    assert paraphrase.served and paraphrase.rejection is None
    assert not contrast.served and contrast.rejection == "content"
    assert contrast.similarity > 0.85
    assert not CachedQuestion.objects.exists()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_it_reports_rates_and_a_threshold_from_the_command(string_kb, tmp_path):
    import json
    from io import StringIO

    from django.core.management import call_command

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in [
        {"a": "How do I split a string into a list of words?", "b": "How can I break a string into a list of its words?", "same": True},
        {"a": "Which values are considered false?", "b": "Which values are considered true?", "same": False},
    ]))
    out = StringIO()

    call_command("semantic_eval", "--pairs", str(pairs), "--verbosity", "0", stdout=out)

    assert out.getvalue().strip() == (
        "Done! 2 pairs: same-answer hit rate 100% of 1, false-hit rate 0% of 1; recommended threshold 0.30"
    )
