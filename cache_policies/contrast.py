"""What a question's words say that its sentence vector barely does: the lexical half of the semantic guard.

Two questions a cached answer cannot serve often differ in one small part: a negation, a number, an operator,
a dunder name, a swapped content word ("uppercase" / "lowercase"), a swapped pair of opposites ("and" / "or",
"before" / "after"), the same words in the other direction ("Celsius to Fahrenheit" / "Fahrenheit to Celsius"),
or a qualifier that narrows the question ("slicing" / "slicing with a negative step"). Plain text in, a name out:
no model, no database.
"""

import re

_NEGATIONS = {"not", "no", "never", "without", "cannot", "can't", "don't", "doesn't", "isn't", "aren't", "won't", "nor"}
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?![\w])")
_OPERATOR = re.compile(r"<<=?|>>=?|\*\*=?|//=?|[<>!=]=|:=|->|[-+*/%@&|^~<>]=?")
_DUNDER = re.compile(r"__\w+__")
# "keyword-only", "less-than": a hyphen inside a word is not the minus operator.
_HYPHENATED = re.compile(r"(?<=[a-z])-(?=[a-z])")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"|`([^`]+)`")
_WORD = re.compile(r"[a-z][a-z']*")
TERM = re.compile(r"[a-z_][a-z0-9_]*")  # a word, as every check reads it
# English function words and the words questions are framed with ("how do I write...", "what does
# ... mean"): they carry no topic, so a paraphrase may add or drop them freely.
_STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each either few for from further had has have having he her
here hers him his how i if in into is it its itself just me more most my of off on once only or other our out over
own same she should so some such than that the their them then there these they this those through to too under
until up very was we were what when where whether which while who whom why will with would you your yours
what's how's i'd i'm there's let's explain mean means meaning work works working happen happens happened use used
using way python write make get gets want need tell thing things kind kinds example purpose syntax
""".split())
# A Python keyword that is also an English word ("with", "in", "is") is a topic when it is named as one.
_KEYWORD_TERM = re.compile(r"\b(\w+)\s+(?:statement|operator|clause|keyword|expression|loop|block)s?\b")
# Keywords that are no English word: beside one, a keyword that is ("for", "with", "from", "as") is code too,
# so "async for" / "async with" and "yield" / "yield from" differ in a content word.
_CODE_COMPANIONS = frozenset("for with from as if else while".split())
_CODE_ONLY_KEYWORDS = frozenset(
    "async await yield import lambda nonlocal global del elif assert except finally raise def".split()
)
# Opposites, many of them function words the content checks skip: one swapped for the other asks the other
# question ("bitwise and" / "bitwise or", "warm up before" / "cool down after").
_OPPOSITES = frozenset(frozenset(pair.split("/")) for pair in """
and/or before/after above/below over/under up/down in/out inside/outside on/off more/less most/least from/to
from/into all/any first/last min/max minimum/maximum higher/lower upper/lower start/end open/close push/pull
encode/decode true/false input/output import/export add/remove enable/disable increase/decrease
""".split())
# Words that give a question a direction: the same words on the other sides of one reverse it.
_DIRECTIONAL = ("to", "into", "from", "than", "onto")
# A question that repeats another (articles aside) and adds this many content words asks about a narrower case.
NARROWING_WORDS = 2
_ARTICLES = frozenset(("a", "an", "the"))


def contrast_features(question: str) -> dict[str, frozenset[str]]:
    """The parts of a question that change its meaning while barely moving its embedding."""
    text = question.lower()
    code = " ".join(next(g for g in m.groups() if g) for m in _QUOTED.finditer(text))
    prose = _QUOTED.sub(" ", text)
    return {
        "negation": frozenset(w for w in _WORD.findall(prose) if w in _NEGATIONS or w.endswith("n't")),
        "number": frozenset(_NUMBER.findall(prose)),
        "operator": frozenset(_OPERATOR.findall(_HYPHENATED.sub(" ", _DUNDER.sub(" ", prose)))),
        "dunder": frozenset(_DUNDER.findall(text)),
        "code": frozenset(code.split()),
    }


def _stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def same_word(a: str, b: str) -> bool:
    """Inflections and abbreviations count as the same word: "strings"/"string", "dict"/"dictionary"."""
    a, b = _stem(a), _stem(b)
    return a == b or (min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)))


def _tokens(question: str) -> list[str]:
    return list(dict.fromkeys(TERM.findall(question.lower())))


def _keywords_beside_code(text: str) -> set[str]:
    # One-letter names ("import x as y") are placeholders: the keywords around them are still neighbours.
    words = [w for w in TERM.findall(text) if len(w) > 1]
    return {
        w for i, w in enumerate(words) if w in _CODE_COMPANIONS
        and any(n in _CODE_ONLY_KEYWORDS for n in words[max(0, i - 1):i + 2] if n != w)
    }


def content_words(question: str) -> list[str]:
    """The words that name what a question is about, in order, without function or framing words."""
    text = question.lower()
    named = set(_KEYWORD_TERM.findall(text)) | {w for m in _QUOTED.finditer(text) for w in TERM.findall(m.group(0))}
    named |= _keywords_beside_code(text)
    return [w for w in _tokens(text) if len(w) > 1 and (w not in _STOPWORDS or w in named)]


def _unmatched(words: list[str], others: list[str]) -> list[str]:
    return [w for w in words if not any(same_word(w, o) for o in others)]


def _differing(a: str, b: str) -> tuple[list[str], list[str]]:
    """The words of each question that the other lacks (inflections count as the same word)."""
    ta, tb = _tokens(a), _tokens(b)
    return _unmatched(ta, tb), _unmatched(tb, ta)


def slot_swap(a: str, b: str) -> bool:
    """Whether the questions are the same sentence but for a word or two, one of them a content word.

    A near-copy that changes one word asks about that word ("uppercase" vs "lowercase", "true" vs
    "false", "starts" vs "ends"), and word embeddings rate such antonyms as close as synonyms, so a
    swap is refused whatever the words. Real paraphrases reword more than two words.
    """
    only_a, only_b = _differing(a, b)
    fewer, more = sorted((len(only_a), len(only_b)))
    # One or two words swapped, or one word replaced by a short phrase ("step" -> "negative start index").
    if not (1 <= more <= 2 or (fewer <= 1 and more == 3)):
        return False
    shared = [w for w in content_words(a) if w not in only_a]
    changed = set(only_a + only_b) & set(content_words(a) + content_words(b))
    return bool(shared) and bool(changed)


def opposite_swap(a: str, b: str) -> bool:
    """Whether the questions are near copies (at most three words differ) in which a word was swapped for its
    opposite: "How does bitwise and work?" / "How does bitwise or work?"."""
    only_a, only_b = _differing(a, b)
    if not 1 <= max(len(only_a), len(only_b)) <= 3:
        return False
    if not any(frozenset((x, y)) in _OPPOSITES for x in only_a for y in only_b):
        return False
    return any(w not in only_a for w in content_words(a))


def _sides(tokens: list[str], content: set[str], word: str) -> tuple[set[str], set[str]] | None:
    """The stems of the content words before and after the one use of `word` in a question's tokens, or None."""
    if tokens.count(word) != 1:
        return None
    at = tokens.index(word)
    return {_stem(w) for w in tokens[:at] if w in content}, {_stem(w) for w in tokens[at + 1:] if w in content}


