"""Serve-stale-while-revalidate: past its TTL, within the policy's stale window, an answer is served at
once as STALE and refreshed once; an answer a change removed is never served stale."""

import time

import pytest

from bench.openai_wire_server import OpenAIWireServer
from cache_policies import keys
from cache_policies.models import CachePolicy
from qa import providers
from qa.pipeline import question_answer
from qa.services import document_ingest

pytestmark = [pytest.mark.redis]
QUESTION = "What does the with statement do?"
TTL = 1


@pytest.fixture
def llm(settings):
    """The real openai client against the wire-format server, which counts the answers it generates."""
    with OpenAIWireServer(chat_latency_ms=0) as server:
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_BASE_URL = server.base_url
        settings.LLM_PROVIDER = "openai"
        settings.LLM_MODEL = "gpt-4o-mini"
        providers.reset()
        yield server
    providers.reset()


def _stale_window(seconds: int) -> None:
    CachePolicy.objects.filter(layer="response").update(ttl_seconds=TTL, stale_seconds=seconds)


def _past_ttl() -> None:
    time.sleep(TTL + 0.1)  # the TTL is what is being tested: an answer must be this old


def test_it_serves_an_answer_past_its_ttl_as_stale_and_refreshes_it_once(kb, llm, redis_conn):
    _stale_window(60)
    first = question_answer(question=QUESTION)
    assert first.cache["response"] == "miss" and llm.counts["chat"] == 1
    _past_ttl()
    stale = question_answer(question=QUESTION)
    assert stale.cache["response"] == "stale" and stale.x_cache == "STALE"
    assert stale.answer == first.answer
    assert llm.counts["chat"] == 2, "one refresh (the test process runs jobs at once)"
    again = question_answer(question=QUESTION)
    assert again.cache["response"] == "hit", "the refreshed answer is fresh"
    assert llm.counts["chat"] == 2


def test_it_queues_one_refresh_however_many_read_the_stale_answer(kb, llm, redis_conn):
    _stale_window(60)
    question_answer(question=QUESTION)
    _past_ttl()
    # Another worker already holds the refresh: this one serves stale and queues nothing.
    key = next(k.decode() for k in redis_conn.scan_iter(match="*:resp:*") if b":dep:" not in k)
    redis_conn.set(keys.refresh_key(key=key), "another worker", ex=30)
    replies = [question_answer(question=QUESTION) for _ in range(3)]
    assert [r.cache["response"] for r in replies] == ["stale"] * 3
    assert llm.counts["chat"] == 1, "no refresh of its own"


def test_it_never_serves_stale_an_answer_a_document_edit_removed(kb, llm, redis_conn):
    _stale_window(60)
    question_answer(question=QUESTION)
    _past_ttl()
    document_ingest(slug="with", title="The with statement",
                    content="The with statement now says zebra: it calls __enter__ and __exit__ around its block.")
    after = question_answer(question=QUESTION)
    assert after.cache["response"] == "miss"


def test_it_answers_afresh_past_the_ttl_when_the_stale_window_is_off(kb, llm, redis_conn):
    _stale_window(0)
    question_answer(question=QUESTION)
    _past_ttl()
    assert question_answer(question=QUESTION).cache["response"] == "miss"
