"""DOCUMENT_MAX_CHARS and DOCUMENT_MAX_CHUNKS: the API answers 400 naming the limit, the admin form refuses."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from qa.models import Document

pytestmark = [pytest.mark.redis, pytest.mark.django_db]
TEN_SENTENCES = " ".join(f"Sentence number {n} says something about context managers." for n in range(10))


@pytest.fixture
def staff_user(redis_conn):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", "correct horse")


@pytest.fixture
def staff_api(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


def _create(client, content: str):
    return client.post("/api/documents", {"slug": "big", "title": "Big", "content": content}, format="json")


def test_it_refuses_a_document_over_the_character_limit(settings, staff_api):
    settings.DOCUMENT_MAX_CHARS = 100
    response = _create(staff_api, TEN_SENTENCES)

    assert response.status_code == 400
    assert "DOCUMENT_MAX_CHARS is 100" in response.json()["content"][0]
    assert not Document.objects.filter(slug="big").exists()


def test_it_refuses_a_document_over_the_chunk_limit(settings, staff_api):
    settings.DOCUMENT_MAX_CHUNKS = 1
    response = _create(staff_api, TEN_SENTENCES * 20)

    assert response.status_code == 400
    assert "DOCUMENT_MAX_CHUNKS is 1" in response.json()["content"][0]


def test_it_shows_the_limit_in_the_admin_form(settings, client, staff_user):
    settings.DOCUMENT_MAX_CHARS = 100
    client.force_login(staff_user)
    response = client.post("/admin/qa/document/add/", {"slug": "big", "title": "Big", "content": TEN_SENTENCES})

    assert response.status_code == 200
    assert "DOCUMENT_MAX_CHARS is 100" in response.content.decode()
    assert not Document.objects.filter(slug="big").exists()
