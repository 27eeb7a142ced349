"""The embedder and generator chosen in settings, one instance per process, unless overridden."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from django.conf import settings

from qa.providers.base import Embedder, Generator

_overrides: dict[str, object] = {}
LOCAL_DIMENSIONS = 384  # all-MiniLM-L6-v2


@cache
def _configured_embedder() -> Embedder:
    if settings.EMBEDDING_PROVIDER == "openai":
        from qa.providers.openai_embeddings import OpenAIEmbedder

        return OpenAIEmbedder(model=settings.EMBEDDING_MODEL, dimensions=settings.EMBEDDING_DIMENSIONS)
    from qa.providers.local_embeddings import LocalEmbedder

    return LocalEmbedder(model=settings.EMBEDDING_MODEL, dimensions=settings.EMBEDDING_DIMENSIONS)


@cache
def _configured_generator() -> Generator:
    if settings.LLM_PROVIDER == "openai":
        from qa.providers.openai_chat import OpenAIGenerator

        return OpenAIGenerator(model=settings.LLM_MODEL)
    from qa.providers.extractive import ExtractiveGenerator

    return ExtractiveGenerator(model=settings.LLM_MODEL)


def embedder() -> Embedder:
    return _overrides.get("embedder") or _configured_embedder()


def generator() -> Generator:
    return _overrides.get("generator") or _configured_generator()


@contextmanager
def override(*, embedder: Embedder | None = None, generator: Generator | None = None) -> Iterator[None]:
    """Use these instances instead of the configured ones while the block runs, in every thread of the
    process (the bench's provider profiles and call counters)."""
    chosen = {name: p for name, p in (("embedder", embedder), ("generator", generator)) if p is not None}
    previous = {name: _overrides.get(name) for name in chosen}
    _overrides.update(chosen)
    try:
        yield
    finally:
        for name, p in previous.items():
            if p is None:
                _overrides.pop(name, None)
            else:
                _overrides[name] = p


@cache
def _second_local() -> Embedder:
    from qa.providers.local_embeddings import LOCAL_MODEL, LocalEmbedder

    return LocalEmbedder(model=LOCAL_MODEL, dimensions=LOCAL_DIMENSIONS)


def local_embedder() -> Embedder:
    """MiniLM in this process, whatever the configured embedder: the space sentence vectors and semantic
    decisions live in (milliseconds a question, never an API call). The configured embedder when it is MiniLM,
    so the model is loaded once."""
    from qa.providers.local_embeddings import LocalEmbedder

    current = embedder()
    if isinstance(current, LocalEmbedder):
        return current
    # An override may wrap the configured MiniLM (the bench's); an API embedder is never built just to ask.
    return _configured_embedder() if settings.EMBEDDING_PROVIDER == "local" else _second_local()


def in_local_space(emb: Embedder) -> bool:
    """Whether emb's vectors are MiniLM's (the chunks' `embedding` column then serves as their local vectors too)."""
    return getattr(emb, "local_space", False)


def reset() -> None:
    """Forget the configured instances (tests that switch providers in settings call this)."""
    _configured_embedder.cache_clear()
    _configured_generator.cache_clear()
