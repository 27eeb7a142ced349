"""The semantic response layer: a pgvector index of cached questions, and the guard that
decides whether a near question may really reuse a cached answer.

Cosine similarity alone serves wrong answers to questions that differ by one word
("<<" vs ">>", "dict" vs "set", "not"), so a candidate must also pass, cheapest first:
  - retrieval agreement: the new question retrieves most of the cached answer's top documents,
    and one question's best chunk is among the other's top chunks;
  - a contrast check (`contrast.py`): no difference in negations, numbers, operators, dunder names, quoted
    code, no one-slot swap of a content word ("uppercase" vs "lowercase") or of opposites ("and" vs "or"),
    no reversed direction and no narrowing qualifier;
  - evidence agreement: within the chunks both questions retrieved, the sentence that best answers
    one question must answer the other almost as well as its own best sentence does;
  - off the knowledge base's topics (its best passage for the new question scores low), where retrieval
    agreement and evidence mean nothing, those two are not asked; a stricter similarity and word alignment
    are: every content word of each question has a counterpart in the other, by contextual word vectors
    ("several" has none in "raise a new exception", "multiple" has).
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any, Protocol

import numpy as np
from django.utils import timezone

from cache_policies.contrast import content_words, contrast_conflict, same_word
from cache_policies.models import CachedQuestion, SemanticVerdict, Verdict
from cache_policies.pgvector_binary import binary_cursor
from cache_policies.policies import Policy

CANDIDATES = 5
AGREEMENT_DEPTH = 3
# The wrongly served question embedded again lands within float32 noise of where it was found wrong.
REFUSAL_TOLERANCE = 1e-4


class Retrieved(Protocol):
    """What the guard and the index need of a retrieved chunk (the product's passages have it)."""

    chunk_id: int
    document_id: int
    score: float


# Given chunk ids, every sentence vector of those chunks (one row each); the product supplies it.
SentenceVectors = Callable[..., np.ndarray]
# Given a question and some of its words, one unit vector per word, read in the question's context; the product
# supplies it.
WordVectors = Callable[..., np.ndarray]
# How soft the minimum over a question's words is: at 0.05 one unmatched word pulls the score most of the way
# down to its own best match, and a few half-matched words pull it a little. Tuned, with the default cut 0.30,
# on the tune half of tests/data/semantic_pairs.jsonl (the hard minimum and 0.03-0.1 did no better there).
ALIGNMENT_SOFTNESS = 0.05


@dataclass(frozen=True)
class PoolBounds:
    """What a new chunk must beat to change an answer's passages, kept with its cached question.

    The passages are the best by rank of a pool of the nearest chunks. A new chunk changes them when it
    enters the pool (a cosine above floor) and ranks above rank_floor (the last passage's rank), or when
    more than slack chunks enter at once (each pushes the pool's lowest out; the slack-th is the last
    one that is not a passage).
    """

    floor: float
    rank_floor: float
    slack: int

    def as_dict(self) -> dict:
        return {"floor": self.floor, "rank_floor": self.rank_floor, "slack": self.slack}


class CachedEntry(Protocol):
    """What the guard and its callers read of a cached question: an `IndexedQuestion` from a lookup,
    or a `CachedQuestion` (the evaluation and the tests build candidates from the model)."""

    @property
    def question(self) -> str: ...
    @property
    def response_key(self) -> str: ...
    @property
    def chunk_ids(self) -> list[int]: ...
    @property
    def document_ids(self) -> list[int]: ...
    @property
    def embedding(self) -> Any: ...  # a 384-d vector, as a list or an array


@dataclass(frozen=True)
class Space:
    """The columns of a cached question a lookup compares: the embedder's vector and the chunks it retrieved,
    or MiniLM's (kept beside them when the embedder is an API, so a semantic hit makes no API call)."""

    embedding: str
    chunk_ids: str
    document_ids: str


EMBEDDER_SPACE = Space("embedding", "chunk_ids", "document_ids")
LOCAL_SPACE = Space("local_embedding", "local_chunk_ids", "local_document_ids")


@dataclass(frozen=True)
class LocalView:
    """A question in MiniLM's space, as an index row keeps it beside the embedder's (question_index)."""

    embedding: np.ndarray
    passages: list["Retrieved"]


@dataclass(frozen=True)
class IndexedQuestion:
    """A row of the semantic index as a lookup reads it: a tuple, not a model instance (building five
    instances through `raw()` cost more than the query itself at 100k rows)."""

    id: int
    question: str
    response_key: str
    chunk_ids: list[int]
    document_ids: list[int]
    space: Space = EMBEDDER_SPACE

    @cached_property
    def embedding(self) -> list[float]:
        # Read only by the evidence check, the last one, so most candidates never fetch their 1.5 kB.
        return CachedQuestion.objects.values_list(self.space.embedding, flat=True).get(pk=self.id)


@dataclass(frozen=True)
class Candidate:
    entry: CachedEntry
    similarity: float
    # The highest similarity at which this entry was verified wrong (SemanticVerdict); None if never.
    refused_up_to: float | None = None


def retrieval_agreement(*, cached_document_ids: list[int], passages: list[Retrieved]) -> float:
    """Share of the cached answer's top documents that the new question also retrieves."""
    top = list(dict.fromkeys(cached_document_ids))[:AGREEMENT_DEPTH]
    if not top:
        return 0.0
    retrieved = {p.document_id for p in passages}
    return sum(1 for doc in top if doc in retrieved) / len(top)


def top_chunk_shared(*, cached_chunk_ids: list[int], passages: list[Retrieved]) -> bool:
    """Whether one question's best chunk is among the other's retrieved chunks.

    Documents are coarse (one topic holds every string method); the best chunk is where the answer is.
    """
    if not cached_chunk_ids or not passages:
        return False
    retrieved = [p.chunk_id for p in sorted(passages, key=lambda p: -p.score)]
    return cached_chunk_ids[0] in retrieved or retrieved[0] in cached_chunk_ids


def evidence_agreement(
    *, cached_embedding: np.ndarray, cached_chunk_ids: list[int], embedding: np.ndarray, passages: list[Retrieved],
    sentence_vectors: SentenceVectors,
) -> float:
    """How well each question is answered by the sentence that best answers the other, relative to its own best.

    1.0 when both questions point at the same sentence; "join strings" and "split a string" retrieve
    the same chunks but point at the str.join and str.split sentences, and score about 0.5.
    """
    chunk_ids = list(dict.fromkeys([*cached_chunk_ids, *(p.chunk_id for p in passages)]))
    sentences = sentence_vectors(chunk_ids=chunk_ids)
    if not len(sentences):
        return 0.0
    cached_scores, scores = sentences @ np.asarray(cached_embedding), sentences @ embedding
    best_cached, best = int(cached_scores.argmax()), int(scores.argmax())
    ratios = (scores[best_cached] / max(scores[best], 1e-6), cached_scores[best] / max(cached_scores[best_cached], 1e-6))
    return float(min(ratios))


def _soft_min(values: np.ndarray) -> float:
    return float(-ALIGNMENT_SOFTNESS * np.log(np.mean(np.exp(-values / ALIGNMENT_SOFTNESS))))


def word_alignment(*, question: str, cached_question: str, word_vectors: WordVectors) -> float:
    """How well each content word of either question is matched by some word of the other, at worst.

    A word's match is its best cosine to the other question's words (1 for the same word, inflected or not);
    each side is scored by a soft minimum of its words' matches, and the lower side counts. Near copies that
    ask something else keep their frame and change the words that matter ("catch several exceptions" vs
    "raise a new exception": "several" and "new" match nothing well), which one sentence vector barely sees.
    """
    words, cached_words = content_words(question), content_words(cached_question)
    if not words or not cached_words:
        return 1.0  # nothing to align: the contrast checks decide
    same = np.array([[same_word(w, c) for c in cached_words] for w in words], dtype=bool)
    if same.any(axis=1).all() and same.any(axis=0).all():
        return 1.0  # the same words, reordered or inflected: no need to run the model
    similarity = word_vectors(question=question, words=words) @ word_vectors(question=cached_question, words=cached_words).T
    similarity[same] = 1.0
    return min(_soft_min(similarity.max(axis=1)), _soft_min(similarity.max(axis=0)))


@dataclass(frozen=True)
class GuardCheck:
    name: str  # what a refusal is reported as: similarity, retrieval, negation, number, ..., narrower, evidence, alignment
    passed: bool
    detail: str  # the numbers, e.g. "0.67 >= 0.30"


def _at_least(name: str, value: float, limit: float) -> GuardCheck:
    passed = value >= limit
    return GuardCheck(name, passed, f"{value:.2f} {'>=' if passed else '<'} {limit:.2f}")


def guard_checks(
    *, candidate: Candidate, question: str, passages: list[Retrieved], policy: Policy, embedding: np.ndarray,
    sentence_vectors: SentenceVectors, word_vectors: WordVectors,
) -> Iterator[GuardCheck]:
    """Each check the policy turns on, cheapest first, computed only when asked for.

    In the knowledge base's domain, the sources and evidence checks tell paraphrases from near-misses. Off its
    topics (the new question's best passage scores below guard_alignment_below), the passages retrieved answer
    neither question and agree or differ by chance, so a stricter similarity and word alignment decide instead.
    `embedding` is the new question's vector (the caller has it; embedding again would cost ~10 ms).
    """
    entry = candidate.entry
    yield _at_least("similarity", candidate.similarity, policy.similarity_threshold)
    if candidate.refused_up_to is not None:
        yield _verified_neighbourhood(candidate)
    if policy.budget_floor is not None:
        yield _within_budget(candidate, policy)
    best = max((p.score for p in passages), default=0.0)
    off_topic = best < policy.guard_alignment_below
    if off_topic:
        yield _at_least("off-topic", candidate.similarity, policy.guard_off_topic_similarity)
    if policy.guard_min_overlap > 0 and not off_topic:
        overlap = retrieval_agreement(cached_document_ids=entry.document_ids, passages=passages)
        yield _at_least("retrieval", overlap, policy.guard_min_overlap)
        shared = top_chunk_shared(cached_chunk_ids=entry.chunk_ids, passages=passages)
        yield GuardCheck("retrieval", shared, "best chunk shared" if shared else "best chunks differ")
    if policy.guard_contrast:
        conflict = contrast_conflict(question, entry.question)
        yield GuardCheck(conflict or "contrast", conflict is None, f"differ in {conflict}" if conflict else "no contrast")
    if policy.guard_contrast and policy.guard_min_evidence > 0 and not off_topic:
        agreement = evidence_agreement(
            cached_embedding=entry.embedding, cached_chunk_ids=entry.chunk_ids, embedding=embedding, passages=passages,
            sentence_vectors=sentence_vectors,
        )
        yield _at_least("evidence", agreement, policy.guard_min_evidence)
    if policy.guard_min_alignment > 0:
        yield _alignment_check(candidate=candidate, question=question, best=best, policy=policy,
                               word_vectors=word_vectors)


def _alignment_check(
    *, candidate: Candidate, question: str, best: float, policy: Policy, word_vectors: WordVectors,
) -> GuardCheck:
    """Word alignment, asked where retrieval agreement shows nothing: the knowledge base has no passage close to
    the new question (an off-topic question retrieves some passages all the same, and two of them agree as
    easily as not). In the knowledge base's domain the retrieval and evidence checks already tell paraphrases
    from near-misses, and word alignment refused as many paraphrases there as wrong answers."""
    if best >= policy.guard_alignment_below:
        return GuardCheck("alignment", True, f"not asked: best passage {best:.2f} >= {policy.guard_alignment_below:.2f}"
                          " (in the knowledge base's domain)")
    alignment = word_alignment(question=question, cached_question=candidate.entry.question, word_vectors=word_vectors)
    return _at_least("alignment", alignment, policy.guard_min_alignment)


def _above(name: str, similarity: float, floor: float, why: str) -> GuardCheck:
    """A similarity that must be above a floor verified hits set (at it, within tolerance, is refused)."""
    passed = similarity > floor + REFUSAL_TOLERANCE
    return GuardCheck(name, passed, f"{similarity:.2f} {'>' if passed else '<='} {floor:.2f}, {why}")


def _within_budget(candidate: Candidate, policy: Policy) -> GuardCheck:
    """While the verified hits show the wrong-answer budget broken, only hits above their floor are served."""
    return _above("budget", candidate.similarity, policy.budget_floor,
                  f"at or below which verified hits break the {policy.max_wrong_rate:.1%} budget")


def _verified_neighbourhood(candidate: Candidate) -> GuardCheck:
    """vCache's per-entry threshold: once the entry was found wrong for a question at similarity s, it is refused
    to every question at most s similar to it (as far from it or farther); nearer ones are still served."""
    return _above("verified", candidate.similarity, candidate.refused_up_to, "where it was served wrongly")


def guard_rejection(
    *, candidate: Candidate, question: str, passages: list[Retrieved], policy: Policy, embedding: np.ndarray,
    sentence_vectors: SentenceVectors, word_vectors: WordVectors,
) -> str | None:
    """Why the candidate may not be served (the first failing check), or None if it may."""
    checks = guard_checks(candidate=candidate, question=question, passages=passages, policy=policy,
                          embedding=embedding, sentence_vectors=sentence_vectors, word_vectors=word_vectors)
    return next((check.name for check in checks if not check.passed), None)


# The verdicts are read per candidate, in the same statement: a few index probes, no second round trip.
_NEAREST_SQL = """
    SELECT nearest.*, (
        SELECT max(v.similarity) FROM {verdicts} v
        WHERE v.response_key = nearest.response_key AND v.verdict = '{wrong}'
    ) AS refused_up_to
    FROM (
        SELECT id, question, response_key, {chunk_ids}, {document_ids}, {embedding} <=> %b AS distance
        FROM {questions}
        WHERE namespace = %s AND scope = %s{present} AND (expires_at IS NULL OR expires_at > now())
        ORDER BY distance LIMIT %s
    ) nearest
    ORDER BY nearest.distance
"""


def nearest_sql(space: Space = EMBEDDER_SPACE) -> str:
    return _NEAREST_SQL.format(
        verdicts=SemanticVerdict._meta.db_table, wrong=Verdict.WRONG.value, questions=CachedQuestion._meta.db_table,
        embedding=space.embedding, chunk_ids=space.chunk_ids, document_ids=space.document_ids,
        # Rows indexed without MiniLM's vector (before it was kept) are not compared in its space.
        present="" if space == EMBEDDER_SPACE else f" AND {space.embedding} IS NOT NULL",
    )


NEAREST_SQL = nearest_sql(EMBEDDER_SPACE)
_SPACE_SQL = {EMBEDDER_SPACE: NEAREST_SQL, LOCAL_SPACE: nearest_sql(LOCAL_SPACE)}


def nearest_params(*, namespace: str, scope: str, embedding: np.ndarray) -> tuple:
    """NEAREST_SQL's parameters (the bench explains the same statement)."""
    return (np.asarray(embedding, dtype=np.float32), namespace, scope, CANDIDATES)


def candidates_nearest(
    *, namespace: str, scope: str, embedding: np.ndarray, threshold: float, space: Space = EMBEDDER_SPACE,
) -> list[Candidate]:
    # Raw SQL so the 384-d vector travels once (the ORM repeats it in SELECT, WHERE and ORDER BY), in
    # pgvector's binary form, and rows come back as tuples: the client's share of a lookup at 100k rows.
    # Not prepared: a plan cached on a long-lived connection would keep reading the table it was planned
    # on, not a temporary table that shadows it later (the bench's 100k rows), and a pooler may not keep it.
    with binary_cursor() as cursor:
        cursor.execute(_SPACE_SQL[space], nearest_params(namespace=namespace, scope=scope, embedding=embedding),
                       prepare=False)
        rows = cursor.fetchall()
    return [
        Candidate(entry=IndexedQuestion(*row[:5], space=space), similarity=1.0 - distance, refused_up_to=refused_up_to)
        for *row, distance, refused_up_to in rows if distance <= 1.0 - threshold
    ]


EXPIRED_PRUNE_SECONDS = 60
_pruned_at = {"t": -EXPIRED_PRUNE_SECONDS}


def question_index(
    *, namespace: str, scope: str, question: str, embedding: np.ndarray, response_key: str,
    retrieval_key: str, passages: list[Retrieved], bounds: PoolBounds, policy: Policy, local: LocalView | None = None,
) -> None:
    """Index an answered question for semantic lookups, and for displacement (what a new chunk must beat);
    local: the question in MiniLM's space, when the embedder is another model."""
    # Lookups skip expired rows; this removes them, once a minute per process, on a path that writes anyway.
    if time.monotonic() - _pruned_at["t"] >= EXPIRED_PRUNE_SECONDS:
        _pruned_at["t"] = time.monotonic()
        expired_prune()
    # Kept while its answer is (stale hits included, so a displacement still finds it); lookups skip stale answers.
    expires = timezone.now() + timedelta(seconds=policy.kept_for) if policy.kept_for else None
    by_cosine = sorted(passages, key=lambda p: -p.score)
    local_by_cosine = sorted(local.passages, key=lambda p: -p.score) if local else None
    CachedQuestion.objects.update_or_create(
        response_key=response_key,
        defaults={
            "namespace": namespace,
            "scope": scope,
            "question": question[:2000],
            "embedding": embedding,
            "retrieval_key": retrieval_key,
            # In cosine order, as the guard's agreement checks read them (the answer's order is reranked).
            "chunk_ids": [p.chunk_id for p in by_cosine],
            "document_ids": [p.document_id for p in by_cosine],
            "local_embedding": local.embedding if local else None,
            "local_chunk_ids": None if local_by_cosine is None else [p.chunk_id for p in local_by_cosine],
            "local_document_ids": None if local_by_cosine is None else [p.document_id for p in local_by_cosine],
            "kth_score": bounds.floor,
            "rank_floor": bounds.rank_floor,
            "slack": bounds.slack,
            "expires_at": expires,
        },
    )


def entries_prune(*, response_keys: list[str]) -> int:
    deleted, _ = CachedQuestion.objects.filter(response_key__in=response_keys).delete()
    return deleted


def expired_prune() -> int:
    deleted, _ = CachedQuestion.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
