"""Who may do what: admin, stats, purge and document writes are staff-only; asking is throttled and CSRF-safe."""

import os
import re
import secrets
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from qa.services import document_ingest
from tests.servers import BASE_DIR

QUESTION = "What does the with statement do?"
DOCUMENT = {"title": "The with statement", "content": "The with statement wraps a block with a context manager."}


@pytest.fixture
def users(db):
    User = get_user_model()
    staff = User.objects.create_user("staff", password="staff-pass", is_staff=True)
    member = User.objects.create_user("member", password="member-pass")
    return {"staff": staff, "member": member}


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def document(db):
    return document_ingest(slug="with", **DOCUMENT)[0]


# --- staff-only pages and APIs ---------------------------------------------------

@pytest.mark.parametrize("path", ["/admin/", "/stats/"])
def test_it_sends_anonymous_and_non_staff_visitors_to_the_login_page(users, client, path):
    assert client.get(path).status_code == 302
    assert client.get(path)["Location"].startswith("/admin/login/")
    client.force_login(users["member"])
    assert client.get(path).status_code == 302
    client.force_login(users["staff"])
    assert client.get(path).status_code == 200


def test_it_refuses_the_stats_api_to_anyone_but_staff(users, redis_conn):
    assert APIClient().get("/api/stats").status_code == 401
    assert token_client(users["member"]).get("/api/stats").status_code == 403
    assert token_client(users["staff"]).get("/api/stats").status_code == 200


def test_it_lets_only_staff_purge_the_cache(users, redis_conn):
    body = {"layer": "response"}
    assert APIClient().post("/api/cache/purge", body, format="json").status_code in (401, 403)
    assert token_client(users["member"]).post("/api/cache/purge", body, format="json").status_code == 403
    assert token_client(users["staff"]).post("/api/cache/purge", body, format="json").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "staff_status"),
    [
        ("post", "/api/documents", {"slug": "new", **DOCUMENT}, 202),
        ("put", "/api/documents/with", {"title": "With", "content": "The with statement calls __exit__."}, 202),
        ("delete", "/api/documents/with", None, 204),
    ],
)
def test_it_lets_only_staff_write_documents(users, document, redis_conn, method, path, body, staff_status):
    anonymous = getattr(APIClient(), method)(path, body, format="json")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    assert getattr(token_client(users["member"]), method)(path, body, format="json").status_code == 403

    assert getattr(token_client(users["staff"]), method)(path, body, format="json").status_code == staff_status


def test_it_lets_anyone_read_documents(document):
    assert APIClient().get("/api/documents/with").json()["title"] == "The with statement"


def test_it_refuses_a_session_write_without_a_csrf_token(users, document, redis_conn):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["staff"])
    response = client.put("/api/documents/with", {"title": "With", "content": "Changed."}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# --- throttling -------------------------------------------------------------------

@pytest.fixture
def low_ask_rates(settings, monkeypatch):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"ask_anon": "3/minute", "ask_user": "5/minute", "document_write": "2/minute"},
    }
    # DRF copies the rates onto the throttle class when it is defined; a settings override alone misses them.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])


@pytest.mark.redis
def test_it_throttles_anonymous_questions(document, low_ask_rates, redis_conn):
    client = APIClient()
    statuses = [client.post("/api/ask", {"question": QUESTION}, format="json").status_code for _ in range(4)]
    throttled = client.post("/api/ask", {"question": QUESTION}, format="json")

    assert statuses == [200, 200, 200, 429]
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert "throttled" in throttled.json()["detail"].lower()
    assert redis_conn.keys("*:throttle:ask_anon:*"), "the throttle window lives in the shared Redis"


