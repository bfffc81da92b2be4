"""The `similarity` callable of the selection loop: raw CLIP cosine between frames of a video and a query.

Image features are computed once per frame and kept in memory and (optionally) in the persistent
`FeatureCache`, so later calls, other questions on the same video (`with_query`) and later runs only
encode the query text.

Frames reach the encoder prepared as `resize` says (AIRConfig.clip_resize):
- "crop" (default, SPEC.md): the decoder scales the frame so that its short side is the encoder's input size S (the long
  side becomes int(S * long / short), as torchvision's Resize(S) does), inside its conversion from the
  decoded picture; the centre S x S is then cut out (as CenterCrop(S));
- "squash": the decoder scales the whole frame to S x S;
- "own": what the encoder's own preprocessing does (`encoder.own_resize`: "crop" for CLIP,
  EVA-CLIP, OpenAI CLIP and Long-CLIP, "squash" for SigLIP; see air/base_models/clip_model.py).
The resolved mode and S form the preprocessing tag of the feature-cache key ("crop224", "squash384").

Decoding overlaps encoding: one worker thread decodes bounded chunks of frames (ChunkPrefetcher) while
the encoder embeds the previous chunk, so at most a few chunks are alive whatever the video's length.
"""

from __future__ import annotations

import time

import numpy as np

from air.base_models.clip_model import PROGRESS_MIN_FRAMES, ClipEncoder, progress_bar
from air.base_models.utils.feature_cache import FeatureCache
from air.Process_Utils.frame_prefetch import ChunkPrefetcher

RESIZE_MODES = ("crop", "squash", "own")
PREFETCH_DEPTH = 2


