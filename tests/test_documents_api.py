import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from qa.models import Chunk, Document
from qa.services import document_ingest
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def embeddings(openai_wire):
    """Embeddings from the wire server: fast, and no model to load."""
    return openai_wire


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="pw", is_staff=True)


@pytest.fixture
def bob():
    return get_user_model().objects.create_user("bob", password="pw")


@pytest.fixture
def staff(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    return client


@pytest.fixture
def document():
    document, _ = document_ingest(slug="valkey", title="Valkey", content="Valkey is a Redis fork. It speaks RESP.")
    return document


NEW = {"slug": "pgvector", "title": "pgvector", "content": "Vector search inside PostgreSQL."}


def test_it_lists_documents_to_anyone(document):
    response = APIClient().get("/api/documents")

    assert response.status_code == 200
    assert response.json()["count"] == 1
    (item,) = response.json()["results"]
    assert item == {
        "slug": "valkey",
        "title": "Valkey",
        "version": 1,
        "chunk_count": 1,
        "updated_at": item["updated_at"],
        "status": "ready",
        "status_error": "",
        "queued_at": None,
        "ingested_at": item["ingested_at"],
    }


def test_it_pages_the_list():
    for n in range(3):
        document_ingest(slug=f"doc-{n}", title=f"Doc {n}", content=f"Text {n}.")

    body = APIClient().get("/api/documents?limit=2&offset=1").json()

    assert [item["slug"] for item in body["results"]] == ["doc-1", "doc-2"]
    assert body["count"] == 3 and body["next"] is None and body["previous"]


def test_it_shows_a_document_with_its_content(document):
    response = APIClient().get("/api/documents/valkey")

    assert response.status_code == 200
    assert response.json()["content"] == "Valkey is a Redis fork. It speaks RESP."
    assert response.json()["chunk_count"] == 1


@pytest.mark.parametrize("path", ["/api/documents/nope", "/api/documents/not%20a%20slug"])
def test_it_answers_404_json_for_an_unknown_slug(path):
    response = APIClient().get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "No Document matches the given query."}


def test_it_accepts_a_document_for_a_token_holder_with_a_poll_link(staff, embeddings):
    response = staff.post("/api/documents", NEW, format="json")

    # The test process runs jobs at once (ImmediateBackend): the job is done when the 202 is sent.
    assert response.status_code == 202
    assert response.json()["poll"] == response["Location"] == "http://testserver/api/documents/pgvector"
    assert response.json()["slug"] == "pgvector" and response.json()["version"] == 1
    assert response.json()["status"] == "ready" and response.json()["status_error"] == ""
    assert Chunk.objects.get(document__slug="pgvector").text == "Vector search inside PostgreSQL."
    assert embeddings.counts["embeddings"] == 1  # the chunks (their sentences are embedded locally)


def test_it_creates_a_document_for_a_staff_session(alice):
    client = APIClient()
    client.force_login(alice)

    assert client.post("/api/documents", NEW, format="json").status_code == 202


def test_it_answers_401_to_an_anonymous_writer(document):
    client = APIClient()

    responses = [
        client.post("/api/documents", NEW, format="json"),
        client.put("/api/documents/valkey", {"title": "t", "content": "c"}, format="json"),
        client.delete("/api/documents/valkey"),
    ]

    assert [r.status_code for r in responses] == [401, 401, 401]
    assert responses[0]["WWW-Authenticate"] == "Token"
    assert Document.objects.count() == 1


def test_it_answers_403_to_a_user_who_is_not_staff(bob, document):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")

    assert client.post("/api/documents", NEW, format="json").status_code == 403
    assert client.delete("/api/documents/valkey").status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "not a slug"}, "slug"),
        ({"title": ""}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"content": "   "}, "content"),
        ({"content": None}, "content"),
    ],
)
def test_it_answers_400_naming_the_bad_field(staff, change, field):
    response = staff.post("/api/documents", {**NEW, **change}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_it_refuses_to_create_a_slug_that_exists(staff, document):
    response = staff.post("/api/documents", {**NEW, "slug": "valkey"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"slug": ["A document with this slug already exists; PUT to change it."]}


def test_it_updates_and_reembeds_a_document(staff, document, embeddings):
    response = staff.put("/api/documents/valkey", {"title": "Valkey 8", "content": "Valkey forks Redis 7.2."}, format="json")

    assert response.status_code == 202
    assert response.json()["version"] == 2
    assert response.json()["content"] == "Valkey forks Redis 7.2."
    assert Chunk.objects.get(document=document).text == "Valkey forks Redis 7.2."
    assert embeddings.counts["embeddings"] == 2  # the fixture's chunks, then the new ones


def test_it_answers_404_to_an_update_of_an_unknown_slug(staff):
    assert staff.put("/api/documents/nope", {"title": "t", "content": "c"}, format="json").status_code == 404


def test_it_deletes_a_document(staff, document):
    response = staff.delete("/api/documents/valkey")

    assert response.status_code == 204
    assert not Document.objects.exists() and not Chunk.objects.exists()
    assert staff.delete("/api/documents/valkey").status_code == 404


def test_it_saves_a_title_change_at_once_with_no_job(staff, document, embeddings):
    response = staff.put("/api/documents/valkey", {"title": "Valkey, renamed", "content": document.content}, format="json")

    assert response.status_code == 200 and "poll" not in response.json()
    assert response.json()["version"] == 2 and response.json()["status"] == "ready"
    assert embeddings.counts["embeddings"] == 1  # the fixture's document only


def test_it_marks_a_new_document_failed_when_the_embedder_fails(staff, embeddings):
    embeddings.configure(fail_times=100)

    response = staff.post("/api/documents", NEW, format="json")

    assert response.status_code == 202
    failed = staff.get(response.json()["poll"]).json()
    assert failed["status"] == "failed" and "ProviderError" in failed["status_error"]
    assert failed["chunk_count"] == 0 and failed["version"] == 0


def test_it_describes_every_operation_in_the_schema():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()

    assert set(schema["paths"]["/api/documents"]) == {"get", "post"}
    assert set(schema["paths"]["/api/documents/{slug}"]) == {"get", "put", "delete"}
    create = schema["paths"]["/api/documents"]["post"]
    assert set(create["responses"]) == {"202", "400", "401", "403"}
    assert set(schema["paths"]["/api/documents/{slug}"]["put"]["responses"]) == {"200", "202", "400", "401", "403", "404"}
    assert {"status", "status_error", "queued_at", "ingested_at"} <= set(schema["components"]["schemas"]["DocumentDetail"]["properties"])
    assert "poll" in schema["components"]["schemas"]["DocumentQueued"]["properties"]
    assert {} not in create["security"]
    assert {} in schema["paths"]["/api/documents"]["get"]["security"]
    assert set(schema["components"]["schemas"]["DocumentCreateInputRequest"]["required"]) == {"slug", "title", "content"}
