"""50 concurrent identical cold questions make exactly one LLM call (the real openai client over HTTP)."""

import threading

import pytest

from qa import providers
from qa.pipeline import question_answer
from bench.openai_wire_server import OpenAIWireServer

pytestmark = [pytest.mark.redis, pytest.mark.cluster]


@pytest.fixture
def slow_llm(settings):
    with OpenAIWireServer(chat_latency_ms=400) as server:
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_BASE_URL = server.base_url
        settings.LLM_PROVIDER = "openai"
        settings.LLM_MODEL = "gpt-4o-mini"
        providers.reset()
        yield server
    providers.reset()


def _ask_concurrently(question: str, n: int) -> list:
    from django.db import connection

    barrier = threading.Barrier(n)
    results, errors = [], []

    def ask():
        try:
            barrier.wait()
            results.append(question_answer(question=question))
        except Exception as exc:  # collected so the test can show it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_it_makes_one_llm_call_for_fifty_identical_cold_questions(kb, slow_llm):
    providers.embedder().embed(["warm the model up"])
    results = _ask_concurrently("What does the with statement do?", 50)
    assert slow_llm.counts["chat"] == 1
    assert len(results) == 50
    assert len({r.answer for r in results}) == 1
    assert sum(r.cache["response"] == "miss" for r in results) == 1


def test_it_caches_nothing_when_the_llm_fails(kb, slow_llm):
    slow_llm.configure(fail_times=10, fail_status=500)
    from ragsite.errors import ProviderError

    with pytest.raises(ProviderError):
        question_answer(question="What does the with statement do?")
    slow_llm.configure(fail_times=0)
    assert question_answer(question="What does the with statement do?").cache["response"] == "miss"
