"""Exact invalidation: an edit removes the answers that used the document, and only those."""

import threading
import time

import pytest

from cache_policies import redis_client
from cache_policies.models import CachedQuestion
from qa.pipeline import question_answer
from qa.services import document_delete, document_ingest
from qa.streaming import question_stream
from ragsite.errors import ProviderError

pytestmark = [pytest.mark.redis, pytest.mark.cluster]
WITH_Q = "What does the with statement do?"
IMPORT_Q = "What does import x as y bind?"
NEW_WITH = ("The with statement is now explained differently: it calls the context manager's "
            "__enter__ and __exit__ methods around its block, and the word zebra marks this version.")


def test_it_drops_answers_that_cited_an_edited_document(kb):
    question_answer(question=WITH_Q)
    question_answer(question=IMPORT_Q)
    document_ingest(slug="with", title="The with statement", content=NEW_WITH)
    after = question_answer(question=WITH_Q)
    assert after.cache["response"] == "miss"
    assert "zebra" in after.answer


def test_it_keeps_serving_answers_that_did_not_use_the_edited_document(kb, settings):
    settings.RETRIEVAL_TOP_K = 1  # each answer rests on one document only
    question_answer(question=WITH_Q)
    question_answer(question=IMPORT_Q)
    document_ingest(slug="with", title="The with statement", content=NEW_WITH)
    assert question_answer(question=IMPORT_Q).cache["response"] == "hit"
    assert question_answer(question=WITH_Q).cache["response"] == "miss"


def test_it_drops_answers_a_new_document_now_outranks(kb, settings):
    settings.RETRIEVAL_TOP_K = 1
    question = "What does the yield statement do in a generator function?"
    question_answer(question=question)
    assert question_answer(question=question).cache["response"] == "hit"
    document_ingest(
        slug="yield", title="The yield statement",
        content="The yield statement is used in a generator function: it suspends the function and "
                "hands a value to the caller of the generator.",
    )
    after = question_answer(question=question)
    assert after.cache["response"] == "miss"
    assert after.sources[0]["document"] == "yield"


UNRELATED = "The pass statement does nothing: it is a placeholder where a statement is required."


def test_a_new_chunk_that_enters_the_pool_below_the_passages_spends_its_slack(kb, settings):
    """IMPORT_Q's pool of 20 has room (the KB holds 3 chunks): any new chunk enters it, and one that ranks
    below its passage takes one place of its slack, leaves its answer and only ages its cached retrieval."""
    settings.RETRIEVAL_TOP_K = 1
    question_answer(question=IMPORT_Q)
    before = CachedQuestion.objects.get(question__icontains="import")
    assert (before.kth_score, before.slack) == (-1.0, 19), "the premise: a pool with room, 17 free places and 2 below"

    document_ingest(slug="pass", title="The pass statement", content=UNRELATED)

    assert CachedQuestion.objects.get(id=before.id).slack == 18
    assert question_answer(question=IMPORT_Q).cache["response"] == "hit"
    redis_client.call(lambda r: r.unlink(before.response_key))  # Redis forgets the answer
    again = question_answer(question=IMPORT_Q)
    assert (again.cache["response"], again.cache["retrieval"]) == ("miss", "miss"), (
        "the retrieval cached before the new chunk is not read: its pool is out of date")


def test_more_new_chunks_than_the_slack_displace_the_answer(kb, settings):
    settings.RETRIEVAL_TOP_K = 1
    question_answer(question=IMPORT_Q)
    CachedQuestion.objects.filter(question__icontains="import").update(slack=0)

    document_ingest(slug="pass", title="The pass statement", content=UNRELATED)

    assert question_answer(question=IMPORT_Q).cache["response"] == "miss", "the new chunk pushes its passage out"


YIELD_Q = "What does the yield statement do in a generator function?"
YIELD_DOC = ("The yield statement is used in a generator function: it suspends the function and "
             "hands a value to the caller of the generator.")


def _policy_set(layer: str, **fields) -> None:
    from cache_policies import held
    from cache_policies.models import CachePolicy

    CachePolicy.objects.filter(layer=layer).update(**fields)
    held.forget_all()


@pytest.mark.parametrize("off, cached", [("semantic", "response"), ("response", "retrieval")])
def test_a_new_document_displaces_what_is_cached_whichever_layers_are_off(kb, settings, off, cached):
    """The semantic index is also the displacement index: it is written with semantic lookups off, and
    for a question whose retrieval alone is cached."""
    settings.RETRIEVAL_TOP_K = 1
    _policy_set(off, enabled=False)
    question_answer(question=YIELD_Q)
    assert question_answer(question=YIELD_Q).cache[cached] == "hit"

    document_ingest(slug="yield", title="The yield statement", content=YIELD_DOC)

    after = question_answer(question=YIELD_Q)
    assert after.cache[cached] == "miss" and after.sources[0]["document"] == "yield"


def test_a_document_added_while_an_answer_is_generated_displaces_it(kb, settings):
    """The new document's displacement check runs before the answer it races is indexed: the answer is
    stored, then refused, rather than served on passages the new text outranks."""
    from qa import providers

    settings.RETRIEVAL_TOP_K = 1
    configured = providers.generator()

    class AddsTheDocumentMidway:
        provider, model, uses_template = configured.provider, configured.model, configured.uses_template

        def generate(self, **kwargs):
            document_ingest(slug="yield", title="The yield statement", content=YIELD_DOC)
            return configured.generate(**kwargs)

    with providers.override(generator=AddsTheDocumentMidway()):
        raced = question_answer(question=YIELD_Q)
    assert raced.sources[0]["document"] != "yield", "the premise: retrieved before the document existed"

    after = question_answer(question=YIELD_Q)
    assert after.cache["response"] == "miss" and after.sources[0]["document"] == "yield"


