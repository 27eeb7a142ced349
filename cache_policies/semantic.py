"""The semantic response layer: a pgvector index of cached questions, and the guard that
decides whether a near question may really reuse a cached answer.

Cosine similarity alone serves wrong answers to questions that differ by one word
("<<" vs ">>", "dict" vs "set", "not"), so a candidate must also pass:
  - retrieval agreement: the new question retrieves most of the cached answer's top documents;
  - a contrast check: no difference in negations, numbers, operators, dunder names or quoted code.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db.models import Q
from django.utils import timezone
from pgvector.django import CosineDistance

from cache_policies.models import CachedQuestion
from cache_policies.policies import Policy
from qa.providers.base import Passage

CANDIDATES = 5
AGREEMENT_DEPTH = 3

_NEGATIONS = {"not", "no", "never", "without", "cannot", "can't", "don't", "doesn't", "isn't", "aren't", "won't", "nor"}
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?![\w])")
_OPERATOR = re.compile(r"<<=?|>>=?|\*\*=?|//=?|[<>!=]=|:=|->|[-+*/%@&|^~<>]=?")
_DUNDER = re.compile(r"__\w+__")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"|`([^`]+)`")
_WORD = re.compile(r"[a-z][a-z']*")


@dataclass(frozen=True)
class Candidate:
    entry: CachedQuestion
    similarity: float


def contrast_features(question: str) -> dict[str, frozenset[str]]:
    """The parts of a question that change its meaning while barely moving its embedding."""
    text = question.lower()
    code = " ".join(next(g for g in m.groups() if g) for m in _QUOTED.finditer(text))
    prose = _QUOTED.sub(" ", text)
    return {
        "negation": frozenset(w for w in _WORD.findall(prose) if w in _NEGATIONS or w.endswith("n't")),
        "number": frozenset(_NUMBER.findall(prose)),
        "operator": frozenset(_OPERATOR.findall(_DUNDER.sub(" ", prose))),
        "dunder": frozenset(_DUNDER.findall(text)),
        "code": frozenset(code.split()),
    }


def contrast_conflict(a: str, b: str) -> str | None:
    """The name of the first feature on which the questions disagree, or None.

    Negations must match exactly (one side negated is the classic false hit). The other
    features conflict only when both questions state one and they differ: "What is the
    result of x << n?" may paraphrase "What does the left shift operator do?", but not
    "What is the result of x >> n?".
    """
    fa, fb = contrast_features(a), contrast_features(b)
    if fa["negation"] != fb["negation"]:
        return "negation"
    for name in ("number", "operator", "dunder", "code"):
        if fa[name] and fb[name] and fa[name] != fb[name]:
            return name
    return None


def retrieval_agreement(*, cached_document_ids: list[int], passages: list[Passage]) -> float:
    """Share of the cached answer's top documents that the new question also retrieves."""
    top = list(dict.fromkeys(cached_document_ids))[:AGREEMENT_DEPTH]
    if not top:
        return 0.0
    retrieved = {p.document_id for p in passages}
    return sum(1 for doc in top if doc in retrieved) / len(top)


def guard_rejection(*, candidate: Candidate, question: str, passages: list[Passage], policy: Policy) -> str | None:
    """Why the candidate may not be served, or None if it may."""
    if candidate.similarity < policy.similarity_threshold:
        return "similarity"
    if policy.guard_min_overlap > 0:
        overlap = retrieval_agreement(cached_document_ids=candidate.entry.document_ids, passages=passages)
        if overlap < policy.guard_min_overlap:
            return "retrieval"
    if policy.guard_contrast and (conflict := contrast_conflict(question, candidate.entry.question)):
        return conflict
    return None


def candidates_nearest(*, namespace: str, scope: str, embedding: np.ndarray, threshold: float) -> list[Candidate]:
    rows = (
        CachedQuestion.objects.filter(namespace=namespace, scope=scope)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .annotate(distance=CosineDistance("embedding", embedding))
        .filter(distance__lte=1.0 - threshold)
        .order_by("distance")[:CANDIDATES]
    )
    return [Candidate(entry=row, similarity=1.0 - row.distance) for row in rows]


def question_index(
    *, namespace: str, scope: str, question: str, embedding: np.ndarray, response_key: str,
    retrieval_key: str, passages: list[Passage], policy: Policy,
) -> None:
    expires = timezone.now() + timedelta(seconds=policy.ttl_seconds) if policy.ttl_seconds else None
    CachedQuestion.objects.update_or_create(
        response_key=response_key,
        defaults={
            "namespace": namespace,
            "scope": scope,
            "question": question[:2000],
            "embedding": embedding,
            "retrieval_key": retrieval_key,
            "chunk_ids": [p.chunk_id for p in passages],
            "document_ids": [p.document_id for p in passages],
            "kth_score": min((p.score for p in passages), default=1.0),
            "expires_at": expires,
        },
    )


def entries_prune(*, response_keys: list[str]) -> int:
    deleted, _ = CachedQuestion.objects.filter(response_key__in=response_keys).delete()
    return deleted


def expired_prune() -> int:
    deleted, _ = CachedQuestion.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
