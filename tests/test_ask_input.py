"""The simple reading of an /api/ask body (qa/ask_input.py) agrees with the serializer on every body it takes.

Bodies it does not take go to the serializer, so the only way it could change validation is by accepting
what the serializer refuses, or by reading a valid body differently: both are checked here, body by body,
with no database and no Redis.
"""

import pytest

from qa.apis import AskApi
from qa.ask_input import ask_input_simple

BODIES = [
    {"question": "What does the with statement do?"},
    {"question": "  What does the with statement do?  \n", "cache": "no-cache"},
    {"question": "q", "cache": "no-store"},
    {"question": "q", "cache": "default", "extra": 1},
    {"question": "a" * 2000},
    {"question": "a" * 2001},
    {"question": " " + "a" * 2000 + " "},
    {"question": "Was macht die with-Anweisung? 🐍 ñ ü ß"},
    {"question": "What\u200b does with do\u0301?"},
    {"question": "\u3000with\u3000"},
    {"question": "with\x00 statement"},
    {"question": "with \ud800 statement"},
    {"question": "with \udfff"},
    {"question": "\ud7ff\ue000\uffff?"},
    {"question": ""},
    {"question": " \t\n "},
    {"question": None},
    {"question": 12},
    {"question": 1.5},
    {"question": True},
    {"question": ["with"]},
    {"question": {"text": "with"}},
    {},
    {"cache": "default"},
    {"question": "q", "cache": ""},
    {"question": "q", "cache": None},
    {"question": "q", "cache": "DEFAULT"},
    {"question": "q", "cache": "no-cache "},
    {"question": "q", "cache": 1},
    {"question": "q", "cache": ["default"]},
    ["question"],
    "question",
    None,
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_it_takes_only_what_the_serializer_accepts_and_reads_it_the_same(body):
    serializer = AskApi.InputSerializer(data=body)
    valid = serializer.is_valid()
    simple = ask_input_simple(data=body)
    if not valid:
        assert simple is None
    elif simple is not None:
        assert simple == dict(serializer.validated_data)


def test_it_takes_the_common_body():
    assert ask_input_simple(data={"question": " What does with do? "}) == {"question": "What does with do?", "cache": "default"}