def direction_swap(a: str, b: str) -> bool:
    """Whether the questions put the same words on the two sides of "to", "from", "than"... the other way round:
    "Celsius to Fahrenheit" / "Fahrenheit to Celsius", "Is a list faster than a tuple?" / the reverse.
    "a list and a tuple" / "a tuple and a list" has no direction; "list to string" / "string from list" uses
    another word, so it is not compared."""
    (ta, ca), (tb, cb) = ((TERM.findall(q.lower()), set(content_words(q))) for q in (a, b))
    for word in _DIRECTIONAL:
        sides_a, sides_b = _sides(ta, ca, word), _sides(tb, cb, word)
        if sides_a and sides_b and sides_a[0] & sides_b[1] and sides_a[1] & sides_b[0]:
            return True
    return False


def _in_order(short: list[str], long: list[str]) -> bool:
    rest = iter(long)
    return all(any(same_word(word, other) for other in rest) for word in short)


def narrowing(a: str, b: str) -> bool:
    """Whether one question is the other, word for word in order (articles aside), with a qualifier of
    NARROWING_WORDS content words or more inserted: "How does slicing work?" / "How does slicing with a negative
    step work?" (the general answer does not state the specific case). "... in Python?" adds none."""
    ta, tb = ([w for w in TERM.findall(q.lower()) if w not in _ARTICLES] for q in (a, b))
    (short, short_q), (long, long_q) = sorted(((ta, a), (tb, b)), key=lambda side: len(side[0]))
    if not _in_order(short, long):
        return False
    return len(_unmatched(content_words(long_q), content_words(short_q))) >= NARROWING_WORDS


def contrast_conflict(a: str, b: str) -> str | None:
    """The name of the first feature on which the questions disagree, or None.

    Negations must match exactly (one side negated is the classic false hit). The other
    features conflict only when both questions state one and they differ: "What is the
    result of x << n?" may paraphrase "What does the left shift operator do?", but not
    "What is the result of x >> n?".
    """
    fa, fb = contrast_features(a), contrast_features(b)
    if fa["negation"] != fb["negation"]:
        return "negation"
    for name in ("number", "operator", "dunder", "code"):
        if fa[name] and fb[name] and fa[name] != fb[name]:
            return name
    if slot_swap(a, b):
        return "content"
    if opposite_swap(a, b):
        return "opposite"
    if direction_swap(a, b):
        return "direction"
    if narrowing(a, b):
        return "narrower"
    return None
