"""The common /api/ask body, {"question": "<text>"} with an optional valid "cache", read without DRF's serializer.

Building AskApi.InputSerializer (DRF deep-copies its declared fields per instance) and running its
field validators cost an exact hit about 15 % of its time in the view. This accepts only what the
serializer accepts, with the same result; everything else returns None and goes to the serializer,
which decides and words the 400, so validation is exactly as strict as before.
"""

import re

from cache_policies.layers import MODES
from qa.forms import QUESTION_MAX_CHARS

# What CharField's validators refuse in the text: NUL (ProhibitNullCharactersValidator) and surrogates.
_REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def ask_input_simple(*, data: object) -> dict[str, str] | None:
    """The serializer's validated_data for a plain, valid body; None for anything else (let it judge)."""
    if type(data) is not dict:
        return None  # a form's QueryDict, a JSON list: the serializer's own handling
    question, cache = data.get("question"), data.get("cache", "default")
    # type() rather than isinstance: StrictCharField refuses bool and numbers, ChoiceField compares str(cache).
    if type(question) is not str or type(cache) is not str or cache not in MODES:
        return None
    question = question.strip()  # CharField's trim_whitespace; its validators see the trimmed text
    if not question or len(question) > QUESTION_MAX_CHARS or _REFUSED_CHARACTERS.search(question):
        return None
    return {"question": question, "cache": cache}
