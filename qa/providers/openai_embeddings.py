"""OpenAI embeddings (text-embedding-3-*), shortened server-side to the dimensions the Chunk table holds."""

import numpy as np

from qa.providers.openai_client import PROVIDER, openai_client, provider_errors
from ragsite.errors import ProviderError

# The API accepts up to 2048 inputs per request; 256 keeps each request well under its token cap.
MAX_BATCH = 256


class OpenAIEmbedder:
    provider = PROVIDER
    local_space = False

    def __init__(self, *, model: str, dimensions: int):
        self.model = model
        self.dimensions = dimensions
        self._client = openai_client()

    def use_all_cores(self) -> None:
        """Nothing to do: the work happens on the API's machines."""

    def embed(self, texts: list[str]) -> np.ndarray:
        batches = [self._embed_batch(texts[i : i + MAX_BATCH]) for i in range(0, len(texts), MAX_BATCH)]
        return np.vstack(batches) if batches else np.empty((0, self.dimensions), dtype=np.float32)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with provider_errors():
            response = self._client.embeddings.create(
                model=self.model, input=texts, dimensions=self.dimensions, encoding_format="float"
            )
            rows = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        return self._unit_rows(rows, expected=len(texts))

    def _unit_rows(self, rows: list, *, expected: int) -> np.ndarray:
        if len(rows) != expected:
            raise ProviderError(f"{len(rows)} embeddings for {expected} inputs", provider=PROVIDER)
        try:
            matrix = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ProviderError(f"malformed embeddings: {exc}", provider=PROVIDER) from exc
        if matrix.ndim != 2 or matrix.shape[1] != self.dimensions:
            raise ProviderError(f"embeddings of shape {matrix.shape}, expected {self.dimensions} wide", provider=PROVIDER)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise ProviderError("an embedding is zero or not finite", provider=PROVIDER)
        return matrix / norms
