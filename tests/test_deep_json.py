"""A JSON body nested thousands of levels deep is a 400 that says so, on every endpoint that parses JSON."""

import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from qa.models import Document
from ragsite.parsers import MAX_DEPTH

pytestmark = pytest.mark.django_db

DEEP = '{"question": ' + "[" * 5000 + "]" * 5000 + "}"


@pytest.fixture
def staff() -> APIClient:
    client = APIClient()
    user = get_user_model().objects.create_user("alice", password="pw", is_staff=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize("method, path", [
    ("post", "/api/ask"),
    ("post", "/api/documents"),
    ("put", "/api/documents/deep"),
    ("post", "/api/cache/purge"),
])
def test_it_refuses_a_body_nested_5000_deep_with_a_400_naming_the_problem(staff, method, path):
    Document.objects.create(slug="deep", title="Deep", content="Nested.")
    response = getattr(staff, method)(path, DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": f"JSON parse error - the body is nested more than {MAX_DEPTH} levels deep."}


def test_it_refuses_nesting_the_decoder_could_parse_but_no_endpoint_takes(staff):
    body = {"question": json.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))}
    response = staff.post("/api/ask", json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and "nested more than" in response.json()["detail"]


def test_it_still_reads_a_shallow_body_as_before(staff):
    response = staff.post("/api/cache/purge", json.dumps({"layer": ["not", "a", "layer"]}), content_type="application/json")
    assert response.status_code == 400 and "layer" in response.json()
