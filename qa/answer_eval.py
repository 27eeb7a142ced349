"""Answer quality on labelled questions: does the answer state the key fact a person would look for?

Each line of the labelled file is {"q": question, "topic": sample document, "facts": [accepted phrasings]};
an answer is correct when it contains any phrasing, compared without case, quotes or emphasis marks.
Questions alternate between a tuning half and a held-out half, so a change tuned on one can be checked on the other.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from qa.uncached import question_answer_uncached

HALVES = ("tune", "holdout", "all")
_MARKUP = re.compile(r"[\"*“”‘’`]")


@dataclass(frozen=True)
class Labelled:
    question: str
    topic: str
    facts: list[str]
    half: str


@dataclass(frozen=True)
class Graded:
    item: Labelled
    answer: str
    correct: bool


def labelled_load(*, path: Path, half: str = "all") -> list[Labelled]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    items = [Labelled(r["q"], r["topic"], r["facts"], HALVES[i % 2]) for i, r in enumerate(rows)]
    return [item for item in items if half in ("all", item.half)]


def _plain(text: str) -> str:
    return " ".join(_MARKUP.sub("", text.replace("’", "'")).lower().split())


def fact_stated(*, answer: str, facts: list[str]) -> bool:
    plain = _plain(answer)
    return any(_plain(fact) in plain for fact in facts)


def answer_grade(*, item: Labelled) -> Graded:
    """Retrieve and answer as the pipeline does on a miss, without reading or writing any cache."""
    answer = question_answer_uncached(question=item.question).generation.text
    return Graded(item=item, answer=answer, correct=fact_stated(answer=answer, facts=item.facts))
