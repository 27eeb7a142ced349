"""Semantic decisions in MiniLM's space whatever the embedder: with an API embedder (the OpenAI wire server here),
a paraphrase is served from the cache without an embeddings request, and a near-miss is still refused.

The wire server's vectors are hashes of the text, so nothing in the API's space relates a question to its
paraphrase: a hit can only come from the MiniLM vectors kept beside them.
"""

import numpy as np
import pytest
from pydoc_data.topics import topics

from cache_policies.models import CachedQuestion, CachePolicy, Layer, Outcome
from cache_policies.policies import policies_changed
from qa import pipeline
from qa.explain import question_explain
from qa.models import Chunk
from qa.services import document_ingest
from qa.streaming import question_stream
from tests.conftest import defaults_create
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401
from tests.test_streaming import parse

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ASKED = "How do I split a string into a list of words?"
PARAPHRASE = "How can I break a string into a list of its words?"
CONTRAST = "How do I join a list of words into a string?"


def semantic_on() -> None:
    defaults_create()  # a transactional test empties the tables afterwards, the migrated rows with them
    CachePolicy.objects.update_or_create(layer="response", defaults={"enabled": True})
    CachePolicy.objects.update_or_create(
        layer="semantic",
        defaults={"enabled": True, "similarity_threshold": 0.35, "guard_min_overlap": 0.3, "guard_contrast": True},
    )
    policies_changed()


@pytest.fixture
def api_kb(redis_conn, openai_wire):
    for slug in ("string-methods", "typesseq"):
        document_ingest(slug=slug, title=slug, content=topics[slug])
    semantic_on()
    return openai_wire


def test_an_api_embedder_keeps_minilm_vectors_beside_its_own(api_kb):
    chunks = list(Chunk.objects.values_list("embedding", "local_embedding"))

    assert chunks and all(local is not None for _, local in chunks)
    api, local = (np.asarray(v, dtype=np.float32) for v in chunks[0])
    assert not np.allclose(api, local)  # two spaces, not one vector twice
    assert api_kb.counts["embeddings"] >= 1


def test_an_api_embedder_serves_a_paraphrase_without_calling_the_api(api_kb):
    first = pipeline.question_answer(question=ASKED)
    calls = dict(api_kb.counts)

    second = pipeline.question_answer(question=PARAPHRASE)

    assert first.cache[Layer.RESPONSE] == Outcome.MISS
    assert second.cache[Layer.RESPONSE] == Outcome.SEMANTIC_HIT
    assert second.answer == first.answer
    assert dict(api_kb.counts) == calls  # neither the embeddings nor the chat endpoint was asked
    row = CachedQuestion.objects.get(question=pipeline.keys.normalize_text(ASKED))
    assert row.local_embedding is not None and row.local_chunk_ids and row.local_document_ids


def test_an_api_embedder_still_refuses_a_near_miss_and_then_asks_the_api(api_kb):
    pipeline.question_answer(question=ASKED)
    embeddings = api_kb.counts["embeddings"]

    contrast = pipeline.question_answer(question=CONTRAST)

    assert contrast.cache[Layer.RESPONSE] == Outcome.MISS
    assert api_kb.counts["embeddings"] == embeddings + 1


def test_explain_decides_as_the_pipeline_does_with_an_api_embedder(api_kb):
    pipeline.question_answer(question=ASKED)

    explanation = question_explain(question=PARAPHRASE)
    served = pipeline.question_answer(question=PARAPHRASE)

    assert explanation.decision == "semantic" and explanation.candidates[0].would_serve
    assert served.cache[Layer.RESPONSE] == Outcome.SEMANTIC_HIT
    assert explanation.answer == served.answer


def test_a_streamed_paraphrase_replays_the_cached_answer_without_calling_the_api(api_kb):
    first = pipeline.question_answer(question=ASKED)
    calls = dict(api_kb.counts)

    stream = question_stream(question=PARAPHRASE)
    found = parse(b"".join(stream).decode().splitlines())
    stream.close()

    assert found[0][0] == "meta" and found[0][1]["stream"] == "replay"
    assert "".join(data["text"] for name, data in found if name == "delta") == first.answer
    assert dict(api_kb.counts) == calls


def test_minilm_as_the_embedder_keeps_one_vector_per_chunk_and_question(redis_conn):
    document_ingest(slug="string-methods", title="string-methods", content=topics["string-methods"])
    semantic_on()

    first = pipeline.question_answer(question=ASKED)
    second = pipeline.question_answer(question=PARAPHRASE)

    assert not Chunk.objects.filter(local_embedding__isnull=False).exists()
    assert not CachedQuestion.objects.filter(local_embedding__isnull=False).exists()
    assert (first.cache[Layer.RESPONSE], second.cache[Layer.RESPONSE]) == (Outcome.MISS, Outcome.SEMANTIC_HIT)
