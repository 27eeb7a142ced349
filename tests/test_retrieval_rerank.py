"""Reranked retrieval on really embedded documents: the question's words count beside a chunk's cosine,
scores stay the cosine the semantic guard reads, and the bounds say what a new chunk must beat."""

import pytest
from django.db import connection

from cache_policies import keys
from qa import providers
from qa.models import Chunk
from qa.retrieval import ChunkTerms, chunk_rank, chunk_search, passages_retrieve, pool_size, question_terms
from qa.services import document_ingest

QUESTION = "How do I remove whitespace from both ends of a string?"
# A chunk in other words that MiniLM finds nearer (cosine 0.61), and one that names what is asked (0.44).
TRIM = "To trim blanks around text, call the method that drops spaces at the start and end."
TABLE = "The table covers string formatting, encoding and the methods that remove whitespace from both ends or one end."


def _documents_ingest(**contents: str) -> None:
    for slug, content in contents.items():
        document_ingest(slug=slug, title=slug.title(), content=content)
    # Other tests' rolled-back ingests leave dead entries in the HNSW graph, which a search of a two-row
    # table may meet instead of the live rows (pgvector 0.6 has no iterative scan).
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {Chunk._meta.db_table}")


@pytest.fixture
def two_documents(transactional_db):
    _documents_ingest(trim=TRIM, table=TABLE)


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
    assert keys.retrieval_part(top_k=5, pool=20, named_pool=40, rank=3) == "k5of20n40r3"
    assert keys.retrieval_part(top_k=5, pool=20, named_pool=20, rank=3) == "k5of20r3"
    reranked, plain, older = (
        keys.retrieval_key(namespace=1, kb_version=1, embedding_model="m", retrieval=r, text="q")
        for r in ("k5of20r2", "k5r2", "k5of20r1")
    )
    assert len({reranked, plain, older}) == 3, "a retrieval cached by another shape or rank is never read"


NAMED = "What does dict.setdefault do?"
ENTRY = "setdefault(key[, default])\n\nIf key is in the dictionary, return its value. If not, insert key with a value of default."
NEIGHBOUR = "What a dict does: a dict stores values under keys and finds them again quickly."


@pytest.fixture
def entry_and_neighbour(transactional_db):
    _documents_ingest(entry=ENTRY, neighbour=NEIGHBOUR)


def test_a_question_that_names_code_is_answered_from_a_wider_pool_where_its_entry_can_be_found(
    entry_and_neighbour, settings
):
    settings.RETRIEVAL_POOL, settings.RETRIEVAL_POOL_NAMED = 1, 2
    vector, nearest = _asked(NAMED)
    assert max(nearest, key=lambda slug: nearest[slug].score) == "neighbour", "the premise: cosine prefers the neighbour"

    named = passages_retrieve(question=NAMED, embedding=vector, k=1)
    settings.RETRIEVAL_POOL_NAMED = 1
    narrow = passages_retrieve(question=NAMED, embedding=vector, k=1)

    assert [p.document_slug for p in named.passages] == ["entry"]
    assert named.bounds.floor == pytest.approx(nearest["entry"].score), "the pool it drew, both chunks, bounds it"
    assert [p.document_slug for p in narrow.passages] == ["neighbour"], "drawn from the nearest one, the entry is never seen"


def test_only_a_question_that_names_code_draws_the_wider_pool(settings):
    settings.RETRIEVAL_POOL, settings.RETRIEVAL_POOL_NAMED = 20, 40

    assert pool_size(asked=question_terms(question="What does str.join do?")) == 40
    assert pool_size(asked=question_terms(question="How do I join strings?")) == 20
