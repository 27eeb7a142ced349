"""The API's JSON parser: DRF's, plus a nesting limit, so a hostile body is a 400 and never a 500.

json.load recurses once per level: a body nested a few thousand deep raises RecursionError, which
DRF's JSONParser does not catch. No endpoint takes more than a few levels, so anything deeper than
MAX_DEPTH is refused by name, whether or not the decoder could have parsed it.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32
TOO_DEEP = f"JSON parse error - the body is nested more than {MAX_DEPTH} levels deep."


def json_depth(value: object) -> int:
    """How many arrays and objects deep value goes (iteratively: value may be deep)."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                return deepest
            pending.extend((child, depth + 1) for child in item)
    return deepest


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if json_depth(data) > MAX_DEPTH:
            raise ParseError(TOO_DEEP)
        return data
