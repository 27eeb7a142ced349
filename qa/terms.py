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
# What a question names in code, by its last part: "str.join" -> join, "s.append(x)" -> append,
# "__slots__", "len()" -> len.
_CODE_NAME = re.compile(r"\b[A-Za-z_]\w*(?:\.\w+)*\.([A-Za-z_]\w*)|\b(__\w+__)|\b([A-Za-z_]\w*)\(")
# A line that is nothing but a signature or a qualified name, "str.join(iterable)", "object.__slots__",
# "setdefault(key[, default])": where a reference entry starts, the prose under it defines that name.
_DEFINITION_LINE = re.compile(r"^[ \t]*(?:\w+ )?(?:(?:\w+\.)+(\w+)(?:\(.*\))?|(\w+)\(.*\))[ \t]*$", re.MULTILINE)


def words(text: str) -> list[str]:
    """Lowercased word tokens without stopwords."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def code_names(text: str) -> frozenset[str]:
    """The names a text refers to in code (dotted, dunder or called), lowercased, by their last part."""
    return frozenset(next(filter(None, m)).lower() for m in _CODE_NAME.findall(text))


def defined_names(text: str) -> frozenset[str]:
    """The names whose reference entries start in text: a line holding only a signature or a qualified name."""
    return frozenset(next(filter(None, m)).lower() for m in _DEFINITION_LINE.findall(text))
