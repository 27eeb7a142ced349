"""The offline answerer: the passages' sentences that best match the question, with citations."""

import math
import re
from collections import Counter
from dataclasses import dataclass

from qa.chunking import sentence_split
from qa.providers.base import Generation, Passage

NOTHING_FOUND = "I couldn't find anything about that in the knowledge base."

# Plain English glue words. Python keywords (with, for, if, in, not, and, or, as, from, ...) are
# deliberately absent: in a knowledge base about Python they are what the question is about.
STOPWORDS = frozenset(
    """a an the of to be been being am are was were do does did doing how what which who whom whose why
    when where can could should would will shall may might must i me my you your we our us they them
    their it its this that these those there here on at by about into onto than then so such has have
    had having just also very please explain tell describe mean means meaning use used using work works
    happen happens some any""".split()
)
RANK_BONUS = 0.5  # added to a sentence from the top passage; halved for the second, and so on
MIN_SENTENCE_CHARS = 20
MAX_SENTENCE_CHARS = 500
_WORD = re.compile(r"[a-z0-9_]+")
# Headings, grammar rules and list lead-ins ("as follows:") read badly as answers; prose ends like this.
_PROSE_END = re.compile(r"[.!?][\"')\]”’]*$")


def words(text: str) -> list[str]:
    """Lowercased word tokens without stopwords."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


@dataclass(frozen=True)
class Candidate:
    passage: int
    position: int
    text: str
    terms: frozenset[str]


def _answerable(sentence: str) -> bool:
    return MIN_SENTENCE_CHARS <= len(sentence) <= MAX_SENTENCE_CHARS and bool(_PROSE_END.search(sentence))


def _candidates(passages: list[Passage]) -> list[Candidate]:
    found, seen = [], set()
    for index, passage in enumerate(passages):
        for position, sentence in enumerate(sentence_split(text=passage.text)):
            text = " ".join(sentence.text.split())
            # Neighbouring chunks overlap, so the same sentence can come twice.
            if text.lower() not in seen and _answerable(text):
                seen.add(text.lower())
                found.append(Candidate(index, position, text, frozenset(words(text))))
    return found


def _weights(candidates: list[Candidate]) -> dict[str, float]:
    """Rarer words (in fewer of these sentences) weigh more."""
    frequency = Counter(term for c in candidates for term in c.terms)
    return {term: math.log(1 + len(candidates) / count) for term, count in frequency.items()}


def _best(candidates: list[Candidate], question_terms: set[str]) -> list[Candidate]:
    weights = _weights(candidates)

    def score(c: Candidate) -> float:
        overlap = sum(weights[t] for t in c.terms & question_terms)
        return overlap + (RANK_BONUS / (c.passage + 1) if overlap else 0.0)

    ranked = sorted(candidates, key=lambda c: (-score(c), c.passage, c.position))
    if not ranked or score(ranked[0]) == 0:
        # No word in common: the retriever still put the first passage on top, so open it.
        return [c for c in candidates if c.passage == 0][:2]
    best = score(ranked[0])
    # The best sentence, and up to two more only when they are at least half as relevant:
    # a weak second sentence from another passage reads as an answer to a different question.
    return ranked[:1] + [c for c in ranked[1:3] if score(c) >= best / 2]


class ExtractiveGenerator:
    provider = "extractive"

    def __init__(self, *, model: str):
        self.model = model

    def generate(self, *, question: str, passages: list[Passage]) -> Generation:
        candidates = _candidates(passages)
        if not candidates:
            return Generation(text=NOTHING_FOUND, model=self.model, prompt_tokens=len(question.split()))
        chosen = sorted(_best(candidates, set(words(question))), key=lambda c: (c.passage, c.position))
        text = " ".join(f"{c.text} [{c.passage + 1}]" for c in chosen)
        return Generation(
            text=text,
            model=self.model,
            prompt_tokens=len(question.split()) + sum(len(p.text.split()) for p in passages),
            completion_tokens=len(text.split()),
            cited=sorted({c.passage for c in chosen}),
        )
