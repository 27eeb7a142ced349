"""The four layers against the real Valkey/Redis and pgvector: hits, misses, TTL, modes, scope."""

import time

import numpy as np
import pytest

from cache_policies import keys
from cache_policies.models import CachedQuestion, CachePolicy
from qa.pipeline import question_answer

pytestmark = [pytest.mark.redis, pytest.mark.cluster]
QUESTION = "What does the with statement do?"


def _set_policy(layer, **fields):
    CachePolicy.objects.filter(layer=layer).update(**fields)
    from cache_policies import held

    held.forget_all()


def test_it_serves_an_exact_hit_after_the_first_answer(kb):
    first = question_answer(question=QUESTION)
    second = question_answer(question=QUESTION)
    assert first.cache["response"] == "miss" and first.x_cache == "MISS"
    assert second.cache["response"] == "hit" and second.x_cache == "HIT"
    assert second.answer == first.answer and second.sources == first.sources
    assert first.sources[0]["document"] == "with"


def test_it_treats_case_and_spacing_as_the_same_question(kb):
    question_answer(question=QUESTION)
    assert question_answer(question="  what DOES the with   statement do ").cache["response"] == "hit"


def test_it_hits_the_embedding_and_retrieval_layers_when_the_response_layer_is_off(kb):
    _set_policy("response", enabled=False)
    first = question_answer(question=QUESTION)
    second = question_answer(question=QUESTION)
    assert (first.cache["embedding"], first.cache["retrieval"], first.cache["response"]) == ("miss", "miss", "off")
    assert (second.cache["embedding"], second.cache["retrieval"], second.cache["response"]) == ("hit", "hit", "off")
    assert second.sources == first.sources


def test_it_stores_embeddings_as_raw_float32(kb, redis_conn):
    question_answer(question=QUESTION)
    emb_keys = [k for k in redis_conn.keys("*:emb:*")]
    assert len(emb_keys) == 1
    vector = np.frombuffer(redis_conn.get(emb_keys[0]), dtype=np.float32)
    assert vector.shape == (384,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4


def test_it_serves_a_semantic_hit_for_a_paraphrase(kb):
    question_answer(question="How does the with statement work?")
    answer = question_answer(question="Explain how the with statement works")
    assert answer.cache["response"] == "semantic_hit"
    assert answer.x_cache == "SEMANTIC-HIT"
    assert answer.cache["similarity"] > 0.75


def test_it_refuses_a_semantic_hit_for_a_question_about_another_document(kb):
    question_answer(question="How does the with statement work?")
    answer = question_answer(question="How does the while statement work?")
    assert answer.cache["response"] == "miss"
    assert answer.sources[0]["document"] == "while"


def test_it_expires_entries_after_their_ttl(kb):
    _set_policy("response", ttl_seconds=1)
    _set_policy("semantic", enabled=False)
    question_answer(question=QUESTION)
    assert question_answer(question=QUESTION).cache["response"] == "hit"
    time.sleep(2.1)
    assert question_answer(question=QUESTION).cache["response"] == "miss"


def test_it_neither_reads_nor_writes_with_no_store(kb, redis_conn):
    answer = question_answer(question=QUESTION, cache_mode="no-store")
    assert answer.cache == {**answer.cache, "embedding": "off", "retrieval": "off", "response": "miss"}
    assert not [k for k in redis_conn.keys("*") if b":stats:" not in k]
    assert question_answer(question=QUESTION).cache["response"] == "miss"


def test_it_recomputes_and_refreshes_with_no_cache(kb, redis_conn):
    question_answer(question=QUESTION)
    resp_key = next(k for k in redis_conn.keys("*:resp:*"))
    before = redis_conn.get(resp_key)
    refreshed = question_answer(question=QUESTION, cache_mode="no-cache")
    assert refreshed.cache["response"] == "miss"
    assert redis_conn.get(resp_key) != before  # created_at and cost changed: the entry was rewritten
    assert question_answer(question=QUESTION).cache["response"] == "hit"


def test_it_keeps_per_user_answers_apart(kb):
    _set_policy("response", scope="per_user")
    _set_policy("semantic", scope="per_user")
    assert question_answer(question=QUESTION, user_id=1).cache["response"] == "miss"
    assert question_answer(question=QUESTION, user_id=2).cache["response"] == "miss"
    assert question_answer(question=QUESTION, user_id=1).cache["response"] == "hit"
    assert question_answer(question=QUESTION).cache["response"] == "miss"


def test_it_never_writes_question_text_into_keys(kb, redis_conn):
    question_answer(question="Tell me about the WITH statement please")
    assert all(b"statement" not in k and b"with" not in k.lower().split(b":")[-1] for k in redis_conn.keys("*"))


def test_it_stores_no_pickle_anywhere(kb, redis_conn):
    for q in (QUESTION, "How does import work?", "What ends a while loop early?"):
        question_answer(question=q)
    for key in redis_conn.keys("*"):
        kind = redis_conn.type(key)
        if kind == b"string":
            value = redis_conn.get(key)
            assert not value.startswith(b"\x80"), key
            assert b":emb:" in key or value[:1] in (b"{", b"[") or value.isdigit(), key


def test_it_bumps_a_namespace_to_drop_a_whole_layer(kb):
    from cache_policies.services import layer_purge

    question_answer(question=QUESTION)
    layer_purge(layer="response")
    answer = question_answer(question=QUESTION)
    assert answer.cache["response"] == "miss"
    assert CachedQuestion.objects.count() == 1


def test_it_purges_one_question_and_keeps_the_others(kb):
    from cache_policies.services import question_purge

    question_answer(question=QUESTION)
    question_answer(question="How does import bind a name?")
    assert question_purge(question=QUESTION) >= 1
    assert question_answer(question=QUESTION).cache["response"] == "miss"
    assert question_answer(question="How does import bind a name?").cache["response"] == "hit"


def test_the_key_names_its_layer_version_models_and_scope(settings):
    key = keys.response_key(
        namespace=3, kb_version=2, provider="openai", model="gpt-4o-mini", template="tpl-default.7",
        retrieval="k5of20", scope="shared", text="Hi there?",
    )
    prefix, layer, ns, kb, provider, model, tpl, k, scope, digest = key.split(":")
    assert (layer, ns, kb, provider, model, tpl, k, scope) == (
        "resp", "v3", "kb2", "openai", "gpt-4o-mini", "tpl-default.7", "k5of20", "shared")
    assert digest == keys.text_hash("hi   THERE") and len(digest) == 64


def test_it_prunes_expired_rows_from_the_semantic_index(kb):
    from datetime import timedelta

    from django.utils import timezone

    from cache_policies import semantic

    CachedQuestion.objects.create(
        namespace="old", scope="shared", question="stale", embedding=[0.0] * 383 + [1.0], response_key="gone",
        kth_score=0.5, expires_at=timezone.now() - timedelta(seconds=1),
    )
    semantic._pruned_at["t"] = -semantic.EXPIRED_PRUNE_SECONDS
    question_answer(question=QUESTION)
    assert not CachedQuestion.objects.filter(response_key="gone").exists()
    assert CachedQuestion.objects.count() == 1
