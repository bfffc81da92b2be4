"""VideoSimilarity: raw cosine per frame, frames encoded once and reused across questions, runs and LDS frames.

Real parts throughout: a generated H.264 video read by the project's decoders, a tiny open_clip model
loaded through open_clip, the on-disk feature cache. Only `encode_frames` is wrapped, to count calls.
"""

from __future__ import annotations

import numpy as np
import pytest

from air.base_models.clip_model import load_clip
from air.base_models.utils.feature_cache import FeatureCache
from air.base_models.utils.video_similarity import (
    VideoSimilarity,
    clip_geometry,
    preprocess_tag,
)
from air.Process_Utils.process_video import open_video
from air.testing import tiny_clip
from air.testing.videos import write_video

QUESTION = "What colour is the car? (A) red (B) blue"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim-video")
    segments = [(0.0, 4.0, "red"), (4.0, 8.0, "blue"), (8.0, 12.0, "green")]
    return write_video(root / "clip.mp4", duration_s=12.0, fps=10.0, size=(96, 64), segments=segments)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return load_clip(tiny_clip.build_tiny_open_clip(tmp_path_factory.mktemp("oc")), batch_size=8)


class CountingEncoder:
    """Delegates to a real encoder and counts encode_frames calls and frames."""

    def __init__(self, inner):
        self.inner, self.calls, self.frames = inner, 0, 0

    def __getattr__(self, item):
        return getattr(self.inner, item)

    def encode_frames(self, frames, **kwargs):
        self.calls += 1
        self.frames += len(frames)
        return self.inner.encode_frames(frames, **kwargs)


SAMPLES = np.arange(0, 120, 10)


def _reference_frames(reader, resize: str) -> np.ndarray:
    """Frames prepared by hand for the 96x64 video and the tiny encoder's 32-pixel input.

    crop: short side 64 -> 32, long side 96 -> 48, then the centre 32 columns (8 .. 40); squash: 32 x 32.
    """
    if resize == "crop":
        return reader.read(SAMPLES, size=(48, 32))[0][:, :, 8:40]
    return reader.read(SAMPLES, size=(32, 32))[0]


@pytest.mark.parametrize("resize", ["crop", "squash"])
def test_raw_cosine_matches_direct_computation(video, encoder, resize):
    assert encoder.image_size == 32 and video.size == (96, 64)
    with open_video(video.path) as reader:
        similarity = VideoSimilarity(reader, encoder, QUESTION, resize=resize)
        sim = similarity(SAMPLES)
        frames = _reference_frames(reader, resize)
    assert similarity.resize == resize
    direct = encoder.encode_frames(frames).astype(np.float64) @ encoder.encode_text([QUESTION])[0].astype(np.float64)
    assert sim.dtype == np.float64 and sim.shape == (len(SAMPLES),)
    np.testing.assert_allclose(sim, direct, atol=1e-5)
    assert np.all(np.abs(sim) <= 1.0 + 1e-6)


def test_order_and_duplicates_follow_the_request(video, encoder):
    counting = CountingEncoder(encoder)
    with open_video(video.path) as reader:
        sim = VideoSimilarity(reader, counting, QUESTION, chunk_size=4)
        full = sim(SAMPLES)
        again = sim(np.array([110, 0, 110, 50]))
    np.testing.assert_allclose(again, full[[11, 0, 11, 5]])
    assert counting.frames == len(SAMPLES)
    assert counting.calls == 3, "12 frames in chunks of 4"
    assert sim.cache_key is None


