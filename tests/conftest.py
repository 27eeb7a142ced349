"""The real servers: embedded PostgreSQL+pgvector and Valkey (or the URLs given), never fakes."""

import os

import pytest

os.environ["RAGSITE_TESTING"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_configure(config):
    from django.conf import settings

    from ragsite import devservices

    devservices.ensure_running()
    # `make run` fills it with collectstatic; tests serve nothing from it, but whitenoise warns when it is missing.
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def redis_conn():
    """The test Redis, flushed before and after: a dedicated db, never the developer's."""
    from django_redis import get_redis_connection

    conn = get_redis_connection("default")
    conn.flushdb()
    yield conn
    conn.flushdb()


def defaults_create() -> None:
    """Re-create what the data migrations made (a transactional test's flush removes it)."""
    import importlib

    from django.apps import apps

    importlib.import_module("cache_policies.migrations.0002_default_policies").create_defaults(apps, None)
    importlib.import_module("cache_policies.migrations.0005_model_seen_no_manual_rule").manual_rules_delete(apps, None)
    importlib.import_module("qa.migrations.0001_initial").create_default_prompt(apps, None)


@pytest.fixture(scope="session")
def stats_connection(django_db_setup, django_db_blocker):
    """The stats flush's own connection to the test database, closed before the database is dropped."""
    from cache_policies.stats import flush_pending
    from cache_policies.stats_store import connection_close

    yield
    with django_db_blocker.unblock():
        flush_pending()  # now, into the test database: at exit it would go to the developer's
    connection_close()


@pytest.fixture(autouse=True)
def fresh_cache_state(request, django_db_blocker):
    """Each test starts with an empty test Redis db, no counts, a closed circuit and no policies held in-process."""
    from cache_policies import held, redis_client
    from cache_policies.stats import flush_pending
    from cache_policies.stats_store import rollup_delete

    redis_client.breaker.reset()
    held.database.reset()
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("stats_connection")  # the test database exists from here on
        with django_db_blocker.unblock():
            # An earlier test's counts must land before the wipe, not in this test's numbers. They are written through
            # their own autocommit connection, so the wipe holds whatever transaction the test runs in.
            flush_pending()
            rollup_delete()
    redis_client.call(lambda r: r.flushdb())
    held.forget_all()
    yield
    redis_client.breaker.reset()
    held.database.reset()
    held.forget_all()


@pytest.fixture
def kb(transactional_db):
    """Three tiny documents, really embedded and stored in pgvector, plus the default policies."""
    from qa.services import document_ingest

    defaults_create()
    docs = {
        "with": ("The with statement", "The with statement wraps a block with a context manager. "
                 "The context manager's __enter__ runs first and __exit__ runs when the block ends, even on error."),
        "while": ("The while statement", "The while statement repeats a block as long as a condition is true. "
                  "A break statement ends the loop early and continue skips to the next test of the condition."),
        "import": ("The import statement", "The import statement finds a module, loads it and binds a name. "
                   "'import x as y' binds the module under the name y instead of x."),
    }
    return {slug: document_ingest(slug=slug, title=title, content=content)[0] for slug, (title, content) in docs.items()}


def semantic_policy_edit(admin_client, **changes) -> tuple:
    """The semantic policy's admin form as shown, the page after posting it with `changes` as a browser posts it
    (every field of the form; a checkbox only when ticked), and the policy as saved."""
    from cache_policies.models import CachePolicy

    policy = CachePolicy.objects.get(layer="semantic")
    url = f"/admin/cache_policies/cachepolicy/{policy.pk}/change/"
    fields = ("enabled", "scope", "similarity_threshold", "max_wrong_rate", "guard_min_overlap", "guard_contrast",
              "guard_min_evidence", "guard_min_alignment", "guard_alignment_below", "guard_off_topic_similarity",
              "verify_share", "namespace_version")
    data = {field: changes.get(field, getattr(policy, field)) for field in fields}
    data = {field: "on" if value is True else value for field, value in data.items() if value is not False}
    form = admin_client.get(url).content.decode()
    page = admin_client.post(url, data, follow=True).content.decode()
    policy.refresh_from_db()
    return form, page, policy
