"""The offline answerer: the passage of adjacent sentences that best answers the question, with its citation.

Sentences are ranked by the question's similarity to their vectors (stored at ingest, one per
sentence of a chunk in `chunk_sentences` order) plus the share of the question's rarer words they
contain. The best sentence is the anchor; its neighbours in the same chunk join it while they stay
relevant, so the answer reads as one passage rather than fragments of several.
"""

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from collections.abc import Generator as PieceGenerator
from dataclasses import dataclass

import numpy as np

from qa.chunking import sentence_split
from qa.providers.base import Generation, Passage
from qa.terms import code_names, defined_names, words

NOTHING_FOUND = "I couldn't find anything about that in the knowledge base."

# Tuned on the even lines of tests/data/answer_facts.jsonl (`manage.py answer_eval --half tune`).
LEXICAL_WEIGHT = 0.1  # a sentence with all the question's words gains this much over a similarity of 0..~0.8
RANK_BONUS = 0.2  # for a sentence of the top passage; halved for the second, and so on
NEIGHBOUR_SHARE = 0.3  # a neighbour joins the passage while it scores at least this share of the anchor
DEFINITION_BONUS = 0.3  # for the sentence under the signature of a name the question asks about
MAX_SENTENCES = 4
MAX_LEAD_CHARS = 80
MAX_HELD_CHUNKS = 5000
MAX_ANSWER_CHARS = 600
MIN_SENTENCE_CHARS = 20
MAX_SENTENCE_CHARS = 500
# Headings, grammar rules and list lead-ins ("as follows:") read badly as answers; prose ends like this.
_PROSE_END = re.compile(r"[.!?][\"')\]”’]*$")
# A statement that introduces its grammar or example: 'The "if" statement is used for conditional execution:',
# 'Classes can also be decorated: just like when decorating functions,'. Not a list lead-in ("as follows:").
_LEAD_IN_VERB = re.compile(r"\b(?:is|are|can|may)\b")
_LIST_LEAD_IN = re.compile(r"\b(?:follow|following|below|examples?|these|this)\b")
# Sentences that lean on another: a footnote mark, a conclusion or cross-reference, a version note. They
# may join a passage as a neighbour, but an answer does not open with them.
_DEPENDENT = re.compile(r"^(?:\[\d+\]|(?:As such|Thus|Hence|Therefore|See|Changed in version|New in version|Deprecated since)\b)")
# A sentence that announces a list and ends there: "Slicing is done exclusively with the following three methods."
# Not one that goes on to give it ("the following values are interpreted as false: ...").
_ANNOUNCES_LIST = re.compile(r"\b(?:the following|as follows)\b[^:]{0,40}[.:]$")
_SENTENCE_END = re.compile(r"(?<=[.!?:] )")

SentenceVectors = Callable[[list[int]], dict[int, np.ndarray]]


@dataclass(frozen=True)
class Candidate:
    passage: int
    position: int  # the sentence's ordinal in its chunk, as stored at ingest
    text: str
    terms: frozenset[str]  # its own words and its lead's
    lead: str = ""  # the signature it explains: 'str.strip([chars])' before 'Return a copy ...'


def _answerable(sentence: str) -> bool:
    if not MIN_SENTENCE_CHARS <= len(sentence) <= MAX_SENTENCE_CHARS:
        return False
    return bool(_PROSE_END.search(sentence) or _statement_lead_in(sentence))


def _statement_lead_in(sentence: str) -> bool:
    return (
        sentence[-1] in ":," and sentence[0].isupper()
        and bool(_LEAD_IN_VERB.search(sentence)) and not _LIST_LEAD_IN.search(sentence)
    )


def _leans(sentence: str) -> bool:
    """Whether a sentence needs another to stand on: it may join a passage, but an answer does not open with it."""
    return bool(_DEPENDENT.match(sentence) or not _PROSE_END.search(sentence) or _ANNOUNCES_LIST.search(sentence))


def _lead(previous: str) -> str:
    """The line before a sentence when it is the signature the sentence explains ("str.strip([chars])",
    "object.__slots__": the line names what it defines), else ""."""
    return previous if len(previous) <= MAX_LEAD_CHARS and defined_names(previous) else ""


def _sentences(passages: list[Passage]) -> dict[tuple[int, int], Candidate]:
    """Every answerable sentence by (passage, position)."""
    found = {}
    for index, passage in enumerate(passages):
        previous = ""
        for position, sentence in enumerate(sentence_split(text=passage.text)):
            text = " ".join(sentence.text.split())
            if _answerable(text):
                lead = _lead(previous) if position else ""
                found[index, position] = Candidate(index, position, text, frozenset(words(f"{lead} {text}")), lead)
            previous = text
    return found


def _distinct(sentences: dict[tuple[int, int], Candidate]) -> list[Candidate]:
    # Neighbouring chunks overlap, so the same sentence can come twice: the higher-ranked passage keeps it.
    seen: set[str] = set()
    distinct = []
    for candidate in sentences.values():
        if candidate.text.lower() not in seen:
            seen.add(candidate.text.lower())
            distinct.append(candidate)
    return distinct


def _lexical(candidates: list[Candidate], question_terms: set[str]) -> dict[Candidate, float]:
    """The weight of the question's words a sentence contains, as a share of all it could; rarer words weigh more."""
    frequency = Counter(term for c in candidates for term in c.terms)
    weights = {term: math.log(1 + len(candidates) / count) for term, count in frequency.items()}
    reachable = sum(weights.get(t, 0.0) for t in question_terms) or 1.0
    return {c: sum(weights[t] for t in c.terms & question_terms) / reachable for c in candidates}


