"""SelectionLoop as a state machine, and many loops driven together (air.selection_driver), scripted scorers.

The central property: for random groups of videos (score tracks, verdicts, configurations, ablations,
failing analysis chunks, undecodable frames, failing similarities), driving the loops together gives
every video the Selection that driving it alone gives (timings aside), or the same error.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selection_cases import TRACK_KINDS, loop_config, score_track, video_length

from air.model import AIRConfig, FrameScore, SelectionLoop, select_frames
from air.selection import drive_loop, run_analysis
from air.selection_driver import LoopDriver, LoopRun, drive_loops


class ScriptedVideo:
    """One video's scripted world: CLIP track, VLM verdicts, and the frames that break things.

    poison: a chunk holding one of them makes the analysis raise; short: makes it return one score too
    few; undecodable: decoding them for the VLM raises (one video at a time that is a failure of the
    chunk's analysis, as in H_VPModel); clip_broken: the similarity raises when asked for one of them.
    """

    def __init__(self, key, n_frames, fps, seed, kind, config, *, poison=(), short=(), undecodable=(),
                 clip_broken=()):
        self.key, self.n_frames, self.fps, self.config = key, n_frames, fps, config
        self.track = score_track(n_frames, seed, kind)
        self.verdicts = np.random.default_rng(seed + 1).choice([1, 2, 3, 4, 5, None], size=n_frames)
        self.poison, self.short = set(poison), set(short)
        self.undecodable, self.clip_broken = set(undecodable), set(clip_broken)
        self.solo_calls = 0

    def similarity(self, frames):
        hit = self.clip_broken.intersection(int(f) for f in frames)
        if hit:
            raise OSError(f"CLIP failed on frame {min(hit)} of video {self.key}")
        return self.track[np.asarray(frames)]

    def verdict(self, frame) -> FrameScore:
        return FrameScore(self.verdicts[frame], f"v{self.key} f{frame}", "")

    def check_chunk(self, frames) -> None:
        frames = {int(f) for f in frames}
        if frames & self.poison:
            raise RuntimeError(f"CUDA out of memory near frame {min(frames & self.poison)}")

    def analyze(self, frames):
        """The one-video analysis: decode (may raise), then rate (may raise or return too few)."""
        self.solo_calls += 1
        self.read(frames)
        self.check_chunk(frames)
        out = [self.verdict(int(f)) for f in frames]
        return out[:-1] if self.short.intersection(int(f) for f in frames) else out

    def read(self, frames):
        hit = self.undecodable.intersection(int(f) for f in frames)
        if hit:
            raise OSError(f"cannot decode frame {min(hit)}")
        return [(self, int(f)) for f in frames]

    def loop(self) -> SelectionLoop:
        return SelectionLoop(self.n_frames, self.fps, self.similarity, self.config, video=f"v{self.key}")

    def run(self) -> LoopRun:
        return LoopRun(self.loop(), self.read, self.analyze)


class SharedAnalysis:
    """analyze_items over (video, frame) items of any videos; a chunk fails as its videos' chunks would."""

    def __init__(self):
        self.calls: list[list[tuple[str, int]]] = []

    def __call__(self, items):
        self.calls.append([(video.key, frame) for video, frame in items])
        for video, frame in items:
            video.check_chunk([frame])
        out = [video.verdict(frame) for video, frame in items]
        if any(frame in video.short for video, frame in items):
            return out[:-1]
        return out


def _alone(video: ScriptedVideo):
    """The video driven on its own (select_frames): its Selection dict without timings, or its error."""
    try:
        data = select_frames(video.n_frames, video.fps, video.similarity, video.analyze, video.config,
                             video=f"v{video.key}").to_dict()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    data.pop("timings_s")
    return data


def _together(outcome):
    if isinstance(outcome, Exception):
        return f"{type(outcome).__name__}: {outcome}"
    data = outcome.to_dict()
    data.pop("timings_s")
    return data


@st.composite
def video_groups(draw):
    size = draw(st.integers(1, 6))
    videos = []
    for key in range(size):
        fps, n_frames = video_length(draw, 400)
        config = loop_config(draw, ablate_analysis=st.sampled_from([False, False, False, True]))
        frames = st.integers(0, n_frames - 1)
        trouble = draw(st.sampled_from(["none", "none", "poison", "short", "undecodable", "clip", "mixed"]))
        pick = lambda on, frames=frames: draw(st.sets(frames, max_size=6)) if on else set()  # noqa: E731
        videos.append(ScriptedVideo(
            key, n_frames, fps, draw(st.integers(0, 2**32 - 1)),
            draw(st.sampled_from(TRACK_KINDS)), config,
            poison=pick(trouble in ("poison", "mixed")), short=pick(trouble in ("short", "mixed")),
            undecodable=pick(trouble in ("undecodable", "mixed")), clip_broken=pick(trouble in ("clip", "mixed"))))
    return videos, draw(st.integers(1, 60))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(video_groups())
def test_driving_videos_together_gives_each_the_selection_it_gets_alone(case):
    videos, batch_size = case
    alone = [_alone(video) for video in videos]
    shared = SharedAnalysis()
    driver = LoopDriver(shared, batch_size)
    outcomes = driver.run([video.run() for video in videos])
    assert [_together(o) for o in outcomes] == alone
    assert all(len(call) <= batch_size for call in shared.calls)
    assert driver.analysis_calls == len(shared.calls)


def _clean_group(n_videos=4, seconds=240, seed=0, **config):
    config = AIRConfig(**config)
    return [ScriptedVideo(k, seconds * 25, 25.0, seed + k, "events", config) for k in range(n_videos)]


def test_one_call_per_step_when_the_batch_holds_every_pending_frame():
    videos = _clean_group(analysis_batch_size=48)  # 4 videos x 12 candidates
    shared = SharedAnalysis()
    driver = LoopDriver(shared, 48)
    outcomes = driver.run([video.run() for video in videos])
    alone_calls = sum(len(o.rounds) for o in outcomes)
    assert driver.steps == max(len(o.rounds) for o in outcomes)
    assert driver.analysis_calls == driver.steps == len(shared.calls) < alone_calls
    assert driver.solo_rounds == 0 and all(v.solo_calls == 0 for v in videos)
    # a video that finished leaves the batch: no later call carries its frames
    last_round = {o.video: len(o.rounds) for o in outcomes}
    for step, call in enumerate(shared.calls, start=1):
        assert {f"v{key}" for key, _ in call} == {v for v, rounds in last_round.items() if rounds >= step}


def test_chunks_follow_batch_size_across_videos():
    videos = _clean_group(n_videos=3, candidates_per_round=5, max_rounds=2, analysis_batch_size=4)
    shared = SharedAnalysis()
    LoopDriver(shared, 4).run([video.run() for video in videos])
    first_step = [item for call in shared.calls[:4] for item in call]
    assert [len(call) for call in shared.calls[:4]] == [4, 4, 4, 3]  # 15 frames of 3 videos, chunks of 4
    assert [key for key, _ in first_step] == [0] * 5 + [1] * 5 + [2] * 5, "video order kept inside a step"


def test_failures_stay_with_their_video():
    good = _clean_group(n_videos=3, seed=5)
    broken_clip = ScriptedVideo(9, 6000, 25.0, 1, "events", AIRConfig(), clip_broken={0})  # stage 1 fails
    undecodable = ScriptedVideo(8, 6000, 25.0, 2, "events", AIRConfig(), undecodable=set(range(6000)))
    group = [good[0], broken_clip, good[1], undecodable, good[2]]
    outcomes = drive_loops([video.run() for video in group], SharedAnalysis(), 64)
    assert isinstance(outcomes[1], OSError) and "video 9" in str(outcomes[1])
    for video, outcome in zip(group, outcomes):
        if video is not broken_clip:
            assert _together(outcome) == _alone(video)
    # every round of the undecodable video: its frames unparseable, the error recorded per chunk
    sel = outcomes[3]
    assert all(score is None for r in sel.rounds for score in r.scores)
    assert "analysis_error" in sel.fallback_reasons and all("cannot decode frame" in r.errors[0] for r in sel.rounds)


def test_a_failing_shared_chunk_sends_only_its_videos_to_the_one_video_path():
    videos = _clean_group(n_videos=3, seed=11, max_rounds=1, analysis_batch_size=12)
    first = videos[1].loop().pending()
    videos[1].poison = {int(first[5])}  # the first round's 6th candidate of video 1 breaks any chunk it is in
    driver = LoopDriver(SharedAnalysis(), 12)
    outcomes = driver.run([video.run() for video in videos])
    assert driver.solo_rounds == 1 and [v.solo_calls for v in videos] == [0, 1, 0]
    (error,) = driver.shared_errors
    assert error.startswith("RuntimeError: CUDA out of memory") and error.endswith("(a call of 12 frames of videos [1])")
    assert outcomes[1].rounds[0].errors and outcomes[1].fallback_reasons == ("analysis_error",)
    assert not outcomes[0].rounds[0].errors and not outcomes[2].rounds[0].errors
    for video, outcome in zip(videos, outcomes):
        assert _together(outcome) == _alone(video)


def test_charge_gets_each_videos_share_of_the_shared_calls():
    videos = _clean_group(n_videos=2, seed=3, max_rounds=2)
    charged = {0: [], 1: []}
    runs = [LoopRun(v.loop(), v.read, v.analyze, charged[v.key].append) for v in videos]
    LoopDriver(SharedAnalysis(), 100).run(runs)
    assert len(charged[0]) == len(charged[1]) == 2 and all(s >= 0 for s in charged[0] + charged[1])


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, None])
def test_driver_rejects_bad_batch_size(bad):
    with pytest.raises(ValueError, match=r"Invalid batch_size: .*Expected an int >= 1\."):
        LoopDriver(SharedAnalysis(), bad)


