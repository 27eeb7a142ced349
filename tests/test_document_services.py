import pytest
from django.core.exceptions import ValidationError

from qa.models import Chunk, Document, PromptTemplate
from qa.selectors import active_prompt_template, document_list
from qa.services import (
    content_hash, document_delete, document_ingest, document_job_run, document_reembed, document_submit, prompt_template_save,
)
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401

pytestmark = pytest.mark.django_db


def test_it_creates_then_reports_unchanged(openai_wire):
    document, status = document_ingest(slug="pgvector", title="pgvector", content="Vectors in PostgreSQL.")
    again, status_again = document_ingest(slug="pgvector", title="pgvector", content="Vectors in PostgreSQL.")

    assert (status, status_again) == ("created", "unchanged")
    assert again.pk == document.pk
    assert document.version == 1
    assert document.content_hash == content_hash("Vectors in PostgreSQL.")
    assert openai_wire.counts["embeddings"] == 1  # the chunks (their sentences and MiniLM vectors are local)


def test_it_bumps_the_version_but_keeps_the_chunks_when_only_the_title_changes(openai_wire):
    document_ingest(slug="pgvector", title="pgvector", content="Vectors in PostgreSQL.")
    chunk_ids = list(Chunk.objects.values_list("id", flat=True))

    document, status = document_ingest(slug="pgvector", title="pgvector 0.8", content="Vectors in PostgreSQL.")

    assert (status, document.version, document.title) == ("updated", 2, "pgvector 0.8")
    assert list(Chunk.objects.values_list("id", flat=True)) == chunk_ids
    assert openai_wire.counts["embeddings"] == 1  # the chunks (their sentences and MiniLM vectors are local)


def test_it_rejects_a_bad_slug_and_empty_content(openai_wire):
    with pytest.raises(ValidationError, match="slug"):
        document_ingest(slug="not a slug", title="t", content="text")
    with pytest.raises(ValidationError, match="content is empty"):
        document_ingest(slug="ok", title="t", content="  ")

    assert not Document.objects.exists()


def test_it_reembeds_with_new_chunks_and_a_new_version(openai_wire):
    document, _ = document_ingest(slug="valkey", title="Valkey", content="A Redis fork.")
    old_ids = set(document.chunks.values_list("id", flat=True))

    document = document_reembed(document=document)

    assert document.version == 2
    assert old_ids.isdisjoint(document.chunks.values_list("id", flat=True))
    assert document_list().get(slug="valkey").chunk_count == 1


def test_it_deletes_a_document_with_its_chunks(openai_wire):
    document, _ = document_ingest(slug="valkey", title="Valkey", content="A Redis fork.")

    document_delete(document=document)

    assert not Document.objects.exists() and not Chunk.objects.exists()


def test_it_bumps_a_template_version_only_when_its_text_changes():
    template = prompt_template_save(template=PromptTemplate(name="terse", text="Answer: {question}"))
    template.is_active = True
    prompt_template_save(template=template)
    assert template.version == 1

    template.text = "Answer briefly: {question}"
    prompt_template_save(template=template)

    assert PromptTemplate.objects.get(name="terse").version == 2


def test_it_keeps_one_template_active():
    default = PromptTemplate.objects.get(name="default")
    assert active_prompt_template() == default

    terse = prompt_template_save(template=PromptTemplate(name="terse", text="{question}", is_active=True))

    assert list(PromptTemplate.objects.filter(is_active=True)) == [terse]
    assert active_prompt_template() == terse


def test_it_falls_back_to_the_default_template_when_none_is_active():
    default = PromptTemplate.objects.get(name="default")
    default.is_active = False
    prompt_template_save(template=default)

    assert active_prompt_template() == default


def test_it_drops_an_ingest_job_that_a_later_write_superseded(openai_wire):
    document, _ = document_ingest(slug="pgvector", title="pgvector", content="Vectors in PostgreSQL.")
    stale_seq = document.ingest_seq
    document_submit(slug="pgvector", title="pgvector", content="HNSW indexes in PostgreSQL.")  # its job runs at once here
    calls = openai_wire.counts["embeddings"]

    outcome = document_job_run(document_id=document.pk, ingest_seq=stale_seq, title="pgvector", content="Old.", source="")

    assert outcome == "superseded" and openai_wire.counts["embeddings"] == calls  # nothing embedded either
    document.refresh_from_db()
    assert (document.content, document.version, document.status) == ("HNSW indexes in PostgreSQL.", 2, "ready")


def test_it_marks_ready_again_when_a_write_brings_back_the_embedded_text(openai_wire):
    document, _ = document_ingest(slug="pgvector", title="pgvector", content="Vectors in PostgreSQL.")
    document.status, document.status_error = "failed", "the last ingest failed"
    document.save(update_fields=["status", "status_error"])

    again, status = document_submit(slug="pgvector", title="pgvector", content="Vectors in PostgreSQL.")

    assert (status, again.status, again.status_error, again.version) == ("updated", "ready", "", 1)
