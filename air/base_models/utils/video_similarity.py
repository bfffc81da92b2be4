"""The `similarity` callable of the selection loop: raw CLIP cosine between frames of a video and a query.

Image features are computed once per frame and kept in memory and (optionally) in the persistent
`FeatureCache`, so later calls, other questions on the same video (`with_query`) and later runs only
encode the query text. Frames are decoded in bounded chunks at the encoder's input size (squash).
"""

from __future__ import annotations

import time

import numpy as np

from air.base_models.clip_model import PROGRESS_MIN_FRAMES, ClipEncoder, progress_bar
from air.base_models.utils.feature_cache import FeatureCache


def preprocess_tag(image_size: int) -> str:
    """Cache-key tag of the frame preprocessing: frames squashed (no crop) to image_size x image_size."""
    return f"squash{int(image_size)}"


class _FrameStore:
    """Features of the frames of one video for one encoder: memory dict + optional persistent cache."""

    def __init__(self, reader, encoder: ClipEncoder, cache: FeatureCache | None, chunk_size: int):
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"Invalid chunk_size: {chunk_size!r}. Expected an int >= 1.")
        self.reader, self.encoder, self.cache, self.chunk_size = reader, encoder, cache, chunk_size
        self.features: dict[int, np.ndarray] = {}
        self.key: str | None = None
        self.n_encoded = 0
        self.n_from_cache = 0
        self.timings_s = {"cache_read": 0.0, "decode": 0.0, "encode_frames": 0.0, "cache_write": 0.0}
        if cache is not None:
            t0 = time.perf_counter()
            self.key = cache.key(reader.path, decoder=reader.backend, preprocess=preprocess_tag(encoder.image_size),
                                 encoder_name=encoder.name)
            entry = cache.load(self.key)
            if entry is not None:
                self.features.update(entry.as_dict())
                self.n_from_cache = len(entry.indices)
            self.timings_s["cache_read"] += time.perf_counter() - t0

    def ensure(self, indices: np.ndarray) -> None:
        """Encode the frames of sorted unique `indices` int64 that have no features yet, and cache them."""
        missing = np.array([i for i in indices.tolist() if i not in self.features], dtype=np.int64)
        if missing.size == 0:
            return
        size = self.encoder.image_size
        bar = progress_bar(missing.size, self.encoder.name) if missing.size > PROGRESS_MIN_FRAMES else None
        new_feats = []
        try:
            t_start = time.perf_counter()
            for frames, _ in self.reader.iter_chunks(missing, size=(size, size), chunk_size=self.chunk_size):
                t_decoded = time.perf_counter()
                new_feats.append(self.encoder.encode_frames(frames, progress=False))
                t_encoded = time.perf_counter()
                self.timings_s["decode"] += t_decoded - t_start
                self.timings_s["encode_frames"] += t_encoded - t_decoded
                t_start = t_encoded
                if bar is not None:
                    bar.update(len(frames))
        finally:
            if bar is not None:
                bar.close()
        feats = np.concatenate(new_feats, axis=0)
        self.features.update(zip(missing.tolist(), feats))
        self.n_encoded += int(missing.size)
        if self.cache is not None:
            t0 = time.perf_counter()
            self.cache.add(self.key, missing, feats)
            self.timings_s["cache_write"] += time.perf_counter() - t0


class VideoSimilarity:
    """Raw cosine similarity of video frames to one query text; `sim(frame_indices) -> float64 (N,)`.

    reader: an opened video (`open_video`), whose `path` and `backend` enter the cache key.
    encoder: a `ClipEncoder`; frames are decoded at encoder.image_size squared.
    query: the text (question, plus options when there are any).
    cache: a `FeatureCache`, or None for memory only. chunk_size: frames decoded and encoded at a time.
    """

    def __init__(self, reader, encoder: ClipEncoder, query: str, *, cache: FeatureCache | None = None,
                 chunk_size: int = 64, _store: _FrameStore | None = None):
        if not isinstance(query, str):
            raise TypeError(f"Invalid query: {type(query).__name__}. Expected a str.")
        self.query = query
        self._store = _store if _store is not None else _FrameStore(reader, encoder, cache, chunk_size)
        self._text: np.ndarray | None = None
        self.text_encode_s = 0.0

    @property
    def encoder(self) -> ClipEncoder:
        return self._store.encoder

    @property
    def cache_key(self) -> str | None:
        """Key of this video's entry in the feature cache (None without a cache)."""
        return self._store.key

    @property
    def n_encoded(self) -> int:
        """Frames encoded so far for this video (shared by every query of `with_query`)."""
        return self._store.n_encoded

    @property
    def n_from_cache(self) -> int:
        """Frames whose features were found in the persistent cache when the video was opened."""
        return self._store.n_from_cache

    @property
    def timings_s(self) -> dict[str, float]:
        """Seconds spent per step: cache_read, decode, encode_frames, cache_write, encode_text."""
        return {**self._store.timings_s, "encode_text": self.text_encode_s}

    def with_query(self, query: str) -> VideoSimilarity:
        """The same video and frame features with another query (costs one text encoding)."""
        return VideoSimilarity(None, self.encoder, query, _store=self._store)

    def text_features(self) -> np.ndarray:
        """Unit-norm query embedding float32 (D,), encoded once."""
        if self._text is None:
            t0 = time.perf_counter()
            self._text = self.encoder.encode_text([self.query])[0]
            self.text_encode_s += time.perf_counter() - t0
        return self._text

    def frame_features(self, frame_indices) -> np.ndarray:
        """Unit-norm image embeddings float32 (N, D) of original frame indices int (N,), encoding missing ones."""
        idx = np.asarray(frame_indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise ValueError(f"Invalid frame indices: dtype {idx.dtype}, shape {idx.shape}. Expected 1-D ints.")
        idx = idx.astype(np.int64)
        if idx.size == 0:
            return np.zeros((0, self.text_features().shape[0]), dtype=np.float32)
        self._store.ensure(np.unique(idx))
        feats = self._store.features
        return np.stack([feats[i] for i in idx.tolist()])

    def __call__(self, frame_indices) -> np.ndarray:
        """Raw cosine similarity float64 (N,) of frames `frame_indices` int (N,) to the query."""
        text = self.text_features().astype(np.float64)
        return self.frame_features(frame_indices).astype(np.float64) @ text
