"""Contextual word vectors from the local MiniLM, for the semantic guard's word alignment.

Local whatever the embedding provider: the guard compares two short questions word by word, which costs one
small forward pass here (milliseconds) and would be an API call elsewhere.
"""

from functools import lru_cache

import numpy as np

from cache_policies.contrast import TERM
from qa.providers import local_embedder


def _word_spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    first = {}
    for match in TERM.finditer(text):
        first.setdefault(match.group(0), match.span())
    return [first.get(word, (0, 0)) for word in words]


def word_vectors(*, question: str, words: list[str]) -> np.ndarray:
    """One unit row per word of the question (lower-cased terms, as the guard finds them): the mean of its
    word pieces' last-layer MiniLM vectors, in the context of the whole question. A word not found is zeros."""
    return _word_vectors_held(question.lower(), tuple(words))


# A cached question meets many new ones: its words are embedded once per process. Read-only rows, a few KB each.
@lru_cache(maxsize=2048)
def _word_vectors_held(text: str, words: tuple[str, ...]) -> np.ndarray:
    rows = _word_vectors_uncached(text, words)
    rows.setflags(write=False)
    return rows


def _word_vectors_uncached(text: str, words: tuple[str, ...]) -> np.ndarray:
    pieces, offsets = local_embedder().token_vectors(text)
    rows = np.zeros((len(words), pieces.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(_word_spans(text, words)):
        inside = (offsets[:, 0] >= start) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
        if end > start and inside.any():
            vector = pieces[inside].mean(axis=0)
            rows[row] = vector / max(float(np.linalg.norm(vector)), 1e-6)
    return rows
