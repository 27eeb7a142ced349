"""Measure the live semantic layer on pairs of questions known to share an answer, or not.

Each pair runs through the real pipeline: the first question is answered (and cached), the second
is asked and either served from the semantic layer or not. The similarity and the guard's verdict
without a threshold are recorded too, so every threshold can be judged without re-running the pairs.
"""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cache_policies import keys, semantic
from cache_policies.calibration import Decision, wilson_interval
from cache_policies.models import CachedQuestion, Layer, Outcome
from cache_policies.policies import policy_for
from cache_policies.services import question_purge
from qa import local_space
from qa.pipeline import question_answer
from qa.providers import embedder
from qa.providers.word_vectors import word_vectors
from qa.services import chunk_sentence_vectors

SWEEP = [round(0.30 + 0.05 * i, 2) for i in range(14)]


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    kind: str = ""
    domain: str = ""


@dataclass(frozen=True)
class PairOutcome:
    pair: Pair
    served: bool
    similarity: float
    rejection: str | None  # the guard's verdict with the threshold at 0; None means it would serve

    @property
    def decision(self) -> Decision:
        return Decision(similarity=self.similarity, guard_passes=self.rejection is None, same=self.pair.same)


@dataclass(frozen=True)
class SweepRow:
    threshold: float
    same_hit_rate: float
    false_hit_rate: float


def pairs_load(*, path: str | Path) -> list[Pair]:
    lines = Path(path).read_text().splitlines()
    return [
        Pair(a=row["a"], b=row["b"], same=bool(row["same"]), kind=row.get("kind", ""), domain=row.get("domain", ""))
        for row in map(json.loads, filter(str.strip, lines))
    ]


def pairs_split(*, pairs: list[Pair]) -> tuple[list[Pair], list[Pair]]:
    """(tune, held out): within each kind, domain and label, pairs in the order of their hash alternate halves.

    The hash of the pair's text, not its line, decides, so adding or moving lines keeps most pairs where they were.
    """
    strata = defaultdict(list)
    for pair in pairs:
        strata[(pair.kind, pair.domain, pair.same)].append(pair)
    halves = ([], [])
    for _, stratum in sorted(strata.items()):
        ordered = sorted(stratum, key=lambda p: hashlib.sha256(f"{p.a}\n{p.b}".encode()).hexdigest())
        for i, pair in enumerate(ordered):
            halves[i % 2].append(pair)
    return halves


def _guard_verdict(*, pair: Pair) -> tuple[float, str | None]:
    """The similarity of b to a's cached entry and why the guard would refuse it at any threshold."""
    entry = CachedQuestion.objects.filter(question=keys.normalize_text(pair.a)).order_by("-created_at").first()
    if entry is None:
        return 0.0, "not_cached"
    # The live lookup's own view of b: MiniLM's vector and the passages the pipeline's retrieval ranks (its pool
    # and rerank), not the bare nearest chunks, which decided 17 of semantic_pairs.jsonl's 417 pairs another way.
    view = local_space.question_view(question=pair.b, emb=embedder())
    vector, passages = view.embedding, view.passages
    similarity = float(np.dot(vector, np.asarray(entry.embedding)))
    policy = replace(policy_for(Layer.SEMANTIC), similarity_threshold=0.0)
    candidate = semantic.Candidate(entry=entry, similarity=similarity)
    rejection = semantic.guard_rejection(
        candidate=candidate, question=pair.b, passages=passages, policy=policy, embedding=vector,
        sentence_vectors=chunk_sentence_vectors, word_vectors=word_vectors,
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
    return [
        SweepRow(
            threshold=t,
            same_hit_rate=_rate([o.decision.served(t) for o in outcomes if o.pair.same]),
            false_hit_rate=_rate([o.decision.served(t) for o in outcomes if not o.pair.same]),
        )
        for t in thresholds
    ]


def threshold_recommend(*, sweep: list[SweepRow], target_false_hit: float) -> SweepRow | None:
    """The lowest threshold whose false-hit rate meets the target (it serves the most same-answer pairs)."""
    meeting = [row for row in sweep if row.false_hit_rate <= target_false_hit + 1e-9]
    return min(meeting, key=lambda row: row.threshold, default=None)


@dataclass(frozen=True)
class RateRow:
    label: str
    hits: int
    n: int

    def __str__(self) -> str:
        low, high = wilson_interval(hits=self.hits, n=self.n)
        share = self.hits / self.n if self.n else 0.0
        return f"{self.label:44} {self.hits:4} of {self.n:<4} {share:6.1%}  95% CI [{low:.1%}, {high:.1%}]"


def _served_rows(*, outcomes: list[PairOutcome], threshold: float, label: str, group) -> list[RateRow]:
    groups = defaultdict(list)
    for o in outcomes:
        groups[group(o.pair)].append(o.decision.served(threshold))
    return [RateRow(f"{label} {name}", sum(hits), len(hits)) for name, hits in sorted(groups.items())]


def split_report(*, outcomes: list[PairOutcome], threshold: float) -> list[RateRow]:
    """At a threshold: same-answer pairs served per domain and kind, different-answer pairs served per kind
    (wrong answers), all different-answer pairs, and the wrong share of what was served."""
    same = [o for o in outcomes if o.pair.same]
    different = [o for o in outcomes if not o.pair.same]
    served = [o for o in outcomes if o.decision.served(threshold)]
    return [
        *_served_rows(outcomes=same, threshold=threshold, label="same-answer served, domain", group=lambda p: p.domain or "-"),
        *_served_rows(outcomes=same, threshold=threshold, label="same-answer served, kind", group=lambda p: p.kind or "-"),
        *_served_rows(outcomes=different, threshold=threshold, label="wrong (different served), kind", group=lambda p: p.kind or "-"),
        RateRow("wrong: different-answer pairs served", sum(o.decision.served(threshold) for o in different), len(different)),
        RateRow("wrong: share of served hits", sum(not o.pair.same for o in served), len(served)),
    ]
