"""What every provider gives the pipeline. One module per provider beside this one."""

from collections.abc import Generator as PieceGenerator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, as the answerer sees it."""

    chunk_id: int
    document_id: int
    document_slug: str
    document_title: str
    document_version: int
    text: str
    score: float


@dataclass(frozen=True)
class Generation:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cited: list[int] = field(default_factory=list)  # indexes into the passages given


class Embedder(Protocol):
    provider: str
    model: str
    dimensions: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 rows, one per text. Raises ragsite.errors.ProviderError."""

    def use_all_cores(self) -> None:
        """Let this process's embedding use every core (batch work), not the one a web worker gets."""


class Generator(Protocol):
    provider: str
    model: str
    uses_template: bool  # whether answers depend on the prompt template (then it is part of their cache key)

    def generate(
        self, *, question: str, passages: list[Passage], embedding: np.ndarray | None = None, template=None
    ) -> Generation:
        """An answer from the passages; embedding is the question's vector, template (a PromptTemplate) the
        prompt for a generator that uses one. Raises ragsite.errors.ProviderError."""

    def stream(
        self, *, question: str, passages: list[Passage], embedding: np.ndarray | None = None, template=None
    ) -> PieceGenerator[str, None, Generation]:
        """The same answer in pieces as they are generated; the generator returns the whole Generation."""


class Streamed:
    """Iterates a provider's stream() pieces; `generation` holds the whole answer once they are all read."""

    def __init__(self, pieces: PieceGenerator[str, None, Generation]):
        self._pieces = pieces
        self.generation: Generation | None = None

    def __iter__(self) -> Iterator[str]:
        self.generation = yield from self._pieces
