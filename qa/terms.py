"""The words of a question or passage that carry its meaning, for the lexical signals of ranking."""

import re

# Plain English glue words. Python keywords (with, for, if, in, not, and, or, as, from, ...) are
# deliberately absent: in a knowledge base about Python they are what the question is about.
STOPWORDS = frozenset(
    """a an the of to be been being am are was were do does did doing how what which who whom whose why
    when where can could should would will shall may might must i me my you your we our us they them
    their it its this that these those there here on at by about into onto than then so such has have
    had having just also very please explain tell describe mean means meaning use used using work works
    happen happens some any""".split()
)
_WORD = re.compile(r"[a-z0-9_]+")


def words(text: str) -> list[str]:
    """Lowercased word tokens without stopwords."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
