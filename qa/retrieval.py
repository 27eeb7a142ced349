"""Reads of the knowledge base for the pipeline: nearest chunks by cosine distance (pgvector HNSW),
reranked with the question's words."""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from pgvector.django import CosineDistance

from cache_policies.invalidation import NewChunks
from cache_policies.keys import normalize_text
from cache_policies.semantic import PoolBounds

from qa.models import Chunk
from qa.providers.base import Passage
from qa.terms import code_names, defined_names, words


# Tuned on the even lines of tests/data/answer_facts.jsonl, through the answers (manage.py answer_eval):
# with a pool of 20, answers stating the fact went 28 -> 29 of 41 there and 23 -> 25 of 41 on the odd
# lines. The best sentence's cosine as a third signal did no better.
LEXICAL_WEIGHT = 0.5
# A chunk where the reference entry of a name the question asks about starts ("What does dict.setdefault
# do?" and a chunk with the line "setdefault(key[, default])") gains this much.
DEFINITION_WEIGHT = 0.3
# In the keys of cached retrievals and answers: a change to chunk_rank or to the pool it ranks is a new key
# space (1: cosine and words; 2: and the names a question asks about; 3: from a wider pool when it names code).
RANK_VERSION = 3


@dataclass(frozen=True)
class Asked:
    """What ranking reads of a question: its words, and the names it refers to in code."""

    terms: frozenset[str]
    names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Ranked:
    """The passages an answer is built from, best first, and what a new chunk must beat to change them
    (the displacement check, cache_policies.invalidation)."""

    passages: list[Passage]
    bounds: PoolBounds

    def __len__(self) -> int:  # an empty retrieval is not cached (Layer.get_or_compute)
        return len(self.passages)


# What a passage reads of a chunk and its document: not the chunk's vector (384 floats parsed from text)
# nor the document's whole content.
_PASSAGE_FIELDS = ("id", "text", "document__id", "document__slug", "document__title", "document__version")


def _passage(chunk: Chunk, score: float) -> Passage:
    return Passage(
        chunk_id=chunk.id,
        document_id=chunk.document_id,
        document_slug=chunk.document.slug,
        document_title=chunk.document.title,
        document_version=chunk.document.version,
        text=chunk.text,
        score=round(float(score), 6),
    )


# The chunk column a vector is compared with: the embedder's, or MiniLM's when the embedder is another model.
EMBEDDING, LOCAL_EMBEDDING = "embedding", "local_embedding"


def chunk_search(*, embedding: np.ndarray, k: int, ef_search: int | None = None, column: str = EMBEDDING) -> list[Passage]:
    """The k chunks nearest to embedding in column, best first, scored by cosine similarity."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            # ef_search must be >= k or the HNSW scan returns fewer than k rows.
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(k, ef_search or settings.HNSW_EF_SEARCH)])
        chunks = Chunk.objects.select_related("document").only(*_PASSAGE_FIELDS)
        if column != EMBEDDING:
            chunks = chunks.filter(**{f"{column}__isnull": False})  # chunks stored before it was kept are not compared
        rows = chunks.annotate(distance=CosineDistance(column, embedding)).order_by("distance")[:k]
        return [_passage(chunk, 1.0 - chunk.distance) for chunk in rows]


def ranked_load(*, stored: dict) -> Ranked | None:
    """A cached retrieval's passages, in its order; None if any chunk is gone."""
    passages = passages_by_ids(scored_ids=[tuple(c) for c in stored.get("chunks", [])])
    if not passages or "bounds" not in stored:
        return None
    return Ranked(passages=passages, bounds=PoolBounds(**stored["bounds"]))


def ranked_dump(*, ranked: Ranked) -> dict:
    return {"chunks": [[p.chunk_id, p.score] for p in ranked.passages], "bounds": ranked.bounds.as_dict()}


def passages_by_ids(*, scored_ids: list[tuple[int, float]]) -> list[Passage] | None:
    """The passages a cached retrieval named, in its order; None if any chunk is gone."""
    chunks = Chunk.objects.select_related("document").only(*_PASSAGE_FIELDS).in_bulk([c for c, _ in scored_ids])
    if len(chunks) != len(scored_ids):
        return None
    return [_passage(chunks[chunk_id], score) for chunk_id, score in scored_ids]


