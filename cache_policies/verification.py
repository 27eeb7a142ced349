"""Verification of served semantic hits from real traffic: which hits to verify, and when a fresh answer says
the served one was wrong. The product answers again (qa/verification.py); services.semantic_verdict_record stores
the verdict, and a wrong one refuses its entry to that neighbourhood (semantic.guard_checks).
"""

import random

from cache_policies.models import Verdict
from cache_policies.policies import Policy

# MiniLM cosine of two answers of the local extractive answerer, measured on the string-methods documents: the
# same passage again scores 1.0, a passage that shares most of its sentences 0.79 ("split a string into words" /
# "break a sentence into a list of words"), another passage of the same document 0.32-0.63 ("uppercase" / "split
# on commas", "count" / "find the position of a substring").
ANSWER_MIN_SIMILARITY = 0.75


def verification_due(*, policy: Policy, mode: str, shared: bool) -> bool:
    """Whether to verify this served semantic hit: a sample of verify_share of them, never one a `no-store`
    request asked (its question may not be kept, and the job would keep it), never a per-user answer (what it
    should have been depends on who asked, which the job does not know)."""
    if mode == "no-store" or not shared or policy.verify_share <= 0:
        return False
    return random.random() < policy.verify_share


def sources_agree(*, served: list[str], fresh: list[str]) -> bool:
    """Whether each answer's first-cited document is among the other's: the guard asks the same of the two
    questions' best chunks (top_chunk_shared), at the coarser grain an answer's citations give."""
    return bool(served) and bool(fresh) and served[0] in fresh and fresh[0] in served


def verdict_decide(*, sources_agree: bool, answer_similarity: float) -> Verdict:
    """Same when the answers rest on the same sources and say nearly the same; either failing is wrong: the same
    words from other sources answer another question, other words from the same sources another part of it."""
    return Verdict.SAME if sources_agree and answer_similarity >= ANSWER_MIN_SIMILARITY else Verdict.WRONG
