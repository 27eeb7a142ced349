"""Bounds on one document, checked before anything is embedded: DOCUMENT_MAX_CHARS and DOCUMENT_MAX_CHUNKS.

Ingest time and worker memory grow with the chunk count (a 500 KB document made 833 chunks in 82 s).
"""

from django.conf import settings
from django.core.exceptions import ValidationError

from qa.chunking import chunk_text


def document_content_validate(content: str) -> None:
    """A validator for forms, serializers and the ingest service; the message names the setting."""
    if len(content) > settings.DOCUMENT_MAX_CHARS:
        raise ValidationError(
            f"content has {len(content):,} characters; DOCUMENT_MAX_CHARS is {settings.DOCUMENT_MAX_CHARS:,}",
            code="max_chars",
        )
    chunks = len(chunk_text(text=content))
    if chunks > settings.DOCUMENT_MAX_CHUNKS:
        raise ValidationError(
            f"content makes {chunks:,} chunks; DOCUMENT_MAX_CHUNKS is {settings.DOCUMENT_MAX_CHUNKS:,}",
            code="max_chunks",
        )
