"""The embedder and generator chosen in settings, one instance per process."""

from functools import cache

from django.conf import settings

from qa.providers.base import Embedder, Generator


@cache
def embedder() -> Embedder:
    if settings.EMBEDDING_PROVIDER == "openai":
        from qa.providers.openai_embeddings import OpenAIEmbedder

        return OpenAIEmbedder(model=settings.EMBEDDING_MODEL, dimensions=settings.EMBEDDING_DIMENSIONS)
    from qa.providers.local_embeddings import LocalEmbedder

    return LocalEmbedder(model=settings.EMBEDDING_MODEL, dimensions=settings.EMBEDDING_DIMENSIONS)


@cache
def generator() -> Generator:
    if settings.LLM_PROVIDER == "openai":
        from qa.providers.openai_chat import OpenAIGenerator

        return OpenAIGenerator(model=settings.LLM_MODEL)
    from qa.providers.extractive import ExtractiveGenerator

    return ExtractiveGenerator(model=settings.LLM_MODEL)


def reset() -> None:
    """Forget the instances (tests that switch providers call this)."""
    embedder.cache_clear()
    generator.cache_clear()
