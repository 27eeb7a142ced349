import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from ragsite import settings as ragsite_settings


@pytest.mark.django_db
def test_it_runs_on_postgres_with_pgvector():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
    assert connection.vendor == "postgresql"
    assert tuple(int(p) for p in version.split(".")[:2]) >= (0, 5)


@pytest.mark.redis
def test_it_talks_to_a_real_redis_in_a_test_only_db(redis_conn, settings):
    redis_conn.set("probe", b"1")
    info = redis_conn.info("server")
    assert redis_conn.get("probe") == b"1"
    assert info.get("redis_version") or info.get("valkey_version")
    assert settings.CACHES["default"]["KEY_PREFIX"] != "rag"


@pytest.mark.parametrize(
    ("helper", "name", "raw", "message"),
    [
        (ragsite_settings.envbool, "DEBUG", "maybe", "DEBUG must be a boolean"),
        (ragsite_settings.envint, "RETRIEVAL_TOP_K", "five", "RETRIEVAL_TOP_K must be an integer"),
        (ragsite_settings.envfloat, "OPENAI_TIMEOUT", "-1", "OPENAI_TIMEOUT must be positive"),
    ],
)
def test_it_names_the_variable_when_a_setting_is_bad(monkeypatch, helper, name, raw, message):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        helper(name, 1)


def test_it_rejects_a_database_url_of_the_wrong_scheme(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://localhost/x")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must be a URL"):
        ragsite_settings.envurl("DATABASE_URL", ("postgres", "postgresql"))


@pytest.mark.django_db
def test_it_serves_the_home_page_and_the_admin_login(client):
    assert client.get("/").status_code == 200
    assert client.get("/admin/login/").status_code == 200