def _similarity(
    candidates: list[Candidate], passages: list[Passage], embedding: np.ndarray | None, vectors: SentenceVectors
) -> dict[Candidate, float]:
    """Cosine of the question with each sentence's stored vector; 0 where there is none."""
    if embedding is None:
        return {}
    stored = vectors([p.chunk_id for p in passages])
    # A chunk split differently than at ingest has misaligned rows: its sentences rank by their words alone.
    aligned = {
        i: rows for i, p in enumerate(passages)
        if (rows := stored.get(p.chunk_id)) is not None and len(rows) == len(sentence_split(text=p.text))
    }
    return {c: float(aligned[c.passage][c.position] @ embedding) for c in candidates if c.passage in aligned}


def _defining(candidates: list[Candidate], question: str) -> set[Candidate]:
    """The sentences right under the signature of a name the question asks about ("What does str.join do?")."""
    if not (names := code_names(question)):
        return set()
    return {c for c in candidates if c.lead and not names.isdisjoint(defined_names(c.lead))}


def _scores(candidates, passages, question, embedding, vectors) -> dict[Candidate, float]:
    lexical = _lexical(candidates, set(words(question)))
    similarity = _similarity(candidates, passages, embedding, vectors)
    defining = _defining(candidates, question)
    # Without any sentence vectors (no question vector given), the words alone rank.
    weight = LEXICAL_WEIGHT if similarity else 1.0
    return {
        c: similarity.get(c, 0.0) + weight * lexical[c] + RANK_BONUS / (c.passage + 1) + DEFINITION_BONUS * (c in defining)
        for c in candidates
    }


def _passage_around(
    anchor: Candidate, sentences: dict[tuple[int, int], Candidate], scores: dict[Candidate, float]
) -> list[Candidate]:
    """The anchor and its neighbours in the same chunk while they stay relevant, in reading order."""
    # A sentence repeated from a higher passage was scored there: it counts as its twin.
    by_text = {c.text.lower(): score for c, score in scores.items()}
    chosen, bar = [anchor], scores[anchor] * NEIGHBOUR_SHARE
    for step in (1, -1):
        position = anchor.position + step
        while len(chosen) < MAX_SENTENCES and (neighbour := sentences.get((anchor.passage, position))):
            length = sum(len(c.text) for c in chosen) + len(neighbour.text)
            if by_text[neighbour.text.lower()] < bar or length > MAX_ANSWER_CHARS:
                break
            if step == -1 and _DEPENDENT.match(neighbour.text):  # it would open the answer, leaning on what is left out
                break
            chosen.append(neighbour)
            position += step
    return sorted(chosen, key=lambda c: c.position)


class _HeldSentenceVectors:
    """The stored sentence vectors of recently answered chunks, held in-process.

    A chunk's text never changes under its id (an edit replaces the chunks), so a held row is never
    stale. The database round trip cost 1-10 ms of an answer's budget of 5; the sample KB's 753
    chunks hold ~8 MB of vectors, so MAX_HELD_CHUNKS bounds a larger KB.
    """

    def __init__(self):
        self._held: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, chunk_ids: list[int]) -> dict[int, np.ndarray]:
        from qa.selectors import chunk_sentence_embeddings

        with self._lock:
            found = {c: self._held[c] for c in chunk_ids if c in self._held}
            for chunk_id in found:
                self._held.move_to_end(chunk_id)
        if missing := [c for c in chunk_ids if c not in found]:
            fetched = chunk_sentence_embeddings(chunk_ids=missing)
            with self._lock:
                self._held.update(fetched)
                while len(self._held) > MAX_HELD_CHUNKS:
                    self._held.popitem(last=False)
            found |= fetched
        return found


class ExtractiveGenerator:
    provider = "extractive"
    uses_template = False  # it reads no prompt: a template edit leaves its answers valid

    def __init__(self, *, model: str, sentence_vectors: SentenceVectors | None = None):
        self.model = model
        self._sentence_vectors = sentence_vectors or _HeldSentenceVectors()

    def generate(
        self, *, question: str, passages: list[Passage], embedding: np.ndarray | None = None, template=None
    ) -> Generation:
        sentences = _sentences(passages)
        candidates = _distinct(sentences)
        if not candidates:
            return Generation(text=NOTHING_FOUND, model=self.model, prompt_tokens=len(question.split()))
        scores = _scores(candidates, passages, question, embedding, self._sentence_vectors)
        anchor = min(candidates, key=lambda c: (_leans(c.text), -scores[c], c.passage, c.position))
        chosen = _passage_around(anchor, sentences, scores)
        opening = f"{chosen[0].lead}: " if chosen[0].lead else ""
        text = opening + " ".join(c.text for c in chosen) + f" [{anchor.passage + 1}]"
        return Generation(
            text=text,
            model=self.model,
            prompt_tokens=len(question.split()) + sum(len(p.text.split()) for p in passages),
            completion_tokens=len(text.split()),
            cited=[anchor.passage],
        )

    def stream(
        self, *, question: str, passages: list[Passage], embedding: np.ndarray | None = None, template=None
    ) -> PieceGenerator[str, None, Generation]:
        """Its sentences one by one: the answer is chosen whole (in well under a millisecond), then sent as read."""
        generation = self.generate(question=question, passages=passages, embedding=embedding)
        yield from sentence_pieces(generation.text)
        return generation


def sentence_pieces(text: str) -> list[str]:
    """text cut after each sentence's end, each piece keeping its trailing space: "".join() gives text back."""
    return [piece for piece in _SENTENCE_END.split(text) if piece]
