"""Reads: querysets and lookups the views, admin and providers share."""

from collections import defaultdict

import numpy as np
from django.db.models import Count, QuerySet

from cache_policies.pgvector_binary import server_cursor
from qa.models import Chunk, ChunkSentence, Document, PromptTemplate
from qa.sentence_codec import sentences_decode

_SENTENCES_OF_CHUNKS = f"SELECT chunk_id, codes FROM {ChunkSentence._meta.db_table} WHERE chunk_id = ANY(%s)"


def document_list() -> QuerySet[Document]:
    """Documents by slug, with `chunk_count` annotated."""
    return Document.objects.annotate(chunk_count=Count("chunks")).order_by("slug")


def active_prompt_template() -> PromptTemplate:
    """The active template, else the one named "default" (the first migration creates it)."""
    return PromptTemplate.objects.filter(is_active=True).order_by("-updated_at").first() or (
        PromptTemplate.objects.get(name="default")
    )


def chunk_sentence_embeddings(*, chunk_ids: list[int]) -> dict[int, np.ndarray]:
    """The stored sentence vectors of each chunk that has them, one row per sentence, in one query."""
    # Through psycopg in binary: bytea arrives as bytes, not as Django's hex text to parse.
    with server_cursor() as cursor:
        cursor.execute(_SENTENCES_OF_CHUNKS, [chunk_ids], binary=True, prepare=False)
        rows = defaultdict(list)
        for chunk_id, codes in cursor:
            rows[chunk_id].append(codes)
    return {chunk_id: sentences_decode(encoded=encoded) for chunk_id, encoded in rows.items()}


def document_chunk_texts(*, document_id: int) -> frozenset[str]:
    return frozenset(Chunk.objects.filter(document_id=document_id).values_list("text", flat=True))
