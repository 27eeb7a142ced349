"""Retrieval by cosine distance in pgvector: order on hand-checkable vectors, recall on the sample KB."""

import json
from pathlib import Path

import numpy as np
import pytest

from qa.models import Chunk, Document
from qa.retrieval import chunk_search, passages_by_ids


def _vector(x: float, y: float, z: float) -> np.ndarray:
    """A 384-d vector living in its first three dimensions, so distances check by hand."""
    v = np.zeros(384, dtype=np.float32)
    v[:3] = (x, y, z)
    return v


@pytest.fixture
def three_chunks(db):
    doc = Document.objects.create(title="T", slug="t", content="abc", content_hash="x")
    return {
        name: Chunk.objects.create(document=doc, ordinal=i, text=name, embedding=_vector(*vec))
        for i, (name, vec) in enumerate({"east": (1, 0, 0), "north": (0, 1, 0), "northeast": (1, 1, 0)}.items())
    }


@pytest.mark.django_db
def test_it_orders_chunks_by_cosine_similarity(three_chunks):
    found = chunk_search(embedding=_vector(1, 0.2, 0), k=3)
    assert [p.text for p in found] == ["east", "northeast", "north"]
    # cos((1,.2,0),(1,0,0)) = 1/sqrt(1.04) = 0.98058; with (1,1,0): 1.2/sqrt(2.08) = 0.83205
    assert found[0].score == pytest.approx(0.98058, abs=1e-4)
    assert found[1].score == pytest.approx(0.83205, abs=1e-4)


@pytest.mark.django_db
def test_it_returns_no_more_than_k(three_chunks):
    assert len(chunk_search(embedding=_vector(0, 1, 0), k=2)) == 2


@pytest.mark.django_db
def test_it_refuses_cached_ids_of_chunks_that_are_gone(three_chunks):
    ids = [(three_chunks["east"].id, 0.9), (three_chunks["north"].id, 0.5)]
    assert [p.text for p in passages_by_ids(scored_ids=ids)] == ["east", "north"]
    three_chunks["north"].delete()
    assert passages_by_ids(scored_ids=ids) is None


@pytest.mark.slow
@pytest.mark.django_db
def test_it_finds_the_expected_topic_in_the_top_five_for_most_questions(capsys):
    from django.core.management import call_command

    from qa.providers import embedder

    call_command("ingest", "--sample", verbosity=0)
    cases = [json.loads(line) for line in (Path(__file__).parent / "data" / "recall_questions.jsonl").open()]
    vectors = embedder().embed([c["q"] for c in cases])
    found = [c["topic"] in {p.document_slug for p in chunk_search(embedding=v, k=5)} for c, v in zip(cases, vectors)]
    recall = sum(found) / len(found)
    with capsys.disabled():
        print(f"\nrecall@5 on {len(cases)} questions: {recall:.2f}; missed: "
              f"{[c['topic'] for c, ok in zip(cases, found) if not ok]}")
    assert recall >= 0.8
