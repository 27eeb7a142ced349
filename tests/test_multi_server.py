"""Two gunicorn servers sharing one Redis and one PostgreSQL behave as one site."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from cache_policies.models import CachePolicy
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.servers import (  # noqa: F401
    Gunicorn, document_put, shared_redis_url, site_database_url, site_env, wait_until, wire_kb,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis]

QUESTION = "What does the with statement do?"


@pytest.fixture
def servers(wire_kb, openai_wire, site_database_url, redis_conn):
    env = site_env(redis_url=shared_redis_url(), database_url=site_database_url, wire_url=openai_wire.base_url,
                   JOBS_WORKER=1)
    with Gunicorn(env=env, workers=1) as one, Gunicorn(env=env, workers=1) as two:
        yield one, two


def ask(site: Gunicorn, question: str = QUESTION) -> dict:
    response = requests.post(site.url("/api/ask"), json={"question": question}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.json()


def test_it_serves_an_answer_cached_through_one_server_as_a_hit_on_the_other(servers):
    one, two = servers
    first = ask(one)
    second = ask(two)
    assert (first["cache"]["response"], second["cache"]["response"]) == ("miss", "hit")
    assert second["answer"] == first["answer"] and second["cache"]["key"] == first["cache"]["key"]


def test_it_makes_one_llm_call_for_identical_cold_questions_split_across_both_servers(servers, openai_wire):
    openai_wire.configure(chat_latency_ms=1500)
    before = openai_wire.counts["chat"]
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda i: ask(servers[i % 2]), range(8)))
    assert openai_wire.counts["chat"] - before == 1
    assert [r["cache"]["response"] for r in replies].count("miss") == 1
    assert len({r["answer"] for r in replies}) == 1


def test_it_gives_each_server_its_own_gunicorn_control_socket(servers):
    one, two = servers
    assert one.control_socket.is_socket() and two.control_socket.is_socket()
    assert one.control_socket != two.control_socket


def test_it_puts_the_control_socket_under_the_checkouts_var_by_default():
    import runpy

    from django.conf import settings

    config = runpy.run_path(str(settings.BASE_DIR / "ragsite" / "gunicorn.conf.py"))
    assert config["control_socket"] == str(settings.VAR_DIR / "gunicorn.ctl")
    assert config["worker_class"] == "gthread" and config["threads"] > settings.SINGLEFLIGHT_MAX_WAITERS


def test_it_applies_a_policy_change_on_every_server_within_a_second(servers):
    one, two = servers
    for site in servers:
        ask(site)  # each now holds the policies in-process

    policy = CachePolicy.objects.get(layer="response")
    policy.enabled = False
    policy.save()  # post_save bumps the Redis stamp after commit, as the admin does
    changed = time.monotonic()

    for site in servers:
        wait_until(lambda: ask(site)["cache"]["response"] == "off", seconds=1.0, what="the response layer to be off")
    assert time.monotonic() - changed < 1.0


def test_it_invalidates_on_both_servers_when_a_document_is_edited_through_one(servers):
    one, two = servers
    staff = get_user_model().objects.create_user("editor", is_staff=True)
    token = Token.objects.create(user=staff).key
    before = ask(one)
    assert ask(two)["cache"]["response"] == "hit"

    edit = document_put(one, "with", token=token, title="The with statement",
                        content="The with statement calls __enter__, runs the block, then __exit__.")
    assert edit["status"] == "ready" and edit["version"] == 2

    after = ask(two)
    assert after["cache"]["response"] == "miss", "the entry built from version 1 is gone for every server"
    assert ask(one)["cache"]["response"] == "hit", "and the fresh one is shared"
    assert [s["chunk_id"] for s in after["sources"]] != [s["chunk_id"] for s in before["sources"]]
