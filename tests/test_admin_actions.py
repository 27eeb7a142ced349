"""Admin paths that go through the services: question purge, and a provider failure on save."""

import pytest
from django.contrib.auth.models import User

from cache_policies.models import CachedQuestion
from qa.models import Document
from qa.pipeline import question_answer
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401

pytestmark = [pytest.mark.redis]


@pytest.fixture
def staff_client(client, transactional_db):
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def test_it_purges_one_question_from_the_admin(kb, staff_client):
    question_answer(question="What does the with statement do?")
    entry = CachedQuestion.objects.get()
    response = staff_client.post(
        "/admin/cache_policies/cachedquestion/",
        {"action": "purge_questions", "_selected_action": [entry.pk]}, follow=True,
    )
    assert "Purged" in response.content.decode()
    assert question_answer(question="What does the with statement do?").cache["response"] == "miss"


def test_it_shows_a_provider_failure_as_a_failed_document_instead_of_a_500(staff_client, openai_wire):
    openai_wire.configure(fail_times=10, fail_status=500)
    response = staff_client.post(
        "/admin/qa/document/add/",
        {"title": "New", "slug": "new", "content": "Some text.", "source": ""}, follow=True,
    )
    # The test process runs the ingest job at once; under `make run` the message says it is queued.
    assert response.status_code == 200
    assert "status failed (ragsite.errors.ProviderError: HTTP 500" in response.content.decode()
    document = Document.objects.get(slug="new")
    assert document.status == "failed" and not document.chunks.exists()
