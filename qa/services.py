"""Writes: documents with their chunks and sentences, and prompt templates. Views, admin and commands go through these.

Documents are saved and deleted one by one with the ORM, never with queryset.update() or a bulk
delete: the cache layer listens to post_save/post_delete on Document.
"""

import hashlib
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.utils import timezone

from qa import providers
from qa.chunking import chunk_sentences, chunk_text
from qa.document_limits import document_content_validate
from qa.models import Chunk, ChunkSentence, Document, DocumentStatus, PromptTemplate
from qa.selectors import chunk_sentence_embeddings
from qa.sentence_codec import sentence_encode

# Chunks per embedder call (their sentences go in a second call): small enough for steady progress,
# large enough to keep an API busy.
EMBED_BATCH = 64

IngestStatus = str  # "created" | "updated" | "unchanged" | "queued"


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class EmbeddedChunk:
    text: str
    embedding: np.ndarray
    sentence_embeddings: np.ndarray  # one row per chunk_sentences(text=text), in MiniLM's space
    local_embedding: np.ndarray | None = None  # MiniLM's, when the embedder is another model


def _groups_embedded(groups: list[list[str]]) -> list[np.ndarray]:
    """Each group's vectors from one embedder call; a text in several groups is embedded once.

    Overlapping chunks repeat their neighbours' last sentences: the sample KB has 5291 sentences, 4276 distinct.
    Sentences are embedded by MiniLM whatever the embedder: only the semantic guard and the extractive answerer
    read them, against a question's MiniLM vector (a sentence each through an API would cost more than its chunk).
    """
    unique = list(dict.fromkeys(text for group in groups for text in group))
    vectors = providers.local_embedder().embed(unique)
    row = {text: i for i, text in enumerate(unique)}
    return [vectors[[row[text] for text in group]] for group in groups]


def _batch_embedded(texts: list[str]) -> list[EmbeddedChunk]:
    # Two calls, not one: MiniLM pads each batch of 32 texts to its longest, and chunks topped up with
    # sentences took 16 s where the two apart took 11 s (the first 12 sample documents).
    embedder = providers.embedder()
    chunk_vectors = embedder.embed(texts)
    sentence_vectors = _groups_embedded([chunk_sentences(text=t) for t in texts])
    local = [None] * len(texts) if providers.in_local_space(embedder) else providers.local_embedder().embed(texts)
    return [EmbeddedChunk(*fields) for fields in zip(texts, chunk_vectors, sentence_vectors, local)]


def _chunks_embedded(*, content: str) -> list[EmbeddedChunk]:
    texts = chunk_text(text=content)
    embedded: list[EmbeddedChunk] = []
    for start in range(0, len(texts), EMBED_BATCH):
        embedded += _batch_embedded(texts[start : start + EMBED_BATCH])
    return embedded


def _sentence_rows(vectors: dict[int, np.ndarray]) -> list[ChunkSentence]:
    return [
        ChunkSentence(chunk_id=c, ordinal=i, codes=sentence_encode(vector=v))
        for c, vs in vectors.items() for i, v in enumerate(vs)
    ]


def _chunks_replace(*, document: Document, embedded: list[EmbeddedChunk]) -> None:
    document.chunks.all().delete()
    chunks = Chunk.objects.bulk_create(
        Chunk(document=document, ordinal=i, text=e.text, embedding=e.embedding, local_embedding=e.local_embedding)
        for i, e in enumerate(embedded)
    )
    ChunkSentence.objects.bulk_create(_sentence_rows({c.id: e.sentence_embeddings for c, e in zip(chunks, embedded)}))


def chunk_sentences_store(*, chunk_ids: list[int]) -> dict[int, np.ndarray]:
    """Embed and store the sentences of chunks that have none (ingested before sentences were).

    Returns the vectors by chunk id. A chunk deleted meanwhile (its document was edited) is left out;
    when two workers store one chunk at once, the first one's rows stay.
    """
    texts = dict(Chunk.objects.filter(id__in=chunk_ids).values_list("id", "text"))
    if not texts:
        return {}
    vectors = dict(zip(texts, _groups_embedded([chunk_sentences(text=t) for t in texts.values()])))
    with transaction.atomic():
        # The lock keeps a document edit from deleting a chunk between this check and the insert.
        alive = set(Chunk.objects.select_for_update().filter(id__in=vectors).values_list("id", flat=True))
        ChunkSentence.objects.bulk_create(_sentence_rows({c: vectors[c] for c in alive}), ignore_conflicts=True)
    return {c: vectors[c] for c in alive}


def chunk_sentence_vectors(*, chunk_ids: list[int]) -> np.ndarray:
    """Every sentence vector of the chunks (the semantic guard's evidence), as stored at ingest;
    chunks stored before that get theirs now."""
    found = chunk_sentence_embeddings(chunk_ids=chunk_ids)
    if missing := [c for c in chunk_ids if c not in found]:
        found |= chunk_sentences_store(chunk_ids=missing)
    rows = [found[c] for c in chunk_ids if c in found]
    return np.vstack(rows) if rows else np.zeros((0, 1), dtype=np.float32)


def _validate(*, slug: str, title: str, content: str) -> None:
    validate_slug(slug)
    if not title.strip():
        raise ValidationError("title is empty", code="blank")
    if not content.strip():
        raise ValidationError("content is empty", code="blank")
    document_content_validate(content)


def _document_locked(**lookup) -> Document | None:
    return Document.objects.select_for_update().filter(**lookup).first()


