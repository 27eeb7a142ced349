"""Sentence-aware, overlapping chunks of a document's text."""

import re
from dataclasses import dataclass

TARGET_CHARS = 800
OVERLAP_CHARS = 200
OVERLAP_SENTENCES = 2

# A sentence ends at . ! or ? followed by whitespace, but not after a list number ("3.") or "e.g.";
# a blank line always ends one.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<![0-9]\.)(?<!\be\.g\.)(?<!\bi\.e\.)\s+")


@dataclass(frozen=True)
class Sentence:
    text: str
    starts_paragraph: bool


def sentence_split(*, text: str) -> list[Sentence]:
    """The text's sentences in order, blank ones dropped."""
    sentences = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        parts = [p.strip() for p in _SENTENCE_END.split(paragraph.strip()) if p.strip()]
        sentences += [Sentence(part, starts_paragraph=i == 0) for i, part in enumerate(parts)]
    return sentences


def chunk_sentences(*, text: str) -> list[str]:
    """The sentences a chunk's evidence vectors are made of: at least one, the whole text if need be."""
    return [s.text for s in sentence_split(text=text)] or [text]


def _pieces(sentence: Sentence, *, limit: int) -> list[Sentence]:
    """A sentence longer than limit, cut at whitespace (or hard, if there is none) into pieces that fit."""
    pieces, rest, first = [], sentence.text, True
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit + 1)
        cut = cut if cut > 0 else limit
        pieces.append(Sentence(rest[:cut].strip(), starts_paragraph=first and sentence.starts_paragraph))
        rest, first = rest[cut:].strip(), False
    pieces.append(Sentence(rest, starts_paragraph=first and sentence.starts_paragraph))
    return [p for p in pieces if p.text]


def _join(sentences: list[Sentence]) -> str:
    text = sentences[0].text
    for sentence in sentences[1:]:
        text += ("\n\n" if sentence.starts_paragraph else " ") + sentence.text
    return text


def _overlap(sentences: list[Sentence], *, max_chars: int, max_sentences: int) -> list[Sentence]:
    """The trailing sentences to repeat at the start of the next chunk."""
    tail: list[Sentence] = []
    # Never the whole chunk: the next one must move forward.
    for sentence in reversed(sentences[1:]):
        if len(tail) == max_sentences or sum(len(s.text) for s in tail) + len(sentence.text) > max_chars:
            break
        tail.insert(0, sentence)
    return tail


def chunk_text(
    *,
    text: str,
    target: int = TARGET_CHARS,
    overlap_chars: int = OVERLAP_CHARS,
    overlap_sentences: int = OVERLAP_SENTENCES,
) -> list[str]:
    """Chunks of at most `target` characters, each repeating the last sentence or two of the one before."""
    units = [piece for s in sentence_split(text=text) for piece in _pieces(s, limit=target)]
    chunks: list[str] = []
    current: list[Sentence] = []
    for unit in units:
        if current and len(_join(current + [unit])) > target:
            chunks.append(_join(current))
            current = _overlap(current, max_chars=overlap_chars, max_sentences=overlap_sentences)
            while current and len(_join(current + [unit])) > target:
                current.pop(0)
        current.append(unit)
    if current:
        chunks.append(_join(current))
    return chunks
