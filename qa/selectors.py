"""Reads: querysets and lookups the views, admin and providers share."""

from django.db.models import Count, QuerySet

from qa.models import Document, PromptTemplate


def document_list() -> QuerySet[Document]:
    """Documents by slug, with `chunk_count` annotated."""
    return Document.objects.annotate(chunk_count=Count("chunks")).order_by("slug")


def active_prompt_template() -> PromptTemplate:
    """The active template, else the one named "default" (the first migration creates it)."""
    return PromptTemplate.objects.filter(is_active=True).order_by("-updated_at").first() or (
        PromptTemplate.objects.get(name="default")
    )
