"""The bundled sample knowledge base: the Python reference topics that ship with the interpreter."""

from collections.abc import Iterator
from dataclasses import dataclass

from pydoc_data.topics import topics

SAMPLE_SOURCE = "pydoc_data.topics"


@dataclass(frozen=True)
class SampleDocument:
    slug: str
    title: str
    content: str


def sample_documents() -> Iterator[SampleDocument]:
    """One document per topic; the slug is the topic key as `help()` knows it, e.g. "with" or "formatstrings"."""
    for key in sorted(topics):
        content = topics[key].strip()
        # Every topic opens with its heading, e.g. 'The "with" statement'.
        yield SampleDocument(slug=key, title=content.splitlines()[0].strip(), content=content)
