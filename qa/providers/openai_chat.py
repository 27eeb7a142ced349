"""Answers from OpenAI chat completions, prompted with the active PromptTemplate."""

import re
from collections.abc import Generator as PieceGenerator

import numpy as np

from qa.models import PromptTemplate
from qa.providers.base import Generation, Passage
from qa.providers.openai_client import PROVIDER, openai_client, provider_errors
from qa.selectors import active_prompt_template
from ragsite.errors import ProviderError

_PLACEHOLDER = re.compile(r"\{(context|question)\}")
_CITATION = re.compile(r"\[(\d+)\]")


def prompt_render(*, template: PromptTemplate, question: str, passages: list[Passage]) -> str:
    """The template with {context} as numbered passages ("[1] title: text") and {question} filled in."""
    context = "\n\n".join(f"[{n}] {p.document_title}: {p.text}" for n, p in enumerate(passages, start=1))
    values = {"context": context, "question": question}
    # One pass, so braces inside a passage or the question are never taken for placeholders.
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template.text)


def cited_indexes(text: str, *, passage_count: int) -> list[int]:
    """Passage indexes (0-based) of the [n] markers in text, in order of first mention."""
    numbers = (int(n) for n in _CITATION.findall(text))
    return list(dict.fromkeys(n - 1 for n in numbers if 1 <= n <= passage_count))


class OpenAIGenerator:
    provider = PROVIDER
    uses_template = True

    def __init__(self, *, model: str):
        self.model = model
        self._client = openai_client()

    def generate(
        self, *, question: str, passages: list[Passage], embedding: np.ndarray | None = None,
        template: PromptTemplate | None = None,
    ) -> Generation:
        with provider_errors():
            response = self._client.chat.completions.create(
                model=self.model, messages=self._messages(question=question, passages=passages, template=template)
            )
            text = (response.choices[0].message.content or "").strip() if response.choices else ""
            usage = response.usage
        return self._generation(text=text, usage=usage, passages=passages)

    def stream(
        self, *, question: str, passages: list[Passage], embedding: np.ndarray | None = None,
        template: PromptTemplate | None = None,
    ) -> PieceGenerator[str, None, Generation]:
        """The answer's pieces as the API streams them (stream=True; OPENAI_TIMEOUT bounds each read)."""
        pieces, usage = [], None
        with provider_errors():
            with self._client.chat.completions.create(
                model=self.model, messages=self._messages(question=question, passages=passages, template=template),
                stream=True, stream_options={"include_usage": True},
            ) as chunks:
                for chunk in chunks:
                    usage = chunk.usage or usage
                    for piece in (c.delta.content for c in chunk.choices if c.delta and c.delta.content):
                        pieces.append(piece)
                        yield piece
        return self._generation(text="".join(pieces).strip(), usage=usage, passages=passages)

    @staticmethod
    def _messages(*, question: str, passages: list[Passage], template: PromptTemplate | None) -> list[dict]:
        prompt = prompt_render(template=template or active_prompt_template(), question=question, passages=passages)
        return [{"role": "user", "content": prompt}]

    def _generation(self, *, text: str, usage, passages: list[Passage]) -> Generation:
        if not text:
            raise ProviderError("empty answer", provider=PROVIDER)
        return Generation(
            text=text,
            model=self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cited=cited_indexes(text, passage_count=len(passages)),
        )
