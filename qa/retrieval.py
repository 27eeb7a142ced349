"""Reads of the knowledge base for the pipeline: nearest chunks by cosine distance (pgvector HNSW)."""

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from pgvector.django import CosineDistance

from qa.models import Chunk
from qa.providers.base import Passage


def _passage(chunk: Chunk, score: float) -> Passage:
    return Passage(
        chunk_id=chunk.id,
        document_id=chunk.document_id,
        document_slug=chunk.document.slug,
        document_title=chunk.document.title,
        document_version=chunk.document.version,
        text=chunk.text,
        score=round(float(score), 6),
    )


def chunk_search(*, embedding: np.ndarray, k: int, ef_search: int | None = None) -> list[Passage]:
    """The k chunks nearest to embedding, best first, scored by cosine similarity."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            # ef_search must be >= k or the HNSW scan returns fewer than k rows.
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(k, ef_search or settings.HNSW_EF_SEARCH)])
        rows = (
            Chunk.objects.select_related("document")
            .annotate(distance=CosineDistance("embedding", embedding))
            .order_by("distance")[:k]
        )
        return [_passage(chunk, 1.0 - chunk.distance) for chunk in rows]


def passages_by_ids(*, scored_ids: list[tuple[int, float]]) -> list[Passage] | None:
    """The passages a cached retrieval named, in its order; None if any chunk is gone."""
    chunks = Chunk.objects.select_related("document").in_bulk([chunk_id for chunk_id, _ in scored_ids])
    if len(chunks) != len(scored_ids):
        return None
    return [_passage(chunks[chunk_id], score) for chunk_id, score in scored_ids]

