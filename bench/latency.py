"""Before/after latency: cold (every layer empty) vs exact hit vs semantic hit, per stage.

The phases run through an `ask` function, so the same loop measures the pipeline in-process and
over HTTP. A round: purge the bench's entries; ask every question (cold: misses that compute
everything and write the layers); ask them again `repeats` times (exact hits); ask each paraphrase
once (semantic hits, or misses when the guard turns the cached answer away).
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bench.percentiles import ratio, summary
from bench.questions import BenchQuestion
from cache_policies.models import Layer, Outcome
from qa.pipeline import question_answer

STAGES = ("embed", "retrieve", "generate", "total", "wall")
EXPECTED = {"cold": Outcome.MISS, "exact": Outcome.HIT, "semantic": Outcome.SEMANTIC_HIT}


@dataclass(frozen=True)
class Observation:
    phase: str
    question: str
    outcome: str  # the response layer's report: hit, semantic_hit, miss, off
    timings_ms: dict  # the pipeline's stages, plus "wall": what the caller waited

    def as_dict(self) -> dict:
        return asdict(self)


Ask = Callable[[str], tuple[str, dict]]


def ledger_read_ms(*, n: int = 1000) -> dict:
    """What the never-stale check adds to every request: the change-ledger read (cache_policies/freshness.py)."""
    from cache_policies.freshness import ledger

    timings = []
    for _ in range(n):
        start = time.perf_counter()
        ledger.sync()
        timings.append((time.perf_counter() - start) * 1000)
    return summary(timings)


def in_process_ask(question: str) -> tuple[str, dict]:
    start = time.perf_counter()
    answer = question_answer(question=question)
    return answer.cache[Layer.RESPONSE], {**answer.timings_ms, "wall": (time.perf_counter() - start) * 1000}


def latency_rounds(
    *, ask: Ask, questions: tuple[BenchQuestion, ...], rounds: int, repeats: int, purge: Callable[[], object]
) -> list[Observation]:
    observed = []

    def run(phase: str, text: str) -> None:
        outcome, timings = ask(text)
        observed.append(Observation(phase=phase, question=text, outcome=outcome, timings_ms=timings))

    for _ in range(rounds):
        purge()
        for q in questions:
            run("cold", q.question)
        for _ in range(repeats):
            for q in questions:
                run("exact", q.question)
        for q in questions:
            run("semantic", q.paraphrase)
    return observed


def latency_summary(observed: list[Observation]) -> dict:
    """Per phase: outcome counts, and per-stage p50/p95 over the samples with the phase's expected outcome."""
    phases = {}
    for phase, expected in EXPECTED.items():
        samples = [o for o in observed if o.phase == phase]
        kept = [o for o in samples if o.outcome == expected]
        phases[phase] = {
            "outcomes": dict(Counter(o.outcome for o in samples)),
            "stages": {stage: summary([o.timings_ms[stage] for o in kept if stage in o.timings_ms]) for stage in STAGES},
        }
    return {"phases": phases, "speedup": speedups(phases)}


def speedups(phases: dict) -> dict:
    """Cold p50 over warm p50, on what the caller waited (wall) and on the pipeline's own total."""
    def p50(phase: str, stage: str):
        return phases[phase]["stages"][stage]["p50"]

    return {
        f"{warm}_{stage}": ratio(p50("cold", stage), p50(warm, stage))
        for warm in ("exact", "semantic")
        for stage in ("wall", "total")
    }
