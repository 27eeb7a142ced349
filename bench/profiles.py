"""The provider profiles the bench runs: "local" (MiniLM + extractive answers, the defaults) and
"openai" (the OpenAI wire format against a local server with OpenAI-like latencies).

The openai profile keeps MiniLM's vectors: the sample knowledge base and the semantic index are
embedded with MiniLM, and the wire server's hashed vectors would retrieve nonsense and never match a
paraphrase. So each embedding is paid for with a real OpenAI-wire request through the openai
client (whose vector is dropped) and then computed by MiniLM: the embed stage costs the wire
latency plus MiniLM's few milliseconds, and retrieval and the semantic guard behave as in production.
"""

import random
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
from django.conf import settings
from django.test import override_settings

from bench.openai_wire_server import OpenAIWireServer, WireBehaviour
from qa import providers

LOCAL, OPENAI = "local", "openai"
OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"


class JitteredWireServer(OpenAIWireServer):
    """The shared wire server, with each chat answer's latency drawn uniformly from chat_ms."""

    def __init__(self, *, embeddings_ms: float, chat_ms: tuple[float, float], seed: int = 7):
        super().__init__(embeddings_latency_ms=embeddings_ms)
        self.chat_ms = chat_ms
        self._rng = random.Random(seed)

    def request_started(self, endpoint: str, *args) -> WireBehaviour:
        # The server's per-request hook: its behaviour has one fixed chat latency, we want a spread.
        behaviour = super().request_started(endpoint, *args)
        with self._lock:
            return replace(behaviour, chat_latency_ms=self._rng.uniform(*self.chat_ms))


class WireLatencyEmbedder:
    """MiniLM's vectors, each call first paying for one OpenAI-wire embeddings request."""

    local_space = True  # its vectors are MiniLM's, so the semantic index needs no second (local) vector

    def __init__(self, *, local, remote):
        self.local, self.remote = local, remote
        self.provider, self.model, self.dimensions = local.provider, local.model, local.dimensions

    def embed(self, texts: list[str]) -> np.ndarray:
        self.remote.embed(texts)
        return self.local.embed(texts)


class CountingGenerator:
    """The configured generator, counting its calls (the stampede test's LLM call counter)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.provider, self.model, self.uses_template = inner.provider, inner.model, inner.uses_template

    def generate(self, **kwargs):
        self.calls += 1  # += under threads: the count is only ever expected to be tiny
        return self.inner.generate(**kwargs)


def wire_embedder() -> WireLatencyEmbedder:
    """MiniLM behind OpenAI-wire latency (OPENAI_BASE_URL must point at the wire server)."""
    from qa.providers.openai_embeddings import OpenAIEmbedder

    remote = OpenAIEmbedder(model=OPENAI_EMBEDDING_MODEL, dimensions=settings.EMBEDDING_DIMENSIONS)
    return WireLatencyEmbedder(local=providers.embedder(), remote=remote)


def openai_settings(*, base_url: str) -> dict[str, str]:
    return {
        "EMBEDDING_PROVIDER": "local", "LLM_PROVIDER": "openai", "LLM_MODEL": "gpt-4o-mini",
        "OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": base_url,
    }


def server_overrides(*, profile: str, base_url: str | None) -> dict[str, str]:
    """Environment variables that give a gunicorn the profile."""
    if profile == LOCAL:
        return {"EMBEDDING_PROVIDER": "local", "LLM_PROVIDER": "extractive"}
    return {**openai_settings(base_url=base_url), "RAGSITE_BENCH_WIRE_EMBEDDINGS": "1"}


@contextmanager
def profile_in_process(*, profile: str, base_url: str | None = None):
    """Switch this process's pipeline to the profile for the duration."""
    if profile == LOCAL:
        yield
        return
    with override_settings(**openai_settings(base_url=base_url)):
        providers.reset()
        try:
            with providers.override(embedder=wire_embedder()):
                yield
        finally:
            providers.reset()


@contextmanager
def generator_counted():
    """The pipeline's generator wrapped in a CountingGenerator, which is yielded."""
    counting = CountingGenerator(providers.generator())
    with providers.override(generator=counting):
        yield counting