def resolve_resize(resize: str, encoder: ClipEncoder) -> str:
    """The preprocessing actually used: "crop" or "squash" ("own" -> the encoder's own_resize)."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"Invalid clip_resize: {resize!r}. Expected one of {', '.join(RESIZE_MODES)}.")
    if resize == "own":
        resize = getattr(encoder, "own_resize", "crop")
    return resize


def preprocess_tag(image_size: int, resize: str) -> str:
    """Cache-key tag of the frame preprocessing, e.g. "crop224" or "squash384" (resolved mode + input size)."""
    if resize not in ("crop", "squash"):
        raise ValueError(f"Invalid resize: {resize!r}. Expected 'crop' or 'squash' (resolve 'own' first).")
    return f"{resize}{int(image_size)}"


def clip_geometry(width: int, height: int, image_size: int, resize: str) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """Decode size (width, height) and crop origin (left, top) or None, for an upright width x height frame.

    "crop": short side to image_size, long side int(image_size * long / short), then the centre
    image_size x image_size (offsets rounded as torchvision's CenterCrop); "squash": image_size squared.
    """
    side = int(image_size)
    if resize == "squash":
        return (side, side), None
    if width <= height:
        size = (side, max(side, int(side * height / width)))
    else:
        size = (max(side, int(side * width / height)), side)
    left, top = int(round((size[0] - side) / 2.0)), int(round((size[1] - side) / 2.0))
    return size, (left, top)


def clip_preparation(width: int, height: int, image_size: int, resize: str):
    """(decode size (width, height), transform or None) that turn upright frames into encoder inputs.

    The decoder scales to the size; the transform (for "crop") cuts the centre image_size square out of a
    chunk of frames uint8 (n, H, W, 3), giving a contiguous uint8 (n, image_size, image_size, 3).
    """
    size, origin = clip_geometry(width, height, image_size, resize)
    if origin is None or size == (image_size, image_size):
        return size, None
    left, top, side = origin[0], origin[1], int(image_size)

    def centre_crop(frames: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(frames[:, top : top + side, left : left + side])

    return size, centre_crop


class _FrameStore:
    """Features of the frames of one video for one encoder: memory dict + optional persistent cache."""

    def __init__(self, reader, encoder: ClipEncoder, cache: FeatureCache | None, chunk_size: int, resize: str):
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"Invalid chunk_size: {chunk_size!r}. Expected an int >= 1.")
        self.reader, self.encoder, self.cache, self.chunk_size = reader, encoder, cache, chunk_size
        self.resize = resolve_resize(resize, encoder)
        self.features: dict[int, np.ndarray] = {}
        self.key: str | None = None
        self.n_encoded = 0
        self.n_from_cache = 0
        self.timings_s = {"cache_read": 0.0, "decode": 0.0, "encode_frames": 0.0, "decode_wait": 0.0,
                          "cache_write": 0.0}
        if cache is not None:
            t0 = time.perf_counter()
            self.key = cache.key(reader.path, decoder=reader.backend,
                                 preprocess=preprocess_tag(encoder.image_size, self.resize), encoder_name=encoder.name)
            # an entry of another width, outside the video or not finite is recomputed, never used
            entry = cache.load(self.key, width=encoder.embed_dim, n_frames=reader.n_frames)
            if entry is not None:
                self.features.update(entry.as_dict())
                self.n_from_cache = len(entry.indices)
            self.timings_s["cache_read"] += time.perf_counter() - t0

    def _prefetcher(self, indices: np.ndarray) -> ChunkPrefetcher:
        """Chunks of frames at the encoder's input size, prepared as `self.resize` says, decoded ahead."""
        size, transform = clip_preparation(self.reader.width, self.reader.height, self.encoder.image_size,
                                           self.resize)
        return ChunkPrefetcher(self.reader, indices, size=size, chunk_size=self.chunk_size, depth=PREFETCH_DEPTH,
                               transform=transform)

    def ensure(self, indices: np.ndarray) -> None:
        """Encode the frames of sorted unique `indices` int64 that have no features yet, and cache them."""
        missing = np.array([i for i in indices.tolist() if i not in self.features], dtype=np.int64)
        if missing.size == 0:
            return
        bar = progress_bar(missing.size, self.encoder.name) if missing.size > PROGRESS_MIN_FRAMES else None
        new_feats = []
        prefetcher = self._prefetcher(missing)
        try:
            with prefetcher as chunks:
                for frames, _ in chunks:
                    t0 = time.perf_counter()
                    new_feats.append(self.encoder.encode_frames(frames, progress=False))
                    self.timings_s["encode_frames"] += time.perf_counter() - t0
                    if bar is not None:
                        bar.update(len(frames))
        finally:
            self.timings_s["decode"] += prefetcher.decode_s
            self.timings_s["decode_wait"] += prefetcher.wait_s
            if bar is not None:
                bar.close()
        feats = np.concatenate(new_feats, axis=0)
        self.features.update(zip(missing.tolist(), feats))
        self.n_encoded += int(missing.size)
        if self.cache is not None:
            t0 = time.perf_counter()
            self.cache.add(self.key, missing, feats, n_frames=self.reader.n_frames)
            self.timings_s["cache_write"] += time.perf_counter() - t0


class VideoSimilarity:
    """Raw cosine similarity of video frames to one query text; `sim(frame_indices) -> float64 (N,)`.

    reader: an opened video (`open_video`), whose `path` and `backend` enter the cache key.
    encoder: a `ClipEncoder`; frames reach it at encoder.image_size squared.
    query: the text (question, plus options when there are any).
    cache: a `FeatureCache`, or None for memory only. chunk_size: frames decoded and encoded at a time.
    resize: "crop" (default), "squash" or "own" (the encoder's own preprocessing; see the module docstring).
    """

    def __init__(self, reader, encoder: ClipEncoder, query: str, *, cache: FeatureCache | None = None,
                 chunk_size: int = 64, resize: str = "crop", _store: _FrameStore | None = None):
        if not isinstance(query, str):
            raise TypeError(f"Invalid query: {type(query).__name__}. Expected a str.")
        self.query = query
        self._store = _store if _store is not None else _FrameStore(reader, encoder, cache, chunk_size, resize)
        self._text: np.ndarray | None = None
        self.text_encode_s = 0.0

    @property
    def encoder(self) -> ClipEncoder:
        return self._store.encoder

    @property
    def resize(self) -> str:
        """The frame preprocessing in use: "crop" or "squash"."""
        return self._store.resize

    def query_tokens(self):
        """`QueryTokens` of the query for this encoder: token count, context length, whether it is cut."""
        return self.encoder.query_tokens(self.query)

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
        """Seconds per step: cache_read, decode (worker thread), encode_frames, decode_wait (encoder idle,
        waiting for frames), cache_write, encode_text. decode and encode_frames overlap in time."""
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
