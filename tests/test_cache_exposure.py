"""EXPOSE_CACHE_STATUS: anonymous users see X-Cache, Server-Timing and the cache report only when it is true."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from qa.services import document_ingest

pytestmark = [pytest.mark.redis, pytest.mark.django_db]
QUESTION = "What does the with statement do?"


@pytest.fixture
def document(db, redis_conn):
    return document_ingest(slug="with", title="The with statement",
                           content="The with statement wraps a block with a context manager.")[0]


def _api_ask(client):
    return client.post("/api/ask", {"question": QUESTION}, format="json")


def test_it_hides_the_cache_status_from_anonymous_users_when_off(settings, document):
    settings.EXPOSE_CACHE_STATUS = False
    api = _api_ask(APIClient())
    page = Client().post("/", {"question": QUESTION})

    assert api.status_code == page.status_code == 200
    for response in (api, page):
        assert "X-Cache" not in response and "Server-Timing" not in response
    assert "cache" not in api.json() and "timings_ms" not in api.json()
    assert b'id="x-cache"' not in page.content


def test_it_still_shows_the_cache_status_to_staff_when_off(settings, document):
    settings.EXPOSE_CACHE_STATUS = False
    staff = get_user_model().objects.create_user("staff", password="staff-pass", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    api = _api_ask(client)

    assert api["X-Cache"] in ("MISS", "HIT") and "Server-Timing" in api
    assert "cache" in api.json()


def test_it_shows_the_cache_status_to_anonymous_users_when_on(settings, document):
    settings.EXPOSE_CACHE_STATUS = True
    api = _api_ask(APIClient())
    page = Client().post("/", {"question": QUESTION})

    assert api["X-Cache"] == "MISS" and page["X-Cache"] == "HIT"
    assert "cache" in api.json()
    assert b'id="x-cache"' in page.content


def test_it_hides_the_cache_status_from_anonymous_streams_when_off(settings, document):
    settings.EXPOSE_CACHE_STATUS = False
    for _ in range(2):  # generated, then replayed from the cache
        response = APIClient().post("/api/ask/stream", {"question": QUESTION}, format="json")
        body = b"".join(response.streaming_content).decode()
        assert response.status_code == 200 and "event: meta" in body and "event: done" in body
        assert '"cache"' not in body and '"timings_ms"' not in body
