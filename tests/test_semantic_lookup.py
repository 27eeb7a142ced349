"""The semantic lookup: nearest cached questions from pgvector, the vector sent in binary, rows read as tuples.

Vectors are 384-d with all weight on the first two axes, so each cosine is checked by hand:
cos(e0, (e0 + t·e1)/|…|) = 1/sqrt(1 + t²).
"""

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone
from psycopg.adapt import PyFormat

from cache_policies import semantic
from cache_policies.models import CachedQuestion
from cache_policies.pgvector_binary import binary_cursor

pytestmark = pytest.mark.django_db


def tilted(t: float) -> np.ndarray:
    vector = np.zeros(384, dtype=np.float32)
    vector[0], vector[1] = 1.0, t
    return vector / np.linalg.norm(vector)


def cached(question: str, *, t: float, namespace: str = "ns", scope: str = "shared", **fields) -> CachedQuestion:
    return CachedQuestion.objects.create(
        namespace=namespace, scope=scope, question=question, embedding=tilted(t), response_key=f"resp:{question}",
        chunk_ids=[1, 2], document_ids=[7], kth_score=0.5, **fields,
    )


def nearest(*, namespace: str = "ns", scope: str = "shared", threshold: float = 0.5) -> list[semantic.Candidate]:
    return semantic.candidates_nearest(namespace=namespace, scope=scope, embedding=tilted(0.0), threshold=threshold)


def test_it_returns_the_nearest_questions_first_with_their_similarity():
    cached("far", t=1.0)      # cos 0.7071
    cached("exact", t=0.0)    # cos 1.0
    cached("near", t=0.5)     # cos 0.8944

    found = nearest()

    assert [c.entry.question for c in found] == ["exact", "near", "far"]
    assert [round(c.similarity, 4) for c in found] == [1.0, 0.8944, 0.7071]
    assert found[1].entry.response_key == "resp:near"
    assert (found[1].entry.chunk_ids, found[1].entry.document_ids) == ([1, 2], [7])


def test_it_leaves_out_questions_below_the_threshold():
    cached("near", t=0.5)     # cos 0.8944
    cached("far", t=1.0)      # cos 0.7071

    assert [c.entry.question for c in nearest(threshold=0.89)] == ["near"]
    assert nearest(threshold=0.9) == []


def test_it_returns_at_most_the_candidate_limit():
    for i in range(semantic.CANDIDATES + 2):
        cached(f"q{i}", t=0.1 * i)

    assert [c.entry.question for c in nearest()] == [f"q{i}" for i in range(semantic.CANDIDATES)]


def test_it_never_returns_another_namespace_or_scope():
    cached("other namespace", t=0.0, namespace="other")
    cached("other scope", t=0.0, scope="user:42")
    cached("mine", t=0.5)

    assert [c.entry.question for c in nearest()] == ["mine"]
    assert [c.entry.question for c in nearest(scope="user:42")] == ["other scope"]


def test_it_skips_expired_questions():
    cached("expired", t=0.0, expires_at=timezone.now() - timedelta(seconds=1))
    cached("kept", t=0.5, expires_at=timezone.now() + timedelta(hours=1))

    assert [c.entry.question for c in nearest()] == ["kept"]


def test_it_reads_a_candidates_embedding_only_when_asked(django_assert_num_queries):
    row = cached("near", t=0.5)
    entry = nearest()[0].entry

    with django_assert_num_queries(1):
        embedding = entry.embedding
        assert entry.embedding is embedding  # fetched once

    assert np.allclose(embedding, row.embedding, atol=1e-7)


def test_it_sends_the_query_vector_to_pgvector_in_binary():
    vector = tilted(0.5)
    with binary_cursor() as cursor:
        dumper = cursor.adapters.get_dumper(np.ndarray, PyFormat.BINARY)(np.ndarray)
        sent = dumper.dump(vector)
        cursor.execute("SELECT oid FROM pg_type WHERE typname = 'vector'")
        vector_oid = cursor.fetchone()[0]
        # The same vector as pgvector's text literal: it reads both as one value.
        cursor.execute("SELECT %b <=> %s::vector, pg_typeof(%b)::text", [vector, str(vector.tolist()), vector])
        distance, sent_as = cursor.fetchone()

    assert dumper.oid == vector_oid
    assert bytes(sent[:4]) == (384).to_bytes(2, "big") + b"\0\0" and len(sent) == 4 + 4 * 384
    assert (distance, sent_as) == (0.0, "vector")


def test_it_looks_up_without_django_cursors_and_leaves_them_reading_text():
    row = cached("near", t=0.5)
    seen = []

    def capture(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        found = nearest()

    assert [c.entry.question for c in found] == ["near"] and seen == []
    assert np.allclose(CachedQuestion.objects.get(pk=row.pk).embedding, tilted(0.5), atol=1e-7)
