"""Sentence vectors for the semantic guard's evidence check: stored at ingest, read in one query, healed when missing."""

import numpy as np
import pytest

from cache_policies import semantic
from qa import providers
from qa.chunking import chunk_sentences
from qa.models import ChunkSentence
from qa.retrieval import chunk_search
from qa.selectors import chunk_sentence_embeddings
from qa.services import chunk_sentence_vectors, chunk_sentences_store, document_delete, document_ingest, document_reembed

WITH = "The with statement wraps a block. It calls __enter__ first. It calls __exit__ when the block ends."


@pytest.fixture
def embed_calls(monkeypatch):
    """The texts of every embedder call, in order; the embedder itself runs as usual."""
    calls: list[list[str]] = []
    embedder = providers.embedder()
    embed = embedder.embed

    def counted(texts):
        calls.append(list(texts))
        return embed(texts)

    monkeypatch.setattr(embedder, "embed", counted)
    return calls


def evidence(*, question: str, cached_question: str) -> float:
    """The evidence agreement of two questions over the chunks each retrieves from the knowledge base."""
    vector, cached_vector = providers.embedder().embed([question, cached_question])
    cached = chunk_search(embedding=cached_vector, k=3)
    return semantic.evidence_agreement(
        cached_embedding=cached_vector,
        cached_chunk_ids=[p.chunk_id for p in cached],
        embedding=vector,
        passages=chunk_search(embedding=vector, k=3),
        sentence_vectors=chunk_sentence_vectors,
    )


@pytest.mark.django_db
def test_it_stores_a_unit_vector_per_sentence_at_ingest(embed_calls):
    document, _ = document_ingest(slug="with", title="with", content=WITH)

    chunk = document.chunks.get()
    sentences = chunk_sentences(text=chunk.text)
    vectors = chunk_sentence_embeddings(chunk_ids=[chunk.id])[chunk.id]
    assert len(sentences) == 3 and chunk.sentences.count() == 3
    assert embed_calls == [[chunk.text], sentences]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Stored as 4-bit codes (qa/sentence_codec.py): the direction within a cosine of 0.98 of the sentence's own.
    fresh = providers.embedder().embed([sentences[1]])[0]
    assert vectors[1] @ fresh > 0.98


@pytest.mark.django_db
def test_it_embeds_nothing_for_an_unchanged_document_and_replaces_sentences_on_reembed(embed_calls):
    document, _ = document_ingest(slug="with", title="with", content=WITH)
    old_rows = set(ChunkSentence.objects.values_list("id", flat=True))

    document_ingest(slug="with", title="with", content=WITH)
    assert len(embed_calls) == 2 and set(ChunkSentence.objects.values_list("id", flat=True)) == old_rows

    document = document_reembed(document=document)
    assert set(ChunkSentence.objects.values_list("chunk_id", flat=True)) == {document.chunks.get().id}
    assert old_rows.isdisjoint(ChunkSentence.objects.values_list("id", flat=True))


def test_it_checks_evidence_without_embedding_a_sentence(kb, embed_calls):
    agreement = evidence(question="What does the with statement do?", cached_question="Explain the with statement")

    assert 0.0 < agreement <= 1.0
    assert [len(texts) for texts in embed_calls] == [2]  # the two questions, nothing else


def test_it_heals_a_chunk_ingested_before_sentences_were_stored(kb, embed_calls):
    question, cached_question = "What does the with statement do?", "Explain the with statement"
    stored = evidence(question=question, cached_question=cached_question)
    with_chunk = kb["with"].chunks.get()
    ChunkSentence.objects.filter(chunk=with_chunk).delete()

    healed = evidence(question=question, cached_question=cached_question)
    again = evidence(question=question, cached_question=cached_question)

    assert healed == pytest.approx(stored) and again == pytest.approx(stored)
    questions = [question, cached_question]
    assert embed_calls == [questions, questions, chunk_sentences(text=with_chunk.text), questions]
    assert with_chunk.sentences.count() == len(chunk_sentences(text=with_chunk.text))


@pytest.mark.django_db(transaction=True)
def test_it_stores_nothing_for_a_chunk_whose_document_is_deleted_while_its_sentences_are_embedded(monkeypatch):
    document, _ = document_ingest(slug="with", title="with", content=WITH)
    chunk_id = document.chunks.get().id
    ChunkSentence.objects.all().delete()
    embedder = providers.embedder()
    embed = embedder.embed

    def embed_while_deleting(texts):
        document_delete(document=document)
        return embed(texts)

    monkeypatch.setattr(embedder, "embed", embed_while_deleting)

    assert chunk_sentences_store(chunk_ids=[chunk_id]) == {}
    assert not ChunkSentence.objects.exists()
