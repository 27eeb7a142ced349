"""The real openai client, over HTTP, against bench/openai_wire_server.py."""

import numpy as np
import pytest

from qa import providers
from qa.models import PromptTemplate
from qa.providers.base import Passage
from qa.providers.openai_chat import prompt_render
from qa.selectors import active_prompt_template
from qa.services import prompt_template_save
from ragsite.errors import ProviderError, ProviderTimeout
from tests.openai_fixtures import openai_wire, openai_wire_server  # noqa: F401
from bench.openai_wire_server import wire_vector

PASSAGES = [
    Passage(chunk_id=1, document_id=1, document_slug="with", document_title="The with statement",
            document_version=1, text="It wraps a block {in} a context manager.", score=0.9),
    Passage(chunk_id=2, document_id=2, document_slug="try", document_title="The try statement",
            document_version=1, text="It handles exceptions.", score=0.8),
]


def test_it_embeds_unit_vectors_of_the_configured_dimensions(openai_wire):
    vectors = providers.embedder().embed(["the with statement", "the try statement"])

    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(vectors[0], wire_vector("the with statement", 384))
    assert openai_wire.counts == {"embeddings": 1}


def test_it_sends_at_most_256_inputs_per_request(openai_wire):
    vectors = providers.embedder().embed([f"text {n}" for n in range(300)])

    assert vectors.shape == (300, 384)
    assert openai_wire.counts["embeddings"] == 2
    assert np.allclose(vectors[299], wire_vector("text 299", 384))


def test_it_retries_a_500_and_succeeds(openai_wire):
    openai_wire.configure(fail_times=1, fail_status=500)

    vectors = providers.embedder().embed(["hello"])

    assert vectors.shape == (1, 384)
    assert openai_wire.counts["embeddings"] == 2


def test_it_retries_a_429_and_succeeds(openai_wire):
    openai_wire.configure(fail_times=2, fail_status=429)

    assert providers.embedder().embed(["hello"]).shape == (1, 384)
    assert openai_wire.counts["embeddings"] == 3


def test_it_raises_provider_error_when_500s_outlast_the_retries(openai_wire):
    openai_wire.configure(fail_times=100, fail_status=500)

    with pytest.raises(ProviderError, match="HTTP 500") as raised:
        providers.embedder().embed(["hello"])

    assert raised.value.provider == "openai"
    assert not isinstance(raised.value, ProviderTimeout)
    assert openai_wire.counts["embeddings"] == 3  # the first try and OPENAI_MAX_RETRIES=2


def test_it_raises_provider_error_on_a_malformed_body(openai_wire):
    openai_wire.configure(malformed=True)

    with pytest.raises(ProviderError, match="malformed response"):
        providers.embedder().embed(["hello"])


def test_it_raises_provider_error_when_an_embedding_is_missing(openai_wire):
    openai_wire.configure(wrong_count=True)

    with pytest.raises(ProviderError, match="1 embeddings for 2 inputs"):
        providers.embedder().embed(["one", "two"])


def test_it_raises_provider_error_on_the_wrong_dimensions(openai_wire):
    openai_wire.configure(dimensions=1536)

    with pytest.raises(ProviderError, match=r"embeddings of shape \(1, 1536\), expected 384 wide"):
        providers.embedder().embed(["hello"])


def test_it_asks_for_the_configured_dimensions_as_floats(openai_wire):
    providers.embedder().embed(["hello"])

    assert openai_wire.last_bodies["embeddings"] == {
        "model": "text-embedding-3-small", "input": ["hello"], "dimensions": 384, "encoding_format": "float"
    }


def test_it_raises_provider_timeout_when_the_server_hangs(openai_wire, settings):
    settings.OPENAI_TIMEOUT = 0.3
    settings.OPENAI_MAX_RETRIES = 0
    providers.reset()
    openai_wire.configure(hang_seconds=3)

    with pytest.raises(ProviderTimeout, match="no answer within 0.3s") as raised:
        providers.embedder().embed(["hello"])

    assert raised.value.status_code == 504


@pytest.mark.django_db
def test_it_generates_an_answer_with_usage_and_citations(openai_wire):
    openai_wire.configure(answer="It wraps a block [1], unlike try [2] or [7].")

    generation = providers.generator().generate(question="What does with do?", passages=PASSAGES)

    assert generation.text == "It wraps a block [1], unlike try [2] or [7]."
    assert generation.model == "gpt-4o-mini"
    assert generation.cited == [0, 1]
    assert generation.prompt_tokens > 0
    assert generation.completion_tokens == 10
    assert openai_wire.counts == {"chat": 1}


@pytest.mark.django_db
def test_it_raises_provider_error_on_an_empty_answer(openai_wire):
    openai_wire.configure(answer="   ")

    with pytest.raises(ProviderError, match="empty answer"):
        providers.generator().generate(question="What does with do?", passages=PASSAGES)


@pytest.mark.django_db
def test_it_maps_chat_failures_like_embedding_failures(openai_wire, settings):
    openai_wire.configure(fail_times=100)
    with pytest.raises(ProviderError, match="HTTP 500"):
        providers.generator().generate(question="q", passages=PASSAGES)

    settings.OPENAI_TIMEOUT = 0.3
    settings.OPENAI_MAX_RETRIES = 0
    providers.reset()
    openai_wire.configure(fail_times=0, hang_seconds=3)
    with pytest.raises(ProviderTimeout):
        providers.generator().generate(question="q", passages=PASSAGES)


@pytest.mark.django_db
def test_it_renders_the_active_template_with_numbered_passages():
    prompt_template_save(template=PromptTemplate(name="terse", text="Q: {question}\n{context}\n{other}", is_active=True))

    prompt = prompt_render(template=active_prompt_template(), question="What {context}?", passages=PASSAGES)

    assert prompt == (
        "Q: What {context}?\n"
        "[1] The with statement: It wraps a block {in} a context manager.\n\n"
        "[2] The try statement: It handles exceptions.\n"
        "{other}"
    )
