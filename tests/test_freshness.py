"""Never a stale answer, whatever Redis forgets (cache_policies/freshness.py): eviction under every
maxmemory policy, FLUSHALL, a restart empty or from a snapshot older than the edit, lost dependency
tags, displaced aliases, a purge, a template edit, and an edit committed while an answer was generated."""

import threading

import pytest
import redis
from django.db import connection

from cache_policies import redis_client
from cache_policies.models import Layer
from cache_policies.services import question_purge
from qa.models import Document, PromptTemplate
from qa.pipeline import question_answer
from qa.services import document_delete, document_ingest, prompt_template_save
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401  (fixtures)
from tests.private_valkey import PrivateValkey, valkey_of  # noqa: F401  (fixture)
from tests.servers import wait_until, wire_kb  # noqa: F401  (fixture)

pytestmark = [pytest.mark.redis]
WITH_Q = "What does the with statement do?"
WHILE_Q = "How does a while loop end early?"
IMPORT_Q = "What does import x as y bind?"
QUESTIONS = (WITH_Q, WHILE_Q, IMPORT_Q)
OLD_WITH = "wraps a block"
NEW_WITH = ("The with statement is now explained differently: it calls the context manager's "
            "__enter__ and __exit__ methods around its block, and the word zebra marks this version.")


def edits_apply() -> None:
    document_ingest(slug="with", title="The with statement", content=NEW_WITH)
    document_delete(document=Document.objects.get(slug="import"))


def assert_nothing_stale(answers: dict) -> None:
    assert OLD_WITH not in answers[WITH_Q].answer and "zebra" in answers[WITH_Q].answer
    assert all(s["document"] != "import" for a in answers.values() for s in a.sources), "a deleted document cited"


def _fill(server: PrivateValkey) -> int:
    """Write until the server evicts (or refuses, under noeviction), asking the questions meanwhile so
    their answers stay hot, as popular answers do. Returns the keys evicted."""
    r = redis.Redis(port=server.port)
    filler = b"x" * 2000
    for i in range(20000):
        try:
            r.set(f"filler:{i}", filler, ex=3600)
        except redis.ResponseError:  # OOM under noeviction
            break
        if i % 200 == 0:
            for question in QUESTIONS:
                question_answer(question=question)
        if i % 50 == 0 and int(r.info("stats")["evicted_keys"]) > 200:
            break
    return int(r.info("stats")["evicted_keys"])


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "volatile-lru", "noeviction"])
def test_it_serves_no_stale_answer_after_eviction_under(policy, kb, valkey_of):
    server = valkey_of("--maxmemory", "3mb", "--maxmemory-policy", policy)
    for question in QUESTIONS:
        question_answer(question=question)
    evicted = _fill(server)
    assert evicted > 0 or policy == "noeviction"
    edits_apply()
    r = redis.Redis(port=server.port)
    r.flushdb() if policy == "noeviction" else None  # full: nothing new could be stored; make room for the rest
    assert_nothing_stale({q: question_answer(question=q) for q in QUESTIONS})


def test_it_refuses_an_edited_documents_answers_whose_dependency_tags_were_evicted(kb, redis_conn):
    """The issue's reproduction: LRU evicts the tag sets first (never read on a hit) and keeps the hot answers."""
    for question in QUESTIONS:
        question_answer(question=question)
    while_answer = question_answer(question=WHILE_Q)
    for tag in redis_conn.scan_iter(match="*dep:*"):
        redis_conn.delete(tag)
    edits_apply()
    answers = {q: question_answer(question=q) for q in QUESTIONS}
    assert_nothing_stale(answers)
    assert answers[WITH_Q].cache["response"] == "miss"
    if "with" not in {s["document"] for s in while_answer.sources}:
        assert answers[WHILE_Q].cache["response"] == "hit", "an answer the edits did not touch keeps hitting"


def test_it_serves_no_stale_answer_after_a_restart_from_a_snapshot_older_than_the_edit(kb, valkey_of):
    server = valkey_of()
    for question in QUESTIONS:
        question_answer(question=question)
    redis.Redis(port=server.port).save()  # the snapshot holds the answers built before the edit
    edits_apply()
    server.stop()
    server.start()
    assert redis.Redis(port=server.port).dbsize() > 0, "the old entries are back"
    redis_client.breaker.record_success()
    answers = {q: question_answer(question=q) for q in QUESTIONS}
    assert_nothing_stale(answers)
    assert answers[WITH_Q].cache["response"] == "miss"


def test_it_serves_no_stale_answer_after_a_flush_or_a_restart_without_persistence(kb, valkey_of):
    server = valkey_of()
    for question in QUESTIONS:
        question_answer(question=question)
    redis.Redis(port=server.port).flushall()
    edits_apply()
    assert_nothing_stale({q: question_answer(question=q) for q in QUESTIONS})
    server.stop()
    server.start()
    redis_client.breaker.record_success()
    assert_nothing_stale({q: question_answer(question=q) for q in QUESTIONS})


def test_it_drops_a_semantic_alias_when_its_original_is_displaced(kb, settings, redis_conn):
    settings.RETRIEVAL_TOP_K = 1
    paraphrase = "What does a with statement do?"
    question_answer(question=WITH_Q)
    assert question_answer(question=paraphrase).cache["response"] == "semantic_hit"
    assert question_answer(question=paraphrase).cache["response"] == "hit"
    for tag in redis_conn.scan_iter(match="*dep:*"):
        redis_conn.delete(tag)  # the alias's tags forgotten: only its stamp can remove it
    document_ingest(
        slug="with-guide", title="What the with statement does",
        content="What does the with statement do? The with statement calls __enter__ on a context manager, "
                "runs its block, then calls __exit__, even when the block raises.",
    )
    # The new text outranks the original question's source: the original goes, and its alias with it.
    assert question_answer(question=paraphrase).cache["response"] == "miss"


