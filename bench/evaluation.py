"""Measure the live semantic layer on pairs of questions known to share an answer, or not.

Each pair runs through the real pipeline: the first question is answered (and cached), the second
is asked and either served from the semantic layer or not. The similarity and the guard's verdict
without a threshold are recorded too, so every threshold can be judged without re-running the pairs.
"""

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from django.conf import settings

from cache_policies import keys, semantic
from cache_policies.models import CachedQuestion, Layer, Outcome
from cache_policies.policies import policy_for
from cache_policies.services import question_purge
from qa import retrieval
from qa.pipeline import question_answer
from qa.providers import embedder
from qa.services import chunk_sentence_vectors

SWEEP = [round(0.30 + 0.05 * i, 2) for i in range(14)]


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool


@dataclass(frozen=True)
class PairOutcome:
    pair: Pair
    served: bool
    similarity: float
    rejection: str | None  # the guard's verdict with the threshold at 0; None means it would serve


@dataclass(frozen=True)
class SweepRow:
    threshold: float
    same_hit_rate: float
    false_hit_rate: float


def pairs_load(*, path: str | Path) -> list[Pair]:
    lines = Path(path).read_text().splitlines()
    return [Pair(a=row["a"], b=row["b"], same=bool(row["same"])) for row in map(json.loads, filter(str.strip, lines))]


def _guard_verdict(*, pair: Pair) -> tuple[float, str | None]:
    """The similarity of b to a's cached entry and why the guard would refuse it at any threshold."""
    entry = CachedQuestion.objects.filter(question=keys.normalize_text(pair.a)).order_by("-created_at").first()
    if entry is None:
        return 0.0, "not_cached"
    vector = embedder().embed([keys.normalize_text(pair.b)])[0]
    passages = retrieval.chunk_search(embedding=vector, k=settings.RETRIEVAL_TOP_K)
    similarity = float(np.dot(vector, np.asarray(entry.embedding)))
    policy = replace(policy_for(Layer.SEMANTIC), similarity_threshold=0.0)
    candidate = semantic.Candidate(entry=entry, similarity=similarity)
    rejection = semantic.guard_rejection(
        candidate=candidate, question=pair.b, passages=passages, policy=policy, embedding=vector,
        sentence_vectors=chunk_sentence_vectors,
    )
    return similarity, rejection


def pair_evaluate(*, pair: Pair) -> PairOutcome:
    """Answer a, then ask b; the cache holds neither question before or after.

    a is answered without reading the cache (an older near question must not answer it, or a would
    never be indexed), and b counts as served only with a's answer: other entries in a shared
    index are not what the pair measures.
    """
    for question in (pair.a, pair.b):
        question_purge(question=question)
    try:
        first = question_answer(question=pair.a, cache_mode="no-cache")
        second = question_answer(question=pair.b)
        served = second.cache[Layer.RESPONSE] == Outcome.SEMANTIC_HIT and second.answer == first.answer
        similarity, rejection = _guard_verdict(pair=pair)
    finally:
        for question in (pair.a, pair.b):
            question_purge(question=question)
    return PairOutcome(pair=pair, served=served, similarity=similarity, rejection=rejection)


def _rate(hits: list[bool]) -> float:
    return sum(hits) / len(hits) if hits else 0.0


def hit_rates(*, outcomes: list[PairOutcome]) -> tuple[float, float]:
    """(share of same-answer pairs served, share of different-answer pairs served) in the live run."""
    return (
        _rate([o.served for o in outcomes if o.pair.same]),
        _rate([o.served for o in outcomes if not o.pair.same]),
    )


def threshold_sweep(*, outcomes: list[PairOutcome], thresholds: list[float] = SWEEP) -> list[SweepRow]:
    def served(o: PairOutcome, threshold: float) -> bool:
        return o.rejection is None and o.similarity >= threshold

    return [
        SweepRow(
            threshold=t,
            same_hit_rate=_rate([served(o, t) for o in outcomes if o.pair.same]),
            false_hit_rate=_rate([served(o, t) for o in outcomes if not o.pair.same]),
        )
        for t in thresholds
    ]


def threshold_recommend(*, sweep: list[SweepRow], target_false_hit: float) -> SweepRow | None:
    """The lowest threshold whose false-hit rate meets the target (it serves the most same-answer pairs)."""
    meeting = [row for row in sweep if row.false_hit_rate <= target_false_hit + 1e-9]
    return min(meeting, key=lambda row: row.threshold, default=None)
