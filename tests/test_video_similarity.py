"""VideoSimilarity: raw cosine per frame, frames encoded once and reused across questions, runs and LDS frames.

Real parts throughout: a generated H.264 video read by the project's decoders, a tiny open_clip model
loaded through open_clip, the on-disk feature cache. Only `encode_frames` is wrapped, to count calls.
"""

from __future__ import annotations

import numpy as np
import pytest

from air.base_models.clip_model import load_clip
from air.base_models.utils.feature_cache import FeatureCache
from air.base_models.utils.video_similarity import VideoSimilarity, preprocess_tag
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