# ------------------------------------------------------------------------------- the state machine itself
def _video(**config):
    return ScriptedVideo(0, 25 * 300, 25.0, 7, "events", AIRConfig(**config))


def test_loop_waits_for_its_verdicts_and_ends_with_the_selection():
    video = _video(max_rounds=3)
    loop = video.loop()
    assert not loop.done
    frames = loop.pending()
    assert frames.dtype == np.int64 and 1 <= frames.size <= 12
    assert np.array_equal(loop.pending(), frames), "the same frames until they are submitted"
    with pytest.raises(RuntimeError, match="12 frames wait for analysis"):
        loop.result()
    with pytest.raises(ValueError, match=r"Invalid scores: 2 for 12 pending frames"):
        loop.submit([video.verdict(0)] * 2)
    with pytest.raises(TypeError, match="Expected FrameScore"):
        loop.submit([3] * 12)
    rounds = 0
    while (frames := loop.pending()) is not None:
        loop.submit([video.verdict(int(f)) for f in frames])
        rounds += 1
    assert loop.done and loop.pending() is None
    selection = loop.result()
    assert len(selection.rounds) == rounds <= 3
    with pytest.raises(RuntimeError, match="no frames are waiting"):
        loop.submit([])
    expected = select_frames(video.n_frames, video.fps, video.similarity, video.analyze, video.config,
                             video="v0").to_dict()
    got = selection.to_dict()
    expected.pop("timings_s"), got.pop("timings_s")
    assert got == expected