class _FailingGenerator:
    """The configured generator's names, with an LLM that fails: in one call, or part-way through a stream."""

    def __init__(self, configured):
        self.provider, self.model, self.uses_template = configured.provider, configured.model, configured.uses_template
        self.configured = configured

    def generate(self, **kwargs):
        raise ProviderError("the LLM is down", provider=self.provider)

    def stream(self, **kwargs):
        yield "The first words of an answer that never ends"
        raise ProviderError("the LLM went away mid-answer", provider=self.provider)


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "streamed"])
def test_a_retrieval_left_by_a_failed_generation_is_not_read_after_a_new_document(kb, settings, streamed):
    """A retrieval is indexed with its answer; one stored by a request whose generation failed has no index
    row, so a new document that outranks its passages would not find it, and the next ask would answer from
    the old passages. It is marked out of date when the generation fails."""
    from qa import providers

    settings.RETRIEVAL_TOP_K = 1
    with providers.override(generator=_FailingGenerator(providers.generator())):
        if streamed:
            found = list(question_stream(question=YIELD_Q))
            assert b"event: error" in found[-1], "the premise: the stream ended in an error"
        else:
            with pytest.raises(ProviderError):
                question_answer(question=YIELD_Q)
    assert not CachedQuestion.objects.exists(), "the premise: nothing indexed the stored retrieval"

    document_ingest(slug="yield", title="The yield statement", content=YIELD_DOC)

    after = question_answer(question=YIELD_Q)
    assert after.cache["retrieval"] == "miss" and after.sources[0]["document"] == "yield"


def test_it_compares_only_an_edits_new_text_with_other_answers(kb, settings):
    """Displacement looks at the chunks a change adds: the ones a document already had were there when
    every cached answer was retrieved. Here IMPORT_Q's answer is made to yield to any chunk at all."""
    settings.RETRIEVAL_TOP_K = 1
    question_answer(question=IMPORT_Q)
    CachedQuestion.objects.filter(question__icontains="import").update(kth_score=-1.0, rank_floor=-1.0)
    document_ingest(slug="with", title="The with statement, retitled", content=kb["with"].content)
    assert question_answer(question=IMPORT_Q).cache["response"] == "hit", "no new text: nothing displaced"
    document_ingest(slug="with", title="The with statement, retitled", content=kb["with"].content + "\n\n" + NEW_WITH)
    assert question_answer(question=IMPORT_Q).cache["response"] == "miss", "the new paragraph displaces it"


def test_it_drops_answers_of_a_deleted_document(kb):
    question_answer(question=WITH_Q)
    document_delete(document=kb["with"])
    after = question_answer(question=WITH_Q)
    assert after.cache["response"] == "miss"
    assert all(s["document"] != "with" for s in after.sources)
    assert not CachedQuestion.objects.filter(document_ids__contains=[kb["with"].id]).exists()


def test_it_serves_no_old_answer_after_an_edit_while_readers_run(kb):
    question_answer(question=WITH_Q)
    edited_at: list[float] = []
    seen: list[tuple[float, str]] = []
    stop = threading.Event()

    def reader():
        from django.db import connection

        try:
            while not stop.is_set():
                started = time.monotonic()
                seen.append((started, question_answer(question=WITH_Q).answer))
        finally:
            connection.close()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    document_ingest(slug="with", title="The with statement", content=NEW_WITH)
    edited_at.append(time.monotonic())
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    after_edit = [answer for started, answer in seen if started > edited_at[0]]
    before_edit = [answer for started, answer in seen if started < edited_at[0] - 0.3]
    assert before_edit and after_edit
    assert all("zebra" not in a for a in before_edit)
    assert all("zebra" in a for a in after_edit)


@pytest.fixture
def providers_reset():
    from qa import providers

    yield providers.reset
    providers.reset()  # after the settings fixture restored LLM_MODEL: the next test gets the configured one


def test_it_applies_the_model_changed_rules_when_another_llm_model_is_configured(kb, settings, providers_reset):
    from cache_policies import held
    from cache_policies.models import CachePolicy, InvalidationRule, SeenModel

    InvalidationRule.objects.filter(event="model_changed").exclude(layer="embedding").update(action="nothing")
    question_answer(question=WITH_Q)
    versions = dict(CachePolicy.objects.values_list("layer", "namespace_version"))

    settings.LLM_MODEL = "extractive-v2"
    providers_reset()
    held.forget_all()  # a new worker: it has not compared its models with PostgreSQL yet
    after = question_answer(question=WITH_Q)

    bumped = dict(CachePolicy.objects.values_list("layer", "namespace_version"))
    assert bumped == {**versions, "embedding": versions["embedding"] + 1}
    assert SeenModel.objects.get(role="llm").model == "extractive:extractive-v2"
    assert after.cache["response"] == "miss" and after.cache["embedding"] == "miss"
    assert question_answer(question=WITH_Q).cache["response"] == "hit"
    assert dict(CachePolicy.objects.values_list("layer", "namespace_version")) == bumped, "it fires once"


def test_it_leaves_the_cache_alone_when_the_models_are_the_ones_last_seen(kb):
    from cache_policies import held
    from cache_policies.models import CachePolicy

    question_answer(question=WITH_Q)
    versions = dict(CachePolicy.objects.values_list("layer", "namespace_version"))
    held.forget_all()

    assert question_answer(question=WITH_Q).cache["response"] == "hit"
    assert dict(CachePolicy.objects.values_list("layer", "namespace_version")) == versions
