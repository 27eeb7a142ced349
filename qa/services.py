"""Writes: documents, their chunks and the prompt templates. Views, admin and commands go through these.

Documents are saved and deleted one by one with the ORM, never with queryset.update() or a bulk
delete: the cache layer listens to post_save/post_delete on Document.
"""

import hashlib

import numpy as np
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from qa import providers
from qa.chunking import chunk_text
from qa.models import Chunk, Document, PromptTemplate

# Chunks per embedder call: small enough for steady progress, large enough to keep an API busy.
EMBED_BATCH = 64

IngestStatus = str  # "created" | "updated" | "unchanged"


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _chunks_embedded(*, content: str) -> list[tuple[str, np.ndarray]]:
    texts = chunk_text(text=content)
    vectors: list[np.ndarray] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors.extend(providers.embedder().embed(texts[start : start + EMBED_BATCH]))
    return list(zip(texts, vectors))


def _chunks_replace(*, document: Document, embedded: list[tuple[str, np.ndarray]]) -> None:
    document.chunks.all().delete()
    Chunk.objects.bulk_create(
        Chunk(document=document, ordinal=ordinal, text=text, embedding=vector)
        for ordinal, (text, vector) in enumerate(embedded)
    )


def _validate(*, slug: str, title: str, content: str) -> None:
    validate_slug(slug)
    if not title.strip():
        raise ValidationError("title is empty", code="blank")
    if not content.strip():
        raise ValidationError("content is empty", code="blank")


def document_ingest(*, slug: str, title: str, content: str, source: str = "") -> tuple[Document, IngestStatus]:
    """Store a document by slug; new content is chunked and embedded, unchanged content is left alone.

    The version goes up when the content or the title changes (both reach the LLM's prompt).
    """
    _validate(slug=slug, title=title, content=content)
    digest = content_hash(content)
    stored = Document.objects.filter(slug=slug).only("content_hash").first()
    # Embed before taking the row lock: a provider call can take seconds.
    embedded = None if stored and stored.content_hash == digest else _chunks_embedded(content=content)
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(slug=slug).first() or Document(slug=slug, version=0)
        content_changed = document.content_hash != digest
        title_changed = document.title != title
        if not (content_changed or title_changed or document.source != source):
            return document, "unchanged"
        status = "updated" if document.pk else "created"
        if content_changed or title_changed:
            document.version += 1
        document.title, document.source, document.content, document.content_hash = title, source, content, digest
        document.save()
        if content_changed:
            # Another writer may have changed the content since `stored` was read.
            _chunks_replace(document=document, embedded=embedded or _chunks_embedded(content=content))
    return document, status


def document_reembed(*, document: Document) -> Document:
    """New chunks and embeddings for unchanged content, e.g. after switching the embedding model."""
    embedded_content = document.content
    embedded = _chunks_embedded(content=embedded_content)
    with transaction.atomic():
        document = Document.objects.select_for_update().get(pk=document.pk)
        if document.content != embedded_content:
            embedded = _chunks_embedded(content=document.content)
        # The chunk rows are new, so anything cached against the old ones must go: a new version says so.
        document.version += 1
        document.save()
        _chunks_replace(document=document, embedded=embedded)
    return document


def document_delete(*, document: Document) -> None:
    document.delete()


def prompt_template_save(*, template: PromptTemplate) -> PromptTemplate:
    """Save a template: its version goes up when the text changes, and at most one stays active."""
    with transaction.atomic():
        if template.pk:
            stored = PromptTemplate.objects.select_for_update().filter(pk=template.pk).first()
            if stored and stored.text != template.text:
                template.version = stored.version + 1
        template.save()
        if template.is_active:
            for other in PromptTemplate.objects.filter(is_active=True).exclude(pk=template.pk):
                other.is_active = False
                other.save(update_fields=["is_active", "updated_at"])
    return template