def test_second_question_and_second_run_only_encode_text(video, encoder, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    counting = CountingEncoder(encoder)
    with open_video(video.path) as reader:
        first = VideoSimilarity(reader, counting, QUESTION, cache=cache)
        s1 = first(SAMPLES)
        assert counting.frames == len(SAMPLES) and first.n_encoded == len(SAMPLES)
        other = first.with_query("Who opens the door?")
        s2 = other(SAMPLES)
    assert counting.frames == len(SAMPLES), "same video, other question: no frame encoded"
    assert not np.allclose(s1, s2)
    with open_video(video.path) as reader:  # a later run: features come from disk
        later = VideoSimilarity(reader, counting, "Who opens the door?", cache=cache)
        np.testing.assert_allclose(later(SAMPLES), s2, atol=1e-6)
    assert counting.frames == len(SAMPLES) and later.n_from_cache == len(SAMPLES) and later.n_encoded == 0
    assert later.timings_s["encode_frames"] == 0.0 and later.timings_s["encode_text"] > 0.0


def test_lds_frames_are_encoded_once_and_cached(video, encoder, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    counting = CountingEncoder(encoder)
    lds = np.array([18, 22, 25, 30])  # 30 is already a sample
    with open_video(video.path) as reader:
        sim = VideoSimilarity(reader, counting, QUESTION, cache=cache)
        sim(SAMPLES)
        sim(lds)
        assert counting.frames == len(SAMPLES) + 3
        entry = cache.load(sim.cache_key)
    np.testing.assert_array_equal(entry.indices, np.union1d(SAMPLES, lds))
    np.testing.assert_allclose(np.linalg.norm(entry.features, axis=1), 1.0, atol=1e-5)


def test_cache_key_follows_decoder_and_encoder(video, encoder, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    with open_video(video.path, decoder="decord") as reader:
        k_decord = VideoSimilarity(reader, encoder, QUESTION, cache=cache).cache_key
    with open_video(video.path, decoder="pyav") as reader:
        sim = VideoSimilarity(reader, encoder, QUESTION, cache=cache)
        k_pyav = sim.cache_key
        assert sim.n_from_cache == 0
    assert k_decord != k_pyav
    assert k_decord == cache.key(video.path, decoder="decord", preprocess=preprocess_tag(encoder.image_size, "crop"),
                                 encoder_name=encoder.name)


def test_invalid_arguments(video, encoder):
    with open_video(video.path) as reader:
        with pytest.raises(TypeError, match="Expected a str"):
            VideoSimilarity(reader, encoder, ["not", "a", "string"])
        with pytest.raises(ValueError, match="chunk_size"):
            VideoSimilarity(reader, encoder, QUESTION, chunk_size=0)
        sim = VideoSimilarity(reader, encoder, QUESTION)
        with pytest.raises(ValueError, match="Expected 1-D ints"):
            sim(np.array([0.5, 1.0]))
        with pytest.raises(ValueError, match="Invalid frame index 500"):
            sim(np.array([500]))
        assert sim(np.array([], dtype=np.int64)).shape == (0,)


# --- preprocessing: crop / squash / the encoder's own ---------------------------------------------


def test_cache_key_follows_the_resolved_preprocessing(video, encoder, tmp_path):
    """crop and squash are cached apart; "own" shares the entry of the mode it resolves to."""
    cache = FeatureCache(tmp_path / "cache")
    keys = {}
    with open_video(video.path) as reader:
        for resize in ("own", "crop", "squash"):
            keys[resize] = VideoSimilarity(reader, encoder, QUESTION, cache=cache, resize=resize).cache_key
    assert encoder.own_resize == "crop"
    assert keys["own"] == keys["crop"] != keys["squash"]
    assert preprocess_tag(224, "crop") == "crop224" and preprocess_tag(384, "squash") == "squash384"
    with pytest.raises(ValueError, match="resolve 'own' first"):
        preprocess_tag(224, "own")
    with pytest.raises(ValueError, match=r"Invalid clip_resize: 'pad'. Expected one of crop, squash, own"):
        VideoSimilarity(None, encoder, QUESTION, resize="pad")


def test_own_follows_the_encoders_preprocessing(video, encoder):
    squashing = CountingEncoder(encoder)
    squashing.own_resize = "squash"  # as SigLIP's processor does
    with open_video(video.path) as reader:
        assert VideoSimilarity(reader, squashing, QUESTION, resize="own").resize == "squash"
        assert VideoSimilarity(reader, encoder, QUESTION, resize="own").resize == "crop"
        # the default is SPEC.md's crop, whatever the encoder's own preprocessing
        assert VideoSimilarity(reader, squashing, QUESTION).resize == "crop"


@pytest.mark.parametrize(
    "width, height, resize, size, origin",
    [(1280, 720, "crop", (398, 224), (87, 0)), (720, 1280, "crop", (224, 398), (0, 87)),
     (224, 224, "crop", (224, 224), (0, 0)), (100, 50, "crop", (448, 224), (112, 0)),
     (1280, 720, "squash", (224, 224), None)],
)
def test_clip_geometry_matches_torchvision_resize_and_centre_crop(width, height, resize, size, origin):
    assert clip_geometry(width, height, 224, resize) == (size, origin)


@pytest.mark.parametrize("width, height", [(200, 90), (90, 200), (1280, 720), (1920, 1080), (640, 480), (97, 61)])
def test_crop_geometry_equals_torchvision_resize_then_centre_crop(width, height):
    """Where the short-side resize lands and which pixels the centre crop keeps, as torchvision computes them
    (open_clip and OpenAI clip preprocess with Resize(S) + CenterCrop(S))."""
    import torch
    from torchvision.transforms import v2

    side = 224
    resized = v2.Resize(side)(torch.zeros(1, height, width))
    size, (left, top) = clip_geometry(width, height, side, "crop")
    assert size == (resized.shape[2], resized.shape[1])
    ramp = torch.arange(size[0] * size[1], dtype=torch.float32).reshape(1, size[1], size[0])
    reference = v2.CenterCrop(side)(ramp)
    assert torch.equal(ramp[:, top : top + side, left : left + side], reference)


def test_rotated_video_is_cropped_upright(tmp_path, encoder):
    """A portrait phone video (rotation metadata) is cropped along its upright long side."""
    from air.testing.videos import decode_frame_index, write_rotated_video

    made = write_rotated_video(tmp_path / "rot.mp4", rotation_deg=90, duration_s=1.0, fps=10.0, size=(96, 64))
    with open_video(made.path) as reader:
        assert (reader.width, reader.height) == (64, 96)
        sim = VideoSimilarity(reader, encoder, QUESTION, resize="crop")
        assert sim(np.arange(10)).shape == (10,)
        assert clip_geometry(64, 96, 32, "crop") == ((32, 48), (0, 8))
        frames, _ = reader.read([4], size=(32, 48))
    assert decode_frame_index(np.rot90(frames[0], -1), made.n_bits) == 4


def test_query_tokens_report_truncation(video, encoder):
    with open_video(video.path) as reader:
        short = VideoSimilarity(reader, encoder, QUESTION).query_tokens()
        long = VideoSimilarity(reader, encoder, "why " * 100).query_tokens()
    assert not short.truncated and short.context_length == 77 and short.n_tokens < 77
    assert long.truncated and long.n_tokens == 102


# --- decoding overlaps encoding ----------------------------------------------------------------------


class GatedEncoder(CountingEncoder):
    """Holds its first chunk until the decode worker has started on the next one (or a timeout)."""

    def __init__(self, inner, gate):
        super().__init__(inner)
        self.gate, self.overlapped = gate, None

    def encode_frames(self, frames, **kwargs):
        if self.overlapped is None:
            self.overlapped = self.gate.wait(timeout=30)
        return super().encode_frames(frames, **kwargs)


class GateReader:
    """Wraps an opened reader; sets `gate` when the second chunk starts decoding; can fail on chunk `fail_at`."""

    def __init__(self, inner, gate, fail_at=None):
        self.inner, self.gate, self.fail_at, self.chunks = inner, gate, fail_at, 0

    def __getattr__(self, item):
        return getattr(self.inner, item)

    def iter_chunks(self, indices, size=None, chunk_size=64):
        inner = self.inner.iter_chunks(indices, size=size, chunk_size=chunk_size)

        def chunks():
            for chunk in inner:
                self.chunks += 1
                if self.chunks == 2:
                    self.gate.set()
                if self.chunks == self.fail_at:
                    raise MemoryError("simulated allocation failure")
                yield chunk

        return chunks()


def _decode_threads_alive() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name.startswith(("air-decode-", "air-pyav-lane"))]


def test_decoding_runs_while_the_encoder_works(video, encoder):
    """The worker decodes chunk 2 while chunk 1 is being encoded (proved by a gate, not by timing)."""
    import threading

    gate = threading.Event()
    gated = GatedEncoder(encoder, gate)
    with open_video(video.path) as reader:
        sim = VideoSimilarity(GateReader(reader, gate), gated, QUESTION, chunk_size=4)
        scores = sim(SAMPLES)
        plain = VideoSimilarity(reader, encoder, QUESTION, chunk_size=12)(SAMPLES)
    assert gated.overlapped is True
    np.testing.assert_allclose(scores, plain, atol=1e-6)
    assert sim.timings_s["decode"] > 0 and sim.timings_s["encode_frames"] > 0
    assert not _decode_threads_alive()


def test_worker_error_reaches_the_caller_with_the_file_and_no_thread_is_left(video, encoder):
    import threading

    from air.Process_Utils.process_video import VideoDecodeError

    with open_video(video.path) as reader:
        sim = VideoSimilarity(GateReader(reader, threading.Event(), fail_at=2), encoder, QUESTION, chunk_size=4)
        with pytest.raises(VideoDecodeError, match="MemoryError: simulated allocation failure") as info:
            sim(SAMPLES)
    assert info.value.path == str(video.path)
    assert not _decode_threads_alive()


def test_encoder_error_stops_the_worker(video, encoder):
    class Failing(CountingEncoder):
        def encode_frames(self, frames, **kwargs):
            raise RuntimeError("CUDA out of memory")

    with open_video(video.path) as reader:
        with pytest.raises(RuntimeError, match="CUDA out of memory"):
            VideoSimilarity(reader, Failing(encoder), QUESTION, chunk_size=2)(SAMPLES)
        # the reader is free again and still reads the right frames
        frames, _ = reader.read([110, 0])
    assert frames.shape[0] == 2
    assert not _decode_threads_alive()


def test_prefetcher_keeps_at_most_depth_chunks_queued(video):
    """While the caller holds a chunk, the worker stops after filling the queue: memory stays bounded."""
    import threading
    import time

    from air.Process_Utils.frame_prefetch import ChunkPrefetcher

    gate = threading.Event()
    with open_video(video.path) as reader:
        counting = GateReader(reader, gate)
        with ChunkPrefetcher(counting, np.arange(120), size=(16, 16), chunk_size=4, depth=2) as chunks:
            first = next(iter(chunks))
            deadline = time.monotonic() + 30
            while not chunks._queue.full() and time.monotonic() < deadline:
                gate.wait(0.01)
            assert chunks._queue.full()
            assert counting.chunks <= 1 + 2 + 1, "first chunk + a full queue + one waiting to be queued"
        assert first[0].shape == (4, 16, 16, 3)
    assert not _decode_threads_alive()
    with pytest.raises(ValueError, match="Invalid depth"):
        ChunkPrefetcher(reader, [0], size=None, depth=0)
