"""Reranked retrieval on really embedded documents: the question's words count beside a chunk's cosine,
scores stay the cosine the semantic guard reads, and the bounds say what a new chunk must beat."""

import pytest
from django.db import connection

from cache_policies import keys
from qa import providers
from qa.models import Chunk
from qa.retrieval import ChunkTerms, chunk_rank, chunk_search, passages_retrieve, question_terms
from qa.services import document_ingest

QUESTION = "How do I remove whitespace from both ends of a string?"
# A chunk in other words that MiniLM finds nearer (cosine 0.61), and one that names what is asked (0.44).
TRIM = "To trim blanks around text, call the method that drops spaces at the start and end."
TABLE = "The table covers string formatting, encoding and the methods that remove whitespace from both ends or one end."


@pytest.fixture
def two_documents(transactional_db):
    document_ingest(slug="trim", title="Trim", content=TRIM)
    document_ingest(slug="table", title="Table", content=TABLE)
    # Other tests' rolled-back ingests leave dead entries in the HNSW graph, which a search of a two-row
    # table may meet instead of the live rows (pgvector 0.6 has no iterative scan).
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {Chunk._meta.db_table}")


def _asked(question: str):
    vector = providers.embedder().embed([question])[0]
    return vector, {p.document_slug: p for p in chunk_search(embedding=vector, k=2)}


def test_the_question_s_words_lift_a_chunk_that_names_them(two_documents):
    vector, nearest = _asked(QUESTION)

    ranked = passages_retrieve(question=QUESTION, embedding=vector, k=2)

    by_cosine = sorted(nearest, key=lambda slug: -nearest[slug].score)
    assert by_cosine == ["trim", "table"], "the premise: cosine alone prefers the paraphrase"
    assert [p.document_slug for p in ranked.passages] == ["table", "trim"]
    assert {p.document_slug: p.score for p in ranked.passages} == {s: p.score for s, p in nearest.items()}, (
        "the reranker orders; each passage keeps its cosine")


def test_a_rank_is_the_cosine_plus_half_the_share_of_the_question_s_words():
    asked = question_terms(question="What does setdefault do to a missing KEY?")

    assert asked.terms == {"setdefault", "missing", "key"}
    assert asked.names == set(), "a bare word is not a name in code"
    inserts, unrelated = ChunkTerms(text="setdefault inserts a key"), ChunkTerms(text="nothing in common")
    assert chunk_rank(asked=asked, cosine=0.4, chunk=inserts) == pytest.approx(0.4 + 0.5 * 2 / 3)
    assert chunk_rank(asked=asked, cosine=0.4, chunk=unrelated) == pytest.approx(0.4)


def test_a_chunk_where_the_entry_of_a_name_the_question_asks_about_starts_ranks_higher():
    asked = question_terms(question="What does dict.setdefault do?")
    entry = "New in version 3.8.\n\nsetdefault(key[, default])\n\nIf *key* is in the dictionary, return its value."
    mention = "Use setdefault(key, []) when every key holds a list."

    assert asked.names == {"setdefault"}
    assert chunk_rank(asked=asked, cosine=0.4, chunk=ChunkTerms(text=entry)) == pytest.approx(0.4 + 0.5 * 1 / 2 + 0.3)
    assert chunk_rank(asked=asked, cosine=0.4, chunk=ChunkTerms(text=mention)) == pytest.approx(0.4 + 0.5 * 1 / 2), (
        "a name used in running text does not start its entry")


def test_the_bounds_say_what_a_new_chunk_must_beat(two_documents, settings):
    question = QUESTION
    vector, nearest = _asked(question)

    settings.RETRIEVAL_POOL = 2
    full = passages_retrieve(question=question, embedding=vector, k=1)
    settings.RETRIEVAL_POOL = 5
    with_room = passages_retrieve(question=question, embedding=vector, k=1)

    (chosen,) = full.passages
    other = next(p for p in nearest.values() if p.chunk_id != chosen.chunk_id)
    assert full.bounds.floor == pytest.approx(min(p.score for p in nearest.values()))
    assert full.bounds.rank_floor == pytest.approx(
        chunk_rank(asked=question_terms(question=question), cosine=chosen.score, chunk=ChunkTerms(text=chosen.text)))
    assert full.bounds.slack == (1 if other.score < chosen.score else 0)
    assert with_room.bounds.floor == -1.0, "a pool with room takes any new chunk"
    assert with_room.bounds.slack == full.bounds.slack + 3


def test_the_keys_name_how_passages_were_chosen():
    assert keys.retrieval_part(top_k=5, pool=20, rank=2) == "k5of20r2"
    assert keys.retrieval_part(top_k=5, pool=5, rank=2) == "k5r2"
    reranked, plain, older = (
        keys.retrieval_key(namespace=1, kb_version=1, embedding_model="m", retrieval=r, text="q")
        for r in ("k5of20r2", "k5r2", "k5of20r1")
    )
    assert len({reranked, plain, older}) == 3, "a retrieval cached by another shape or rank is never read"
