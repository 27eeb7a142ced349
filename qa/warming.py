"""Cache warming: questions answered into the shared cache ahead of the users who will ask them.

Where the questions come from: the stats' most asked ones, a file, or a staff member's selection. Each
goes through the answer pipeline (pipeline.question_warm), so keys, freshness stamps and single-flight
are those of a user's request, and none of it is counted as traffic. Only shared answers are warmed:
with answers cached per user there is no entry another user would read.
"""

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


from cache_policies import redis_client
from cache_policies.models import Layer, Outcome, Scope
from cache_policies.policies import all_policies
from cache_policies.singleflight import AnswerPending
from cache_policies.stats_selectors import questions_top
from qa import pipeline
from ragsite.errors import ProviderError

logger = logging.getLogger(__name__)
DEFAULT_PER_SECOND = 2.0
# A document edit can remove hundreds of answers; warming them all would be minutes of LLM calls.
AFTER_PURGE_MAX = 50


class Warmed(StrEnum):
    WARMED = "warmed"  # answered now, and cached
    CACHED = "cached"  # its answer was cached already
    PENDING = "pending"  # another request was computing it for longer than the lock timeout
    FAILED = "failed"  # the provider failed: nothing cached
    SKIPPED = "skipped"  # no shared answer to warm (a policy changed during the run)


_OUTCOMES = {Outcome.HIT: Warmed.CACHED, Outcome.MISS: Warmed.WARMED, Outcome.SEMANTIC_HIT: Warmed.WARMED}


@dataclass(frozen=True)
class WarmedQuestion:
    question: str
    result: Warmed
    started: float  # time.monotonic() when its answer was asked for


@dataclass
class WarmReport:
    refused: str = ""  # why nothing was warmed, if nothing could be
    counts: dict[Warmed, int] = field(default_factory=lambda: dict.fromkeys(Warmed, 0))

    def summary(self) -> str:
        if self.refused:
            return f"Nothing warmed: {self.refused}."
        rest = ", ".join(f"{count} {result}" for result, count in self.counts.items() if count and result != Warmed.WARMED)
        return f"Warmed {self.counts[Warmed.WARMED]} answer(s)" + (f" ({rest})" if rest else "") + "."


class Pace:
    """At most per_second starts per second: each start waits until 1/per_second after the one before."""

    def __init__(self, *, per_second: float):
        self.interval, self.last = 1 / per_second, None

    def wait(self) -> float:
        if self.last is not None:
            time.sleep(max(0.0, self.last + self.interval - time.monotonic()))
        self.last = time.monotonic()
        return self.last


def warm_refusal() -> str:
    """Why no shared answer can be warmed now ("" if it can)."""
    if not redis_client.call(lambda r: r.ping(), default=False):
        return "Redis is unreachable, so nothing would be cached"
    policies = all_policies()
    if not policies[Layer.RESPONSE].enabled:
        return "Exact responses is off, so no answer is cached"
    per_user = [Layer(layer).label for layer in (Layer.RESPONSE, Layer.SEMANTIC) if policies[layer].scope == Scope.PER_USER]
    if per_user:
        return f"{' and '.join(per_user)} cache answers per user; warming fills only shared answers"
    return ""


def _warmed(question: str) -> Warmed:
    try:
        outcome = pipeline.question_warm(question=question)
    except AnswerPending:
        return Warmed.PENDING
    except ProviderError:
        return Warmed.FAILED
    return _OUTCOMES.get(outcome, Warmed.SKIPPED)


def questions_warm(
    *, questions: Iterable[str], per_second: float = DEFAULT_PER_SECOND,
    on_each: Callable[[WarmedQuestion], None] = lambda warmed: None,
) -> WarmReport:
    """Answer each question into the shared cache, at most per_second of them starting per second."""
    report = WarmReport(refused=warm_refusal())
    if report.refused:
        return report
    pace = Pace(per_second=per_second)
    for question in dict.fromkeys(questions):
        started = pace.wait()
        warmed = WarmedQuestion(question, _warmed(question), started)
        report.counts[warmed.result] += 1
        on_each(warmed)
    return report


def questions_most_asked(*, limit: int) -> list[str]:
    """The stats' most asked questions (their normalized text), leaving out those whose text was cut
    short when it was counted: that text is another question."""
    return [asked.question for asked in questions_top(limit=limit) or [] if asked.complete]


def questions_read(*, path: Path) -> Iterator[str]:
    """A file's questions: one per line, or JSON lines with a "question" field. Blank lines are skipped.

    Raises ValueError naming the line that is neither.
    """
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if text := _line_question(line.strip(), where=f"{path}:{number}"):
                yield text


def _line_question(line: str, *, where: str) -> str:
    if not line.startswith("{"):
        return line
    try:
        question = json.loads(line).get("question")
    except ValueError:
        raise ValueError(f"{where}: a line starting with {{ must be a JSON object") from None
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f'{where}: the JSON line has no "question" text')
    return question.strip()


def questions_warm_later(*, questions: list[str]) -> bool:
    """Queue the warming of the questions of answers a purge removed (the rule's "warm after purge"), at most
    AFTER_PURGE_MAX, at the default rate, as a job (qa/tasks.py): the change that purged them is not held up,
    and a worker that dies leaves the job to the next one. Whether it was queued (a failure is logged: their
    next askers compute them, as without warming)."""
    if not questions:
        return False
    from qa.tasks import questions_warm_job

    try:
        questions_warm_job.enqueue(questions=questions[:AFTER_PURGE_MAX])
    except Exception:
        logger.exception("could not queue the warming after a purge")
        return False
    return True
