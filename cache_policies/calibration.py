"""Derive the semantic similarity threshold from the operator's wrong-answer budget.

A setting is accepted only when the Wilson 95 % upper bound of its wrong rate among served hits, measured
on labelled pairs, is within the budget: a handful of lucky pairs cannot prove a 1 % promise.
"""

import math
from bisect import bisect_right
from itertools import accumulate
from dataclasses import dataclass

Z95 = 1.959964
THRESHOLDS = [round(0.30 + 0.01 * i, 2) for i in range(71)]


@dataclass(frozen=True)
class Decision:
    """One labelled pair as the guard saw it: b's similarity to a, whether the guard's other checks pass."""

    similarity: float
    guard_passes: bool
    same: bool

    def served(self, threshold: float) -> bool:
        return self.guard_passes and self.similarity >= threshold


@dataclass(frozen=True)
class Derived:
    threshold: float
    served: int
    wrong: int
    wrong_upper: float
    pairs: int


def wilson_interval(*, hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of hits/n; (0, 1) when there is nothing to measure."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _at(*, decisions: list[Decision], threshold: float) -> Derived:
    served = [d for d in decisions if d.served(threshold)]
    wrong = sum(not d.same for d in served)
    upper = wilson_interval(hits=wrong, n=len(served))[1]
    return Derived(threshold=threshold, served=len(served), wrong=wrong, wrong_upper=upper, pairs=len(decisions))


def threshold_derive(
    *, decisions: list[Decision], max_wrong_rate: float, thresholds: list[float] = THRESHOLDS,
) -> Derived | None:
    """The loosest threshold whose wrong-served rate is provably (95 %) within the budget; None if none is."""
    meeting = [d for d in (_at(decisions=decisions, threshold=t) for t in thresholds) if d.wrong_upper <= max_wrong_rate]
    return min(meeting, key=lambda d: d.threshold, default=None)


def smallest_provable(*, decisions: list[Decision], thresholds: list[float] = THRESHOLDS) -> Derived:
    """The setting with the lowest upper bound: what the pairs can prove at best, to tell an operator."""
    return min((_at(decisions=decisions, threshold=t) for t in thresholds), key=lambda d: (d.wrong_upper, d.threshold))


def budget_floor(*, verdicts: list[tuple[float, bool]], max_wrong_rate: float) -> float | None:
    """The similarity above which verified hits no longer show the budget broken, or None where they do not show
    it at all. verdicts: (similarity, wrong) of each verified semantic hit.

    Broken means the Wilson 95 % lower bound of the wrong share is above the budget: the verdicts prove the
    cache serves more wrong answers than it may. The floor is then the lowest similarity of a wrong hit above
    which the hits verified no longer prove it; just above the highest wrong one, no verdict is wrong at all.
    """
    ordered = sorted(verdicts)  # by similarity: the verdicts above any similarity are a tail, counted once
    similarities = [similarity for similarity, _ in ordered]
    wrong_before = [0, *accumulate(wrong for _, wrong in ordered)]  # wrong ones among the first i

    def broken(above: float) -> bool:
        first = bisect_right(similarities, above)
        kept = len(ordered) - first
        return kept > 0 and wilson_interval(hits=wrong_before[-1] - wrong_before[first], n=kept)[0] > max_wrong_rate

    if not broken(-1.0):
        return None
    return next(s for s in sorted({s for s, wrong in verdicts if wrong}) if not broken(s))
