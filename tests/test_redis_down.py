"""Redis unreachable: answers keep coming, uncached, and caching resumes when it is back."""

import time

import pytest

from cache_policies import redis_client
from qa.pipeline import question_answer
from tests.private_valkey import PrivateValkey

pytestmark = [pytest.mark.redis]
QUESTION = "What does the with statement do?"


@pytest.fixture
def private_valkey(settings):
    server = PrivateValkey().start()
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": server.url},
    }
    redis_client.breaker.record_success()
    yield server
    server.stop()


def test_it_answers_uncached_while_redis_is_down_and_resumes_after(kb, private_valkey):
    question_answer(question=QUESTION)
    assert question_answer(question=QUESTION).cache["response"] == "hit"

    private_valkey.stop()
    down = [question_answer(question=QUESTION) for _ in range(3)]
    assert all(a.cache["response"] == "miss" and a.answer for a in down)
    assert redis_client.breaker.is_open  # later requests skip Redis instead of paying a timeout

    private_valkey.start()
    deadline = time.monotonic() + 10
    while redis_client.breaker.is_open and time.monotonic() < deadline:
        time.sleep(0.2)
    question_answer(question=QUESTION)
    assert question_answer(question=QUESTION).cache["response"] == "hit"


def test_it_replays_an_invalidation_that_happened_while_redis_was_down(kb, private_valkey):
    from cache_policies.models import PendingInvalidation
    from qa.services import document_ingest

    question_answer(question=QUESTION)
    private_valkey.process.send_signal(19)  # SIGSTOP: the server keeps its data but stops answering
    try:
        document_ingest(slug="with", title="The with statement", content="The with statement, edited: zebra.")
        assert PendingInvalidation.objects.count() == 1
    finally:
        private_valkey.process.send_signal(18)  # SIGCONT: back with the stale entry still in it
    deadline = time.monotonic() + 10
    while redis_client.breaker.is_open and time.monotonic() < deadline:
        time.sleep(0.2)
    after = question_answer(question=QUESTION)
    assert "zebra" in after.answer
    assert not PendingInvalidation.objects.exists()


def test_it_serves_a_cached_answer_when_postgres_fails_while_the_redis_circuit_is_open(kb, monkeypatch):
    """One slow Redis reply opens this process's circuit; if PostgreSQL is down then too, the cached
    answer is still served (Redis asked once more) rather than a 503."""
    from django.db import OperationalError

    from qa import retrieval

    question_answer(question=QUESTION)
    redis_client.breaker.record_failure()

    def database_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(retrieval, "chunk_search", database_down)
    rescued = question_answer(question=QUESTION)
    assert rescued.cache["response"] == "hit" and "context manager" in rescued.answer

    with pytest.raises(OperationalError):
        question_answer(question="How does a while loop end early?")  # not cached: the error stands


def test_it_streams_a_cached_answer_when_postgres_is_down_and_the_redis_circuit_is_open(kb):
    """The streamed path shares the rescue: PostgreSQL known down, this process's Redis circuit open,
    and the cached answer still replays instead of an error event."""
    from cache_policies import held
    from qa.streaming import question_stream

    question_answer(question=QUESTION)
    redis_client.breaker.record_failure()
    held.database.record_failure()
    events = b"".join(question_stream(question=QUESTION)).decode()
    assert "event: error" not in events
    assert '"response":"hit"' in events and "context manager" in events
