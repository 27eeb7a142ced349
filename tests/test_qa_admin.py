import pytest
from django.contrib.auth import get_user_model

from qa.models import Chunk, Document, PromptTemplate
from qa.services import document_ingest
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, openai_wire):
    client.force_login(get_user_model().objects.create_superuser("admin", password="pw"))
    return client


@pytest.fixture
def document():
    document, _ = document_ingest(slug="valkey", title="Valkey", content="Valkey is a Redis fork.")
    return document


def test_it_lists_documents_with_their_chunk_count(admin_client, document):
    response = admin_client.get("/admin/qa/document/")

    assert response.status_code == 200
    assert b'<td class="field-chunk_count">1</td>' in response.content


def test_it_reembeds_an_edited_document_through_the_service(admin_client, document):
    response = admin_client.post(
        f"/admin/qa/document/{document.pk}/change/",
        {"title": "Valkey", "source": "", "content": "Valkey speaks RESP."},
    )

    assert response.status_code == 302
    document.refresh_from_db()
    assert document.version == 2
    assert Chunk.objects.get(document=document).text == "Valkey speaks RESP."


def test_it_shows_each_documents_ingest_status_and_its_error(admin_client, document):
    document.status, document.status_error = "failed", "ProviderError: embeddings are down"
    document.save(update_fields=["status", "status_error"])

    listing = admin_client.get("/admin/qa/document/").content.decode()
    form = admin_client.get(f"/admin/qa/document/{document.pk}/change/").content.decode()

    assert '<td class="field-status">failed</td>' in listing
    assert "ProviderError: embeddings are down" in form and 'name="status"' not in form


def test_it_creates_a_document_through_the_service(admin_client):
    response = admin_client.post(
        "/admin/qa/document/add/", {"slug": "pgvector", "title": "pgvector", "source": "", "content": "Vectors."}
    )

    assert response.status_code == 302
    assert Document.objects.get(slug="pgvector").chunks.count() == 1


def test_it_reembeds_the_selected_documents(admin_client, document, openai_wire):
    old_chunk = Chunk.objects.get()

    response = admin_client.post("/admin/qa/document/", {"action": "reembed", "_selected_action": [document.pk]}, follow=True)

    assert "Queued 1 document(s) for re-embedding" in response.content.decode()
    assert Document.objects.get().version == 2
    assert Chunk.objects.get().id != old_chunk.id
    assert openai_wire.counts["embeddings"] == 2  # the chunks, at ingest and again (sentences are embedded locally)


def test_it_shows_chunks_read_only(admin_client, document):
    chunk = Chunk.objects.get()

    assert admin_client.get("/admin/qa/chunk/").status_code == 200
    assert admin_client.get(f"/admin/qa/chunk/{chunk.pk}/change/").status_code == 200
    assert admin_client.get("/admin/qa/chunk/add/").status_code == 403


def test_it_bumps_a_prompt_template_version_when_its_text_is_edited(admin_client):
    template = PromptTemplate.objects.get(name="default")

    admin_client.post(
        f"/admin/qa/prompttemplate/{template.pk}/change/",
        {"name": "default", "text": "Be brief.\n{context}\n{question}", "is_active": "on"},
    )

    template.refresh_from_db()
    assert (template.version, template.text) == (2, "Be brief.\n{context}\n{question}")
