"""Every endpoint in /api/schema/ fuzzed by schemathesis: no server errors, responses as documented.

Plus the inputs fuzzing rarely reaches: bodies over DATA_UPLOAD_MAX_MEMORY_SIZE, NUL, control characters,
unicode and very long tokens in questions.
"""

import time

import pytest
import schemathesis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import wire_kb  # noqa: F401  (fixture)

pytestmark = [pytest.mark.redis]


@pytest.fixture
def staff_token(transactional_db) -> str:
    staff = get_user_model().objects.create_user("fuzz-staff", is_staff=True)
    return Token.objects.create(user=staff).key


# Loaded when the module is collected: generating the schema needs neither the database nor Redis.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.mark.slow
@schema.parametrize()
@hypothesis_settings(
    max_examples=25, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_it_never_fails_with_a_server_error_and_answers_as_documented(case, wire_kb, redis_conn, staff_token):
    # As staff, so writes get past authentication into validation and the services.
    case.call_and_validate(
        headers={"Authorization": f"Token {staff_token}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )


# --- what fuzzing rarely reaches ----------------------------------------------------

@pytest.fixture
def api(wire_kb, redis_conn, openai_wire):
    openai_wire.counts.clear()
    return APIClient()


def oversized_json() -> bytes:
    return b'{"question": "' + b"a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}'


@pytest.mark.parametrize("path", ["/api/ask", "/api/documents"])
def test_it_rejects_a_body_over_the_upload_limit_before_any_work(api, openai_wire, staff_token, path):
    api.credentials(HTTP_AUTHORIZATION=f"Token {staff_token}")
    started = time.monotonic()
    response = api.generic("POST", path, oversized_json(), content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}-byte limit" in response.json()["detail"]
    assert time.monotonic() - started < 1.0
    assert sum(openai_wire.counts.values()) == 0, "no provider call for a rejected body"


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("What does the with\x00 statement do?", "Null characters are not allowed."),
        ("w" * 2001, "Ensure this field has no more than 2000 characters."),
        (" \t\n ", "This field may not be blank."),
    ],
)
def test_it_refuses_nul_overlong_and_blank_questions_with_a_400_naming_the_field(api, question, message):
    response = api.post("/api/ask", {"question": question}, format="json")
    assert response.status_code == 400
    assert response.json() == {"question": [message]}


@pytest.mark.parametrize(
    "question",
    [
        "Was macht die with-Anweisung? 🐍 ñ ü ß",
        "with 文 语句 做什么？",
        "What does \u202ewith\u202c do?",  # right-to-left override
        "What\u200b does with do\u0301?",  # zero-width space, combining accent
        "with\x01\x07\x1b[31m statement\x7f?",  # control characters and an ANSI escape
        "a" * 2000,  # one token of the maximum length
        "with " * 400,  # 2,000 characters of one repeated word
        "\ud7ff\ue000\uffff?",  # edges of the BMP
    ],
)
def test_it_answers_unusual_but_valid_questions(api, question):
    response = api.post("/api/ask", {"question": question}, format="json")
    assert response.status_code == 200, response.content[:300]
    assert response["X-Cache"] == "MISS"
    assert api.post("/api/ask", {"question": question}, format="json")["X-Cache"] == "HIT"
