"""Single-flight in one process: identical cold questions share one LLM call, a failed leader costs one more,
followers never wait past the lock timeout, and a process lets only so many wait (the real openai client over HTTP)."""

import threading

import pytest

from cache_policies.models import CachePolicy
from cache_policies.singleflight import AnswerPending
from qa import providers
from qa.pipeline import question_answer
from bench.openai_wire_server import OpenAIWireServer
from ragsite.errors import ProviderError

pytestmark = [pytest.mark.redis, pytest.mark.cluster]

QUESTION = "What does the with statement do?"


@pytest.fixture
def slow_llm(settings):
    with OpenAIWireServer(chat_latency_ms=400) as server:
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_MAX_RETRIES = 0  # one failure is one failed request, not a retried one
        settings.LLM_PROVIDER = "openai"
        settings.LLM_MODEL = "gpt-4o-mini"
        providers.reset()
        providers.embedder().embed(["warm the model up"])
        yield server
    providers.reset()


def _ask_concurrently(question: str, n: int) -> tuple[list, list]:
    """n threads released together; returns the answers and the exceptions raised."""
    from django.db import connection

    barrier = threading.Barrier(n)
    results, errors = [], []

    def ask():
        try:
            barrier.wait()
            results.append(question_answer(question=question))
        except Exception as exc:  # collected so the test can look at them
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_it_makes_one_llm_call_for_fifty_identical_cold_questions(kb, slow_llm, settings):
    settings.SINGLEFLIGHT_MAX_WAITERS = 64  # a process with threads enough for them all to wait
    results, errors = _ask_concurrently(QUESTION, 50)
    assert not errors, errors
    assert slow_llm.counts["chat"] == 1
    assert len(results) == 50
    assert len({r.answer for r in results}) == 1
    assert sum(r.cache["response"] == "miss" for r in results) == 1


def test_it_lets_one_follower_take_over_when_the_leader_fails(kb, slow_llm, settings):
    settings.SINGLEFLIGHT_MAX_WAITERS = 64
    slow_llm.configure(chat_latency_ms=400, fail_times=1, fail_endpoint="chat")
    results, errors = _ask_concurrently(QUESTION, 10)
    assert slow_llm.counts["chat"] == 2, "the failed leader's call and one follower's"
    assert [type(e) for e in errors] == [ProviderError], "only the leader's own request sees its failure"
    assert len(results) == 9 and len({r.answer for r in results}) == 1
    assert sum(r.cache["response"] == "miss" for r in results) == 1


def test_it_tells_followers_to_retry_once_the_lock_timeout_passes(kb, slow_llm, settings):
    settings.SINGLEFLIGHT_MAX_WAITERS = 64
    CachePolicy.objects.filter(layer="response").update(lock_timeout_seconds=0.5)
    slow_llm.configure(chat_latency_ms=3000)
    results, errors = _ask_concurrently(QUESTION, 4)
    assert len(results) == 1 and results[0].cache["response"] == "miss", "the leader answers"
    assert len(errors) == 3 and all(isinstance(e, AnswerPending) for e in errors), errors
    assert slow_llm.counts["chat"] == 1, "followers past the timeout do not call the LLM themselves"


def test_it_turns_away_followers_beyond_the_process_limit_and_serves_the_others(kb, slow_llm, settings):
    settings.SINGLEFLIGHT_MAX_WAITERS = 2
    slow_llm.configure(chat_latency_ms=1500)
    results, errors = _ask_concurrently(QUESTION, 6)
    assert slow_llm.counts["chat"] == 1
    assert sorted(r.cache["response"] for r in results) == ["hit", "hit", "miss"], "the leader and two waiters"
    assert len(errors) == 3 and all("Too many requests" in str(e) for e in errors), errors


def test_it_does_not_compute_a_third_time_when_the_takeover_fails_too(kb, slow_llm, settings):
    settings.SINGLEFLIGHT_MAX_WAITERS = 64
    slow_llm.configure(chat_latency_ms=400, fail_times=10, fail_endpoint="chat")
    results, errors = _ask_concurrently(QUESTION, 8)
    assert slow_llm.counts["chat"] == 2
    assert not results
    assert sorted(type(e).__name__ for e in errors) == ["AnswerPending"] * 6 + ["ProviderError"] * 2


def test_it_caches_nothing_when_the_llm_fails(kb, slow_llm):
    slow_llm.configure(fail_times=10, fail_status=500)
    with pytest.raises(ProviderError):
        question_answer(question=QUESTION)
    slow_llm.configure(fail_times=0)
    assert question_answer(question=QUESTION).cache["response"] == "miss"


def test_it_counts_only_failed_computations_toward_the_takeover_limit(redis_conn):
    """Two computations that ended well (an edit dropped the answer twice, say) leave the third asker free to
    take over from a leader that is gone, instead of telling it the answer 'failed twice'."""
    from cache_policies import singleflight

    key = "rag-test:sf-count:" + "a" * 16
    for _ in range(2):
        with singleflight.turn(key=key, read=lambda: None, timeout=5) as cached:
            assert cached is None, "each one leads, nothing was stored"
    leading, leave = threading.Event(), threading.Event()
    outcome = {}

    def leader():
        with singleflight.turn(key=key, read=lambda: None, timeout=5):
            leading.set()
            leave.wait(5)
            raise RuntimeError("this leader dies without an answer")

    def follower():
        try:
            with singleflight.turn(key=key, read=lambda: None, timeout=5) as cached:
                outcome["took over"] = cached is None
        except AnswerPending as exc:
            outcome["pending"] = str(exc)

    first = threading.Thread(target=lambda: pytest.raises(RuntimeError, lambda: leader()))
    first.start()
    assert leading.wait(5)
    second = threading.Thread(target=follower)
    second.start()
    leave.set()
    first.join(10)
    second.join(10)
    assert outcome == {"took over": True}
