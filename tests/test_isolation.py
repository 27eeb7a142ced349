"""Per-user answers stay per user, and what lands in Redis reveals no question and can run no code."""

import json

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cache_policies.models import CachePolicy
from cache_policies.stats import flush_pending

pytestmark = [pytest.mark.redis, pytest.mark.cluster]

QUESTION = "What does the with statement do for a zebrafish?"
PARAPHRASE = "Explain what the with statement does for a zebrafish"
EMBEDDING_BYTES = 384 * 4
PICKLE_PROTO = b"\x80"


def user_client(username: str) -> APIClient:
    user = get_user_model().objects.create_user(username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def ask(client: APIClient, question: str = QUESTION) -> dict:
    response = client.post("/api/ask", {"question": question}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["cache"]


@pytest.fixture
def per_user(kb):
    for policy in CachePolicy.objects.filter(layer__in=["response", "semantic"]):
        policy.scope = "per_user"
        policy.save()  # post_save bumps the policy stamp after commit, as an admin edit does


def test_it_never_serves_one_users_answer_to_another(per_user, redis_conn):
    alice, bob, carol = user_client("alice"), user_client("bob"), user_client("carol")

    assert ask(alice)["response"] == "miss"
    assert ask(alice)["response"] == "hit"
    assert ask(bob)["response"] == "miss"
    assert ask(bob)["response"] == "hit"
    assert ask(APIClient())["response"] == "miss"
    assert ask(carol, PARAPHRASE)["response"] == "miss", "not a semantic hit on alice's or bob's entry"
    assert ask(alice, PARAPHRASE)["response"] == "semantic_hit", "the paraphrase does reach alice's own entry"


def test_it_shares_answers_under_the_default_shared_scope(kb, redis_conn):
    assert ask(user_client("alice"))["response"] == "miss"
    assert ask(user_client("bob"))["response"] == "hit"


def all_keys(redis_conn) -> list[bytes]:
    return list(redis_conn.scan_iter(count=500))


def test_it_builds_keys_from_hashes_never_from_the_question_or_the_user(per_user, redis_conn):
    ask(user_client("alice"))
    ask(APIClient(), PARAPHRASE)

    keys = [key.decode() for key in all_keys(redis_conn)]
    assert any(":resp:" in key for key in keys) and any(":emb:" in key for key in keys)
    for key in keys:
        assert "zebrafish" not in key and "alice" not in key, key


def stored_values(redis_conn, key: bytes) -> list[bytes]:
    """Every value a key holds, whatever its type (a hash gives its fields and values)."""
    kind = redis_conn.type(key).decode()
    if kind == "string":
        return [redis_conn.get(key)]
    if kind == "hash":
        return [part for pair in redis_conn.hgetall(key).items() for part in pair]
    if kind == "set":
        return list(redis_conn.smembers(key))
    if kind == "zset":
        return [member for member, _ in redis_conn.zrange(key, 0, -1, withscores=True)]
    if kind == "list":
        return redis_conn.lrange(key, 0, -1)
    raise AssertionError(f"unexpected {kind} at {key!r}")


def is_json_or_embedding(value: bytes) -> bool:
    if len(value) == EMBEDDING_BYTES:
        return abs(float(np.linalg.norm(np.frombuffer(value, dtype=np.float32))) - 1.0) < 1e-3
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def test_it_stores_no_pickle_anywhere(per_user, redis_conn):
    alice = user_client("alice")
    for client, question in [(alice, QUESTION), (alice, PARAPHRASE), (APIClient(), QUESTION)]:
        ask(client, question)

    flush_pending()  # the question ranking is written in the background; scan it too
    keys = all_keys(redis_conn)
    kinds = {redis_conn.type(key).decode() for key in keys}
    strings = [redis_conn.get(key) for key in keys if redis_conn.type(key) == b"string"]

    assert {"string", "hash", "set"} <= kinds
    assert any(b":throttle:ask" in key for key in keys), "the throttle window counters are checked too"
    for key in keys:
        for value in stored_values(redis_conn, key):
            assert not value.startswith(PICKLE_PROTO), (key, value[:40])
    for value in strings:
        assert is_json_or_embedding(value), value[:80]
