from django.conf import settings
from django.db import models
from pgvector.django import HnswIndex, VectorField


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "pending"  # its new text is queued for chunking and embedding; the old chunks still serve
    READY = "ready", "ready"
    FAILED = "failed", "failed"  # the last ingest failed (see status_error); the old chunks still serve


class Document(models.Model):
    # Saving only these changes nothing a cached answer was built from (qa/signals.py marks nothing).
    STATUS_FIELDS = ("status", "status_error", "queued_at", "ingested_at", "ingest_seq")

    title = models.CharField(max_length=300)
    slug = models.SlugField(max_length=200, unique=True)
    source = models.CharField(max_length=500, blank=True, help_text="Where the text came from: a path or URL.")
    content = models.TextField()
    content_hash = models.CharField(max_length=64, help_text="sha256 of the content; unchanged content is not re-embedded.")
    version = models.PositiveIntegerField(default=1, help_text="Bumped each time the content changes.")
    updated_at = models.DateTimeField(auto_now=True)
    status = models.CharField(max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.READY)
    status_error = models.TextField(blank=True, help_text="Why the last ingest failed.")
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When the last ingest job was queued.")
    ingested_at = models.DateTimeField(null=True, blank=True, help_text="When the last ingest ended (ready or failed).")
    ingest_seq = models.PositiveIntegerField(
        default=0, editable=False, help_text="Bumped by each write; a queued job whose number is no longer this one is superseded.",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS)
    # MiniLM's vector, kept only when the embedder is another model (an API): semantic decisions are made in
    # MiniLM's space, so a semantic hit needs no API call (providers.local_embedder). Null when `embedding` is it.
    local_embedding = VectorField(dimensions=384, null=True, blank=True)

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["document", "ordinal"], name="chunk_document_ordinal")]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            HnswIndex(
                name="chunk_local_embedding_hnsw", fields=["local_embedding"], m=16, ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document.slug}#{self.ordinal}"


class ChunkSentence(models.Model):
    """One sentence of a chunk, embedded at ingest so the semantic guard never embeds on a lookup."""

    # The unique constraint's index leads with chunk, so the foreign key needs none of its own.
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="sentences", db_index=False)
    ordinal = models.PositiveIntegerField()
    # The sentence's vector as 4-bit codes and a float32 scale (qa/sentence_codec.py): 196 bytes, not 1,544.
    codes = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chunk", "ordinal"], name="chunk_sentence_chunk_ordinal")]

    def __str__(self) -> str:
        return f"{self.chunk_id}.{self.ordinal}"


class PromptTemplate(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    text = models.TextField(
        help_text="Instructions for the LLM. {context} is replaced by the retrieved chunks, {question} by the question."
    )
    version = models.PositiveIntegerField(default=1, editable=False, help_text="Bumped on every edit of the text.")
    is_active = models.BooleanField(default=False, help_text="The template the openai provider uses.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
