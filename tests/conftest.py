"""The real servers: embedded PostgreSQL+pgvector and Valkey (or the URLs given), never fakes."""

import os

import pytest

os.environ["RAGSITE_TESTING"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_configure(config):
    from ragsite import devservices

    devservices.ensure_running()


@pytest.fixture
def redis_conn():
    """The test Redis, flushed before and after: a dedicated db, never the developer's."""
    from django_redis import get_redis_connection

    conn = get_redis_connection("default")
    conn.flushdb()
    yield conn
    conn.flushdb()