def test_submitted_errors_become_an_analysis_error_fallback():
    video = _video(max_rounds=1)
    loop = video.loop()
    frames = loop.pending()
    scores, errors = run_analysis(lambda chunk: 1 / 0, frames.tolist(), 5)
    assert len(errors) == -(-frames.size // 5) and all(s.reason == "analysis_error" for s in scores)
    loop.submit(scores, errors)
    selection = loop.result()
    assert selection.rounds[0].errors == tuple(errors)
    assert selection.fallbacks[0] == {"reason": "analysis_error",
                                      "detail": "round 1: " + "; ".join(errors)}


def test_ablate_analysis_never_waits():
    video = _video(ablate_analysis=True)
    loop = video.loop()
    assert loop.pending() is None and loop.done
    assert loop.result().n_analyzed == 0 and loop.result().rounds


def test_a_failed_similarity_ends_the_loop_for_good():
    video = _video()
    video.clip_broken = {0}
    loop = video.loop()
    with pytest.raises(OSError, match="CLIP failed on frame 0"):
        loop.pending()
    with pytest.raises(RuntimeError, match=r"failed earlier \(OSError: CLIP failed on frame 0"):
        loop.pending()
    with pytest.raises(RuntimeError, match="failed earlier"):
        loop.result()


def test_loop_checks_the_video_at_construction():
    with pytest.raises(ValueError, match=r"Invalid n_frames: 0\. Expected an int >= 1\."):
        SelectionLoop(0, 25.0, lambda f: f, AIRConfig())
    with pytest.raises(ValueError, match=r"Invalid fps: nan"):
        SelectionLoop(10, float("nan"), lambda f: f, AIRConfig())


def test_drive_loop_is_select_frames():
    video = _video()
    one = drive_loop(video.loop(), video.analyze).to_dict()
    two = select_frames(video.n_frames, video.fps, video.similarity, video.analyze, video.config, video="v0").to_dict()
    one.pop("timings_s"), two.pop("timings_s")
    assert one == two
