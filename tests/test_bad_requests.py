"""What no view can use is refused with a clear 4xx naming the problem, JSON on the API: never a 5xx."""

import pytest
from django.conf import settings
from django.db import DataError
from django.test import Client

from qa.services import document_ingest
from ragsite.errors import api_exception_handler


@pytest.fixture
def document(db):
    return document_ingest(slug="with", title="The with statement", content="The with statement wraps a block.")[0]


@pytest.mark.parametrize("path", ["/api/documents/%00", "/api/documents/with%00", "/api/documents?limit=%00",
                                  "/api/documents?x%00=1", "/api/ask?q=%00"])
def test_it_refuses_a_nul_in_an_api_url_with_json(document, path):
    response = Client().get(path)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "invalid_characters"
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/documents/%00/", "/?question=%00", "/stats/?window=%00"])
def test_it_refuses_a_nul_in_a_page_url(document, path):
    response = Client().get(path)
    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


def test_it_answers_a_database_refusal_of_a_value_as_bad_input_not_an_outage():
    # The safety net behind the URL checks: a value PostgreSQL refuses is the request's fault, not an outage.
    response = api_exception_handler(DataError("A string literal cannot contain NUL (0x00) characters."), {})
    assert response.status_code == 400
    assert response.data["code"] == "invalid_value"


def test_it_refuses_an_oversized_body_with_a_json_413_on_the_api(document):
    body = b'{"question": "' + b"a" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'
    response = Client().generic("POST", "/api/ask", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The request body is over the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}-byte limit "
        "(DATA_UPLOAD_MAX_MEMORY_SIZE).",
        "code": "body_too_large",
    }


def test_it_refuses_an_oversized_form_post_with_a_page(document):
    response = Client().post("/", {"question": "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    assert response.status_code == 413
    assert "byte limit" in response.content.decode()