def _document_apply(*, document: Document, title: str, source: str, content: str,
                    embedded: list[EmbeddedChunk] | None) -> IngestStatus:
    """Write a locked (or new) document, its chunks replaced when embedded is given; it is then ready.

    The full save's post_save marks doc:<id> in the ledger in this transaction, so the mark and the
    new chunks commit together (qa/signals.py). Any job still queued for it is superseded.
    """
    changed = embedded is not None or document.title != title  # both reach the LLM's prompt
    if not (changed or document.source != source or document.status != DocumentStatus.READY):
        return "unchanged"
    status = "updated" if document.pk else "created"
    if changed:
        document.version += 1
    document.title, document.source, document.content, document.content_hash = title, source, content, content_hash(content)
    document.status, document.status_error, document.ingested_at = DocumentStatus.READY, "", timezone.now()
    document.ingest_seq += 1
    document.save()
    if embedded is not None:
        _chunks_replace(document=document, embedded=embedded)
    return status


def document_ingest(*, slug: str, title: str, content: str, source: str = "") -> tuple[Document, IngestStatus]:
    """Store a document by slug now, in this process; new content is chunked and embedded, unchanged content is left alone.

    For batches (`manage.py ingest`, bootstrap); the API and the admin queue a job (document_submit).
    """
    _validate(slug=slug, title=title, content=content)
    digest = content_hash(content)
    stored = Document.objects.filter(slug=slug).only("content_hash").first()
    # Embed before taking the row lock: a provider call can take seconds.
    embedded = None if stored and stored.content_hash == digest else _chunks_embedded(content=content)
    with transaction.atomic():
        document = _document_locked(slug=slug) or Document(slug=slug, version=0)
        if document.content_hash == digest:
            embedded = None
        elif embedded is None:  # another writer changed the content since `stored` was read
            embedded = _chunks_embedded(content=content)
        status = _document_apply(document=document, title=title, source=source, content=content, embedded=embedded)
    return document, status


def _ingest_queue(*, document: Document, title: str, content: str, source: str, queue: str | None = None) -> None:
    """Mark a locked document pending and queue its ingest job, in the caller's transaction (both commit or neither)."""
    from qa.tasks import document_embed

    document.ingest_seq += 1
    document.status, document.status_error, document.queued_at = DocumentStatus.PENDING, "", timezone.now()
    if document.pk:
        document.save(update_fields=Document.STATUS_FIELDS)
    else:
        document.save()  # a new document: no chunk and no cached answer cites it yet
    task = document_embed.using(queue_name=queue) if queue else document_embed
    task.enqueue(
        document_id=document.pk, ingest_seq=document.ingest_seq, title=title, content=content, source=source,
    )


def document_submit(
    *, slug: str, title: str, content: str, source: str = "", queue: str | None = None,
) -> tuple[Document, IngestStatus]:
    """Validate and store a document by slug at once; new content is chunked and embedded by a background job.

    Returns "queued" when a job was queued: the document stays as it was (its old chunks serve questions)
    with status pending until the job replaces it. A new document is stored pending with no chunks.
    Unchanged content is written now, as document_ingest would ("created", "updated" or "unchanged").
    queue: a queue other than the default one (the bench's own worker reads its own).
    """
    _validate(slug=slug, title=title, content=content)
    with transaction.atomic():
        document = _document_locked(slug=slug)
        if document is not None and document.content_hash == content_hash(content):
            return document, _document_apply(document=document, title=title, source=source, content=content, embedded=None)
        document = document or Document(slug=slug, title=title, source=source, content=content, version=0)
        _ingest_queue(document=document, title=title, content=content, source=source, queue=queue)
    document.refresh_from_db()  # a job run at once (the tests' immediate backend) has already changed it
    return document, "queued"


def document_reembed_submit(*, document: Document) -> Document:
    """Queue new chunks and embeddings for unchanged content, e.g. after switching the embedding model."""
    with transaction.atomic():
        document = _document_locked(pk=document.pk)
        _ingest_queue(document=document, title=document.title, content=document.content, source=document.source)
    document.refresh_from_db()
    return document


def document_job_run(*, document_id: int, ingest_seq: int, title: str, content: str, source: str) -> str:
    """The ingest job: chunk, embed, then replace the chunks, unless a later write superseded it."""
    if not Document.objects.filter(pk=document_id, ingest_seq=ingest_seq).exists():
        return "superseded"
    embedded = _chunks_embedded(content=content)
    with transaction.atomic():
        document = _document_locked(pk=document_id, ingest_seq=ingest_seq)
        if document is None:
            return "superseded"
        _document_apply(document=document, title=title, source=source, content=content, embedded=embedded)
    return "ready"


def document_job_failed(*, document_id: int, ingest_seq: int, error: str) -> None:
    """An ingest job failed: its document says so and keeps its chunks (and the answers cached from them)."""
    with transaction.atomic():
        document = _document_locked(pk=document_id, ingest_seq=ingest_seq)
        if document is None:
            return  # superseded by a later write
        document.status, document.status_error, document.ingested_at = DocumentStatus.FAILED, error, timezone.now()
        document.save(update_fields=Document.STATUS_FIELDS)


def document_reembed(*, document: Document) -> Document:
    """New chunks and embeddings for unchanged content, now, in this process."""
    embedded_content = document.content
    embedded = _chunks_embedded(content=embedded_content)
    with transaction.atomic():
        document = _document_locked(pk=document.pk)
        if document.content != embedded_content:
            embedded = _chunks_embedded(content=document.content)
        # The chunk rows are new, so anything cached against the old ones must go: a new version says so.
        _document_apply(document=document, title=document.title, source=document.source, content=document.content,
                        embedded=embedded)
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