@pytest.mark.redis
def test_it_gives_signed_in_users_their_own_higher_rate(users, document, low_ask_rates, redis_conn):
    anonymous = APIClient()
    for _ in range(3):
        anonymous.post("/api/ask", {"question": QUESTION}, format="json")
    member = token_client(users["member"])
    statuses = [member.post("/api/ask", {"question": QUESTION}, format="json").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


@pytest.mark.redis
def test_it_throttles_the_ask_form_like_the_api(document, low_ask_rates, redis_conn):
    client = Client()
    statuses = [client.post("/", {"question": f"{QUESTION} {i}"}).status_code for i in range(3)]
    throttled = client.post("/", {"question": "A new question nobody asked"})

    assert statuses == [200, 200, 200]
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    page = throttled.content.decode()
    assert f"try again in {throttled['Retry-After']} s" in page
    assert "A new question nobody asked" in page, "the question stays in the box"
    assert APIClient().post("/api/ask", {"question": QUESTION}, format="json").status_code == 429


@pytest.mark.redis
def test_it_counts_the_form_and_the_api_against_one_budget(users, document, low_ask_rates, redis_conn):
    api, form = token_client(users["member"]), Client()
    form.force_login(users["member"])
    api_statuses = [api.post("/api/ask", {"question": QUESTION}, format="json").status_code for _ in range(4)]
    assert api_statuses == [200] * 4
    assert form.post("/", {"question": QUESTION}).status_code == 200
    assert form.post("/", {"question": QUESTION}).status_code == 429


@pytest.fixture
def per_second_rate(settings, monkeypatch):
    rates = {"ask_anon": "4/second", "ask_user": "4/second", "document_write": "4/second"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)


def _wait_until_just_before_a_whole_second() -> None:
    deadline = time.monotonic() + 5
    while not 0.8 < time.time() % 1 < 0.85:
        assert time.monotonic() < deadline
        time.sleep(0.005)


@pytest.mark.redis
def test_it_allows_no_burst_across_a_window_boundary(document, per_second_rate, redis_conn):
    client = APIClient()
    client.post("/api/ask", {"question": QUESTION}, format="json")  # warm the cache: the burst is all hits
    redis_conn.delete(*redis_conn.keys("*:throttle:*"))
    _wait_until_just_before_a_whole_second()
    sent = []
    for _ in range(16):  # straddles the boundary: a fixed window would let 4 + 4 through at once
        before = time.time()
        status = client.post("/api/ask", {"question": QUESTION}, format="json").status_code
        sent.append((before, time.time(), status))
    allowed = [(before, after) for before, after, status in sent if status == 200]

    assert {status for *_, status in sent} == {200, 429}
    # Each allowed request happened within its (before, after); any 5 allowed ones must span a second.
    for first, fifth in zip(allowed, allowed[4:]):
        assert fifth[1] - first[0] >= 1.0, "more than 4 requests got through within one second"


@pytest.mark.redis
def test_it_throttles_document_writes(users, document, low_ask_rates, redis_conn):
    staff = token_client(users["staff"])
    statuses = [
        staff.put("/api/documents/with", {"title": f"With {i}", "content": DOCUMENT["content"]}, format="json").status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert staff.get("/api/documents/with").status_code == 200, "reads are not throttled"


# --- CSRF ---------------------------------------------------------------------------

def test_it_refuses_the_ask_form_without_a_csrf_token(document, redis_conn):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/", {"question": QUESTION}).status_code == 403


def test_it_answers_the_ask_form_with_its_csrf_token(document, redis_conn):
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post("/", {"question": QUESTION, "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert response["X-Cache"] in ("MISS", "HIT")


def test_it_refuses_a_signed_in_ask_without_a_csrf_token_but_not_an_anonymous_one(users, document, redis_conn):
    client = APIClient(enforce_csrf_checks=True)
    assert client.post("/api/ask", {"question": QUESTION}, format="json").status_code == 200
    client.force_login(users["member"])
    assert client.post("/api/ask", {"question": QUESTION}, format="json").status_code == 403


# --- deploy check -------------------------------------------------------------------

HTTPS_ONLY_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}


def test_it_passes_the_deploy_check_except_for_the_https_only_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "RAGSITE_"))}
    env.update(DJANGO_SETTINGS_MODULE="ragsite.settings", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=BASE_DIR, env=env, capture_output=True, text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    found = set(re.findall(r"\((\w+\.[EW]\d+)\)", output))
    # ragsite.*: the Redis configuration advice, which depends on the server found (tests/test_stats_durable.py).
    assert {check for check in found if not check.startswith("ragsite.")} == HTTPS_ONLY_WARNINGS, output