def test_it_misses_after_a_purge_of_a_per_user_answer_with_the_semantic_layer_off(kb, redis_conn):
    from cache_policies.models import CachePolicy

    CachePolicy.objects.filter(layer=Layer.RESPONSE).update(scope="per_user")
    CachePolicy.objects.filter(layer=Layer.SEMANTIC).update(enabled=False)
    question_answer(question=WITH_Q, user_id=7)
    assert question_answer(question=WITH_Q, user_id=7).cache["response"] == "hit"
    for tag in redis_conn.scan_iter(match="*dep:q:*"):
        redis_conn.delete(tag)  # even the question's tag set forgotten
    question_purge(question=WITH_Q)
    assert question_answer(question=WITH_Q, user_id=7).cache["response"] == "miss"


def test_it_misses_the_old_templates_answers_after_a_template_edit(wire_kb, openai_wire):
    question_answer(question=WITH_Q)
    assert question_answer(question=WITH_Q).cache["response"] == "hit"
    template = PromptTemplate.objects.get(is_active=True)
    template.text = template.text + "\nAnswer in one sentence."
    prompt_template_save(template=template)
    assert question_answer(question=WITH_Q).cache["response"] == "miss"


def test_it_stores_nothing_servable_when_an_edit_commits_while_the_answer_is_generated(wire_kb, openai_wire):
    """The race the old version fence closed: the leader read the old text, the edit commits while the LLM
    runs, the leader stores afterwards. Deterministic: the edit happens inside the slow LLM call."""
    openai_wire.configure(chat_latency_ms=1500)
    result = {}

    def ask():
        result["answer"] = question_answer(question=WITH_Q)
        connection.close()

    asker = threading.Thread(target=ask)
    asker.start()
    wait_until(lambda: openai_wire.counts["chat"] >= 1, seconds=10, what="the leader's LLM call")
    edits_apply()
    asker.join(10)
    assert result["answer"].cache["response"] == "miss"
    openai_wire.configure(chat_latency_ms=0)
    after = question_answer(question=WITH_Q)
    assert after.cache["response"] == "miss"
    assert any(s["document"] == "with" for s in after.sources)


def _backends_terminate() -> int:
    """What a PostgreSQL restart or an idle-connection reaper does to every kept connection but this one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return cursor.fetchone()[0]


def _redis_snapshot(r) -> dict[bytes, bytes]:
    return {key: r.dump(key) for key in r.scan_iter()}


def _redis_restore(r, snapshot: dict[bytes, bytes]) -> None:
    """Put every key back as it was: the purges in Redis undone, as a restart from an old snapshot does."""
    for key, value in snapshot.items():
        r.restore(key, 0, value, replace=True)


def test_it_reads_the_ledger_on_a_new_connection_when_the_server_dropped_the_kept_one(kb, redis_conn):
    """The ledger read is the connection's health check: a connection the server dropped costs a reconnect,
    not an error, and not a stale hit on the marks read before (Redis lost its purge here, so only the
    ledger can refuse the old answer)."""
    results, hit_done, go = {}, threading.Event(), threading.Event()

    def asker() -> None:
        results["miss"] = question_answer(question=WITH_Q)
        results["hit"] = question_answer(question=WITH_Q)
        hit_done.set()
        go.wait(30)
        results["after"] = question_answer(question=WITH_Q)
        connection.close()

    thread = threading.Thread(target=asker)
    thread.start()
    assert hit_done.wait(60)
    assert results["hit"].cache["response"] == "hit"
    snapshot = _redis_snapshot(redis_conn)
    edits_apply()
    _redis_restore(redis_conn, snapshot)
    assert _backends_terminate() >= 1, "the asker's kept connection"
    go.set()
    thread.join(60)
    assert results["after"].cache["response"] == "miss"
    assert_nothing_stale({WITH_Q: results["after"]})


def test_it_still_refuses_an_edited_answer_when_the_ledger_reply_arrives_after_the_redis_read(kb, redis_conn):
    """The ledger read and the answer's GET fly together; the answer is judged only once the reply is in."""
    assert question_answer(question=WITH_Q).cache["response"] == "miss"
    assert question_answer(question=WITH_Q).cache["response"] == "hit"
    assert_refused_after_an_edit_redis_forgot(redis_conn)


def assert_refused_after_an_edit_redis_forgot(redis_conn) -> None:
    """Edit, put Redis back as it was (its purge lost): only the ledger can refuse the cached answer."""
    snapshot = _redis_snapshot(redis_conn)
    edits_apply()
    _redis_restore(redis_conn, snapshot)
    answer = question_answer(question=WITH_Q)
    assert answer.cache["response"] == "miss"
    assert_nothing_stale({WITH_Q: answer})


def test_it_prepares_the_ledger_read_again_on_a_connection_that_lost_it(kb, redis_conn):
    """The read is a statement prepared once per connection. One that lost it (DISCARD ALL, a pooler) is
    replaced as a dropped one is, and the old answer is still refused (Redis lost its purge here)."""
    assert question_answer(question=WITH_Q).cache["response"] == "miss"
    assert question_answer(question=WITH_Q).cache["response"] == "hit"
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert_refused_after_an_edit_redis_forgot(redis_conn)
