"""MiniLM's space, where semantic decisions are made whatever the embedder.

The semantic guard compares a new question with cached ones through their vectors, the chunks they retrieve and
the chunks' sentence vectors. With an API embedder those would cost an API call before every lookup (300 ms of a
semantic hit's 343 ms in the bench's OpenAI profile), so the decision is made with MiniLM in this process instead:
its question vector (milliseconds), the chunks' MiniLM vectors kept beside the API's (Chunk.local_embedding), and
the cached questions' likewise (CachedQuestion.local_*). With MiniLM as the embedder the two spaces are one.
"""

import numpy as np
from django.conf import settings

from cache_policies.keys import normalize_text
from cache_policies.semantic import EMBEDDER_SPACE, LOCAL_SPACE, LocalView, Space
from qa import providers, retrieval
from qa.providers.base import Embedder, Passage


def decided_first(emb: Embedder) -> bool:
    """Whether a semantic lookup runs before the embedder is asked: when the embedder is not MiniLM in this
    process, the lookup must not wait on it."""
    return providers.local_embedder() is not emb


def space_of(emb: Embedder) -> Space:
    """Which columns of a cached question hold its MiniLM vector and retrieval."""
    return EMBEDDER_SPACE if providers.in_local_space(emb) else LOCAL_SPACE


def question_vector(*, question: str) -> np.ndarray:
    return providers.local_embedder().embed([normalize_text(question)])[0]


def question_passages(*, question: str, vector: np.ndarray, emb: Embedder) -> list[Passage]:
    """The passages a question's MiniLM vector retrieves, among the chunks' MiniLM vectors."""
    column = retrieval.EMBEDDING if providers.in_local_space(emb) else retrieval.LOCAL_EMBEDDING
    return retrieval.passages_retrieve(
        question=question, embedding=vector, k=settings.RETRIEVAL_TOP_K, column=column).passages


def question_view(*, question: str, emb: Embedder) -> LocalView:
    """The question's MiniLM vector and the passages it retrieves in MiniLM's space."""
    vector = question_vector(question=question)
    return LocalView(embedding=vector, passages=question_passages(question=question, vector=vector, emb=emb))


def indexed_view(*, view: LocalView, emb: Embedder) -> LocalView | None:
    """What an index row keeps of the view beside the embedder's columns: nothing when they are the same space."""
    return None if providers.in_local_space(emb) else view