def passages_retrieve(*, question: str, embedding: np.ndarray, k: int, column: str = EMBEDDING) -> Ranked:
    """The k passages that best answer question: the nearest chunks (pool_size), reranked (chunk_rank).

    A chunk's cosine measures its whole text against the question; a chunk that names what is asked
    about can rank below chunks on neighbouring topics by it (the fact for "What does dict.setdefault
    do?" came 9th of the nearest). Scores stay the cosine: what the semantic guard reads.
    """
    asked = question_terms(question=question)
    size = max(k, pool_size(asked=asked))
    pool = chunk_search(embedding=embedding, k=size, column=column)
    rank = {p.chunk_id: chunk_rank(asked=asked, cosine=p.score, chunk=ChunkTerms(text=p.text)) for p in pool}
    chosen = sorted(pool, key=lambda p: -rank[p.chunk_id])[:k]
    return Ranked(passages=chosen, bounds=_bounds(pool, size, chosen, rank))


def _bounds(pool: list[Passage], size: int, chosen: list[Passage], rank: dict[int, float]) -> PoolBounds:
    """What a new chunk must beat to change chosen: enter the pool, then outrank the last chosen or, with
    others, push a chosen passage out of the pool (each chunk that enters a full pool pushes out its lowest)."""
    if not chosen:
        return PoolBounds(floor=-1.0, rank_floor=-1.0, slack=0)
    lowest_chosen = min(p.score for p in chosen)
    below = sum(1 for p in pool if p.score < lowest_chosen)
    full = len(pool) >= size
    return PoolBounds(
        floor=min(p.score for p in pool) if full else -1.0,  # a pool with room takes any new chunk
        rank_floor=min(rank[p.chunk_id] for p in chosen),
        slack=below + (size - len(pool)),
    )


def pool_size(*, asked: Asked) -> int:
    """How many nearest chunks a retrieval ranks: RETRIEVAL_POOL, or RETRIEVAL_POOL_NAMED for a question that
    names code, whose entry the rank favours (DEFINITION_WEIGHT) but only if it is drawn."""
    return settings.RETRIEVAL_POOL_NAMED if asked.names else settings.RETRIEVAL_POOL


def question_terms(*, question: str) -> Asked:
    return Asked(terms=frozenset(words(normalize_text(question))), names=code_names(question))


class ChunkTerms:
    """What ranking reads of a chunk's text: its words, and the names whose reference entries start in it.
    Each is read once, and only when a rank needs it (the names only for a question that names code)."""

    def __init__(self, *, text: str):
        self.text = text

    @cached_property
    def terms(self) -> frozenset[str]:
        return frozenset(words(self.text))

    @cached_property
    def defines(self) -> frozenset[str]:
        return defined_names(self.text)


def chunk_rank(*, asked: Asked, cosine: float, chunk: ChunkTerms) -> float:
    """How well a chunk answers a question: its cosine, plus LEXICAL_WEIGHT times the share of the
    question's words it contains, plus DEFINITION_WEIGHT if it starts the entry of a name the question
    asks about. It reads nothing but its arguments, so the displacement check ranks a new chunk exactly
    as a retrieval would.
    """
    terms = asked.terms
    share = len(terms & chunk.terms) / len(terms) if terms else 0.0
    defines = bool(asked.names) and not asked.names.isdisjoint(chunk.defines)
    return cosine + LEXICAL_WEIGHT * share + DEFINITION_WEIGHT * defines


def document_new_chunks(*, document_id: int, known_texts: frozenset[str] = frozenset()) -> NewChunks:
    """A document's chunks as stored now, leaving out those whose text is in known_texts (the ones it had
    before a change), with how each would rank for a cached question: what displacement compares."""
    stored = Chunk.objects.filter(document_id=document_id).values_list("id", "text", "embedding")
    chunks = [(chunk_id, text, vector) for chunk_id, text, vector in stored if text not in known_texts]
    if not chunks:
        return NewChunks(vectors=np.zeros((0, 1), dtype=np.float32))
    vectors = np.vstack([v for _, _, v in chunks]).astype(np.float32)
    terms = [ChunkTerms(text=text) for _, text, _ in chunks]  # read once per chunk, not once per question it meets

    def rank(question: str, embedding: np.ndarray, indexes: list[int]) -> list[float]:
        asked = question_terms(question=question)
        rows = vectors[indexes]
        cosines = rows @ embedding / (np.linalg.norm(rows, axis=1) * np.linalg.norm(embedding))
        return [chunk_rank(asked=asked, cosine=float(c), chunk=terms[i]) for i, c in zip(indexes, cosines)]

    return NewChunks(vectors=vectors, rank=rank)
