"""The selection-quality simulation (scripts/benchmarks/sim) and the opt-in candidate spreading.

Fast: tiny layouts for the metrics, one vectorised draw for the scorer statistics, a 2-video run of
the script in process, and a few dozen short random tracks for the spreading invariants.
"""

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from sim.baselines import SELECTORS, SimVideo
from sim.embeddings import synthetic_embeddings
from sim.metrics import EvidenceIndex, aggregate
from sim.runner import (
    ABLATIONS,
    BASELINES,
    SimulationPlan,
    run_simulation,
    simulate_video,
)
from sim.scorers import TrackAnalysis, TrackSimilarity, analysis_scores
from sim.tracks import (
    CONTRAST,
    LayoutSpec,
    VideoLayout,
    clean_similarity,
    evidence_mask,
    generate_layout,
    noisy_similarity,
    segment_mask,
)

from air.config import AIRConfig
from air.Process_Utils import sample_logic as sl
from air.Process_Utils.process_messages import FrameScore
from air.selection import _spread_candidates, select_frames


# ---------------------------------------------------------------------------------------------
# Track generator
# ---------------------------------------------------------------------------------------------
def _check_segments(layout: VideoLayout, spec: LayoutSpec):
    segs = sorted(layout.evidence + layout.distractors)
    assert segs[0][0] >= spec.min_gap_s - 1e-9
    assert segs[-1][1] <= layout.duration_s - spec.min_gap_s + 1e-9
    for (_, e1), (s2, _) in itertools.pairwise(segs):
        assert s2 - e1 >= spec.min_gap_s - 1e-9
    assert spec.distractors[0] <= len(layout.distractors) <= spec.distractors[1] or layout.duration_s < 200
    for s, e in layout.distractors:
        assert spec.distractor_s[0] <= e - s <= spec.distractor_s[1]


@pytest.mark.parametrize("seed", range(25))
def test_layout_short_evidence(seed):
    spec = LayoutSpec(long_event_prob=0.0)
    layout = generate_layout(np.random.default_rng(seed), spec)
    assert spec.min_duration_s <= layout.duration_s <= spec.max_duration_s
    assert isinstance(layout.n_frames, int) and layout.fps == spec.fps
    assert 1 <= len(layout.evidence) <= 2 and not layout.long_event
    for s, e in layout.evidence:
        assert 4.0 <= e - s <= 15.0
    _check_segments(layout, spec)


@pytest.mark.parametrize("seed", range(25))
def test_layout_long_event(seed):
    spec = LayoutSpec(long_event_prob=1.0)
    layout = generate_layout(np.random.default_rng(seed), spec)
    assert layout.long_event and len(layout.evidence) == 1
    s, e = layout.evidence[0]
    assert 20.0 <= e - s <= 90.0
    _check_segments(layout, spec)


def test_layout_short_video_keeps_evidence_and_fits():
    spec = LayoutSpec(min_duration_s=120.0, max_duration_s=121.0, long_event_prob=1.0, distractors=(3, 3))
    for seed in range(40):
        layout = generate_layout(np.random.default_rng(seed), spec)
        assert len(layout.evidence) == 1
        total = sum(e - s for s, e in layout.evidence + layout.distractors)
        assert total + (len(layout.evidence + layout.distractors) + 1) * spec.min_gap_s <= layout.duration_s + 1e-9


def test_clip_track_lifts_evidence_and_distractors_alike_and_noise_has_the_asked_std():
    spec = LayoutSpec(min_duration_s=600, max_duration_s=600, long_event_prob=0.0)
    layout = generate_layout(np.random.default_rng(3), spec)
    clean = clean_similarity(layout, np.random.default_rng(4))
    ev = evidence_mask(layout)
    dis = segment_mask(layout, layout.distractors)
    background = ~(ev | dis)
    lift_ev = clean[ev].mean() - clean[background].mean()
    lift_dis = clean[dis].mean() - clean[background].mean()
    assert 0.6 * CONTRAST < lift_ev < 1.3 * CONTRAST
    assert 0.6 * CONTRAST < lift_dis < 1.3 * CONTRAST
    noisy = noisy_similarity(clean, 0.5, np.random.default_rng(5))
    assert np.std(noisy - clean) == pytest.approx(0.5 * CONTRAST, rel=0.03)
    with pytest.raises(ValueError, match=r"Invalid noise: -1.0. Expected a finite number >= 0"):
        noisy_similarity(clean, -1.0, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# Metrics on tiny hand-computed cases
# ---------------------------------------------------------------------------------------------
def _tiny_layout():
    # 20 s at 2 fps; evidence frames: t in [2, 4) -> 4..7, t in [10, 11) -> 20, 21; seconds {2, 3, 10}
    return VideoLayout(fps=2.0, n_frames=40, evidence=((2.0, 4.0), (10.0, 11.0)), distractors=((14.0, 16.0),),
                       evidence_levels=(1.0, 1.0), distractor_levels=(1.0,), long_event=False)


def test_metrics_hand_computed():
    index = EvidenceIndex(_tiny_layout())
    assert np.flatnonzero(index.mask).tolist() == [4, 5, 6, 7, 20, 21]
    assert index.seconds == {2, 3, 10}
    m = index.video_metrics([4, 5, 20, 30])  # seconds 2, 2, 10, 15
    assert m == {"hit": 1.0, "precision": 0.75, "coverage": pytest.approx(2 / 3), "redundancy": 0.75, "frames": 4.0}
    m = index.video_metrics([6])  # one frame in the first segment only
    assert m == {"hit": 0.0, "precision": 1.0, "coverage": 1.0, "redundancy": 1.0, "frames": 1.0}
    m = index.video_metrics([0, 1, 2, 3])  # all in second 0 and 1, no evidence
    assert m == {"hit": 0.0, "precision": 0.0, "coverage": 0.0, "redundancy": 0.5, "frames": 4.0}
    assert index.video_metrics([]) == {"hit": 0.0, "precision": 0.0, "coverage": 0.0, "redundancy": 0.0, "frames": 0.0}
    with pytest.raises(ValueError, match=r"Invalid frames: range 0..40. Expected indices in 0..39."):
        index.video_metrics([0, 40])


def test_aggregate_means_and_analyzed_max():
    rows = [{"hit": 1.0, "precision": 0.5, "coverage": 1.0, "redundancy": 1.0, "frames": 4.0, "analyzed": 10},
            {"hit": 0.0, "precision": 0.0, "coverage": 0.5, "redundancy": 0.5, "frames": 2.0, "analyzed": 30}]
    out = aggregate(rows)
    assert out == {"hit_rate": 0.5, "precision": 0.25, "coverage": 0.75, "redundancy": 0.75,
                   "mean_frames": 3.0, "analyzed_mean": 20.0, "analyzed_max": 30}


def _sim_video(layout=None, seed=0):
    layout = layout or _tiny_layout()
    samples = np.arange(0, layout.n_frames, int(layout.fps))
    scores = clean_similarity(layout, np.random.default_rng(seed))[samples]
    return SimVideo(layout, samples, scores, np.random.default_rng(seed + 1))


def test_baselines():
    assert BASELINES == ("uniform", "clip_topk", "bolt", "aks", "mdp3")
    layout = VideoLayout(fps=30.0, n_frames=100, evidence=(), distractors=(), evidence_levels=(),
                         distractor_levels=(), long_event=False)
    video = SimVideo(layout, np.array([0, 30, 60, 90]), np.array([0.2, 0.5, 0.5, 0.1]), np.random.default_rng(0))
    assert SELECTORS["uniform"](video, 4).tolist() == [12, 37, 62, 87]  # centres of 4 equal parts
    assert SELECTORS["clip_topk"](video, 2).tolist() == [30, 60]
    tie = SimVideo(layout, np.array([0, 30]), np.array([0.3, 0.3]), np.random.default_rng(0))
    assert SELECTORS["clip_topk"](tie, 1).tolist() == [0]  # tie: earlier
    video = _sim_video(generate_layout(np.random.default_rng(5), LayoutSpec(max_duration_s=400)))
    for name, select in SELECTORS.items():
        for k in (0, 1, 8, 32):
            out = select(video, k)
            assert out.size == k and np.all(np.diff(out) > 0), name
            if name != "uniform":
                assert np.isin(out, video.samples).all(), f"{name} picks among the 1-FPS samples"


@pytest.mark.parametrize("seed", range(3))
def test_synthetic_embeddings_reproduce_the_track_and_group_frames_by_shot(seed):
    layout = generate_layout(np.random.default_rng(seed), LayoutSpec(min_duration_s=600, max_duration_s=600))
    samples = np.arange(0, layout.n_frames, 30)
    track = noisy_similarity(clean_similarity(layout, np.random.default_rng(seed)), 1.0, np.random.default_rng(9))
    images, query = synthetic_embeddings(layout, samples, track[samples], np.random.default_rng(seed))
    assert images.shape == (samples.size, 32) and np.allclose(np.linalg.norm(images, axis=1), 1.0)
    assert np.allclose(images @ query, track[samples], atol=1e-12), "cosine to the query is the noisy track"
    residual = images[:, 1:] / np.linalg.norm(images[:, 1:], axis=1, keepdims=True)
    evidence = np.flatnonzero(evidence_mask(layout)[samples])
    inside = residual[evidence] @ residual[evidence].T
    assert inside[np.triu_indices(evidence.size, 1)].mean() > 0.6, "frames of one segment look alike"
    others = np.flatnonzero(~segment_mask(layout, layout.evidence + layout.distractors)[samples])
    cross = residual[evidence] @ residual[others].T
    assert abs(cross.mean()) < 0.15, "frames of different shots do not"
    again, _ = synthetic_embeddings(layout, samples, track[samples], np.random.default_rng(seed))
    assert np.array_equal(images, again)
    with pytest.raises(ValueError, match=r"Expected one value in \(-1, 1\)"):
        synthetic_embeddings(layout, samples, np.full(samples.size, 1.5), np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# Scorer
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("error_rate", [0.0, 0.1, 0.3])
def test_scorer_ranges_and_error_rate(error_rate):
    n = 200_000
    evidence = np.zeros(n, dtype=bool)
    evidence[: n // 2] = True
    scores = analysis_scores(evidence, error_rate, np.random.default_rng(11))
    assert set(np.unique(scores).tolist()) <= {1, 2, 3, 4, 5}
    miss = float(np.mean(scores[evidence] <= 3))
    false_alarm = float(np.mean(scores[~evidence] >= 4))
    tol = 4 * math.sqrt(max(error_rate * (1 - error_rate), 1e-12) / (n / 2)) + 1e-12
    assert abs(miss - error_rate) <= tol and abs(false_alarm - error_rate) <= tol
    # each range is used evenly
    high = scores[evidence & (scores >= 4)]
    assert abs(np.mean(high == 5) - 0.5) < 0.01
    low = scores[~evidence & (scores <= 3)]
    assert all(abs(np.mean(low == v) - 1 / 3) < 0.01 for v in (1, 2, 3))


def test_scorer_rejects_bad_rate_and_callables_read_the_tracks():
    with pytest.raises(ValueError, match=r"Invalid error_rate: 1.5. Expected a number in \[0, 1\]."):
        analysis_scores(np.zeros(3, dtype=bool), 1.5, np.random.default_rng(0))
    track = np.array([0.1, 0.2, 0.3])
    assert TrackSimilarity(track)(np.array([2, 0])).tolist() == [0.3, 0.1]
    analysis = TrackAnalysis(np.array([1, 5, 3], dtype=np.int8))
    out = analysis(np.array([1, 2]))
    assert [r.score for r in out] == [5, 3] and all(isinstance(r, FrameScore) for r in out)
    assert (analysis.calls, analysis.frames_seen) == (1, 2)


# ---------------------------------------------------------------------------------------------
# Runner and script
# ---------------------------------------------------------------------------------------------
def test_simulate_video_is_deterministic_and_equal_counts(monkeypatch):
    import contextlib

    import sim.runner

    plan = SimulationPlan(n_videos=1, spec=LayoutSpec(min_duration_s=120, max_duration_s=240))
    a = simulate_video(plan, 0, 0.5, 0.1)
    b = simulate_video(plan, 0, 0.5, 0.1)
    assert a == b
    for preset, rows in a.items():
        assert list(rows) == plan.methods(preset)
        k = rows["air"]["frames"]
        assert all(rows[name]["frames"] == k for name in plan.preset_baselines(preset)), "baselines at A.I.R.'s count"
        cfg = AIRConfig.from_preset(preset)
        for name in plan.air_runs(preset):
            assert rows[name]["analyzed"] <= cfg.candidates_per_round * cfg.max_rounds
    assert set(ABLATIONS) <= set(a["default"]) and not set(ABLATIONS) & set(a["efficient_16_4_4"])
    assert set(BASELINES) <= set(a["default"]) and set(a["efficient_16_4_4"]) >= set(BASELINES) - {"mdp3"}
    assert a["default"]["air_ablate_analysis"]["analyzed"] == 0
    # fitting each GMM once per video changes no figure
    monkeypatch.setattr(sim.runner, "memoized_gmm", contextlib.nullcontext)
    assert simulate_video(plan, 0, 0.5, 0.1) == a


def test_quick_run_writes_every_key(tmp_path, capsys):
    import simulate_selection

    out = tmp_path / "sim.json"
    assert simulate_selection.main(["--json", str(out), "--quick", "--videos", "2", "--workers", "1"]) == 0
    data = json.loads(out.read_text())
    for key in ("settings", "analyzed_max", "analyzed_max_per_preset", "analyzed_bound_per_preset",
                "analyzed_within_bound", "run_time_s", "n_videos_per_setting", "noise_levels", "error_rates",
                "methods", "presets", "kind", "seed"):
        assert key in data, key
    assert data["kind"] == "simulation" and data["n_videos_per_setting"] == 2
    assert len(data["settings"]) == len(data["noise_levels"]) * len(data["error_rates"])
    for setting in data["settings"]:
        assert set(setting) >= {"clip_noise", "analysis_error_rate", "n_videos", "presets"}
        for preset in ("default", "efficient_16_8_4", "efficient_16_4_4"):
            figs = setting["presets"][preset]
            assert list(figs) == data["methods_per_preset"][preset]
            for method in data["methods_per_preset"][preset]:
                assert set(figs[method]) >= {"hit_rate", "precision", "coverage", "redundancy", "mean_frames"}
                for value in (figs[method]["hit_rate"], figs[method]["precision"], figs[method]["coverage"]):
                    assert 0.0 <= value <= 1.0
            for method in (m for m in figs if m.startswith("air")):
                assert figs[method]["analyzed_max"] <= data["analyzed_bound_per_preset"][preset]
    assert data["analyzed_max"] <= 72 and data["analyzed_within_bound"] is True
    checks = data["expectation_checks_default"]
    assert len(checks) == len(data["settings"])
    for row, setting in zip(checks, data["settings"]):
        figs = setting["presets"]["default"]
        assert row["hit_gap_vs_topk"] == round(figs["air"]["hit_rate"] - figs["clip_topk"]["hit_rate"], 4)
        assert row["air_spread"]["coverage"] == round(figs["air_spread"]["coverage"] - figs["air"]["coverage"], 4)
    assert data["methods"] == ["uniform", "clip_topk", "bolt", "aks", "mdp3", "air", *ABLATIONS, "air_spread",
                               "air_spread_explore"]
    printed = capsys.readouterr().out
    assert "SIMULATION" in printed and "| noise | err |" in printed and "QUALITY.md expectations" in printed
    assert "| method | 0.1 / 0.1 | 1 / 0.1 |" in printed
    for label in ("| BOLT |", "| AKS-style |", "| MDP3-style |", "| A.I.R. w/o LDS |", "| A.I.R. + spread (S) |"):
        assert label in printed


def test_run_simulation_same_figures_with_one_or_two_processes():
    plan = SimulationPlan(noise_levels=(0.5,), error_rates=(0.1,), n_videos=3, presets=("efficient_16_4_4",),
                          spec=LayoutSpec(min_duration_s=120, max_duration_s=300))
    one = run_simulation(plan, workers=1)
    two = run_simulation(plan, workers=2)
    assert one == two
    assert one["analyzed_max"] <= 16 and one["analyzed_bound_per_preset"] == {"efficient_16_4_4": 16}


def test_run_simulation_rejects_zero_videos():
    with pytest.raises(ValueError, match=r"Invalid n_videos: 0. Expected an int >= 1."):
        run_simulation(SimulationPlan(n_videos=0))


# ---------------------------------------------------------------------------------------------
# Opt-in spreading: config field, candidate rule, loop invariants
# ---------------------------------------------------------------------------------------------
def test_spread_explore_frac_field():
    assert AIRConfig().spread_explore_frac == 0.0 and AIRConfig().spread_candidates is False
    assert AIRConfig.from_model_args({"spread_explore_frac": "0.5"}).spread_explore_frac == 0.5
    for bad in (1.5, -0.1, float("nan"), "0.5", True):
        with pytest.raises(ValueError) as err:
            AIRConfig(spread_explore_frac=bad)
        assert str(err.value) == (f"Invalid spread_explore_frac: {bad!r}. "
                                  "Expected a finite number >= 0 and <= 1 (fraction of a round).")


def _candidate_inputs(seed, fps=30.0, seconds=300):
    rng = np.random.default_rng(seed)
    n_frames = int(seconds * fps)
    pool = np.unique(rng.integers(0, n_frames, size=80))
    intervals = sl.pool_intervals(pool, n_frames)
    score_of = {int(f): float(v) for f, v in zip(pool, rng.random(pool.size))}
    idx = np.array(sorted(score_of), dtype=np.int64)
    potentials = sl.interval_potentials(intervals, idx, np.array([score_of[f] for f in idx.tolist()]), 0.5)
    excluded = {int(f) for f in rng.choice(pool, size=10, replace=False)}
    return n_frames, pool, intervals, potentials, score_of, excluded


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("frac", [0.0, 0.5, 1.0])
def test_spread_candidates_rule(seed, frac):
    fps = 30.0
    _, pool, intervals, potentials, score_of, excluded = _candidate_inputs(seed, fps)
    config = AIRConfig(spread_candidates=True, spread_explore_frac=frac)
    chosen = _spread_candidates(intervals, potentials, pool, excluded, score_of, config, fps)
    frames = [f for f, _ in chosen]
    assert len(frames) == len(set(frames)) == config.candidates_per_round
    assert set(frames) <= set(pool.tolist()) and not set(frames) & excluded
    gap = fps / config.sample_fps
    explore = math.floor(frac * config.candidates_per_round + 0.5)
    paper = [f for f, _ in sl.choose_candidates(intervals, potentials, pool, excluded, score_of, len(pool))]
    # exploration picks: the earliest frames in the paper's order far from everything looked at and each other
    expected: list[int] = []
    for f in paper:
        if len(expected) >= explore:
            break
        if all(abs(f - g) >= gap for g in list(excluded) + expected):
            expected.append(f)
    assert frames[: len(expected)] == expected
    # the pool here is wide enough for every candidate to be a sample period from the others
    assert all(abs(a - b) >= gap for i, a in enumerate(frames) for b in frames[i + 1:])
    # nominating intervals are real intervals with the frame as an endpoint
    for f, (a, b) in chosen:
        assert f in (a, b) and [a, b] in intervals.tolist()


def test_spread_fill_never_leaves_fewer_candidates_than_the_paper():
    # a dense pool (every 5 frames): too few frames are a sample period apart, the fill tops up.
    fps = 30.0
    pool = np.arange(0, 120, 5, dtype=np.int64)
    intervals = sl.pool_intervals(pool, 121)
    score_of = {int(f): 0.5 for f in pool}
    potentials = np.ones(len(intervals))
    for frac in (0.0, 1.0):
        config = AIRConfig(spread_candidates=True, spread_explore_frac=frac)
        chosen = _spread_candidates(intervals, potentials, pool, {0, 60}, score_of, config, fps)
        assert len(chosen) == 12 and len({f for f, _ in chosen}) == 12


def _random_track(n_frames, fps, seed):
    rng = np.random.default_rng(seed)
    track = rng.normal(0.2, 0.01, n_frames)
    for _ in range(rng.integers(1, 4)):
        start = int(rng.integers(0, max(1, n_frames - 10 * int(fps))))
        track[start : start + int(rng.integers(3, 12) * fps)] += 0.05
    return track


@pytest.mark.parametrize("seed", range(12))
def test_spread_loop_invariants(seed):
    rng = np.random.default_rng(100 + seed)
    fps = float(rng.choice([10.0, 25.0, 30.0]))
    n_frames = int(rng.integers(60, 400) * fps)
    track = _random_track(n_frames, fps, seed)
    verdict = np.where(track > 0.23, 5, 2)
    preset = ["default", "efficient_16_8_4", "efficient_16_4_4"][seed % 3]
    frac = [0.0, 0.5, 1.0][seed % 3]
    config = AIRConfig.from_preset(preset, spread_candidates=True, spread_explore_frac=frac,
                                   fixed_budget=bool(seed % 2), reanalyze=bool(seed % 5 == 0))

    def run():
        return select_frames(n_frames, fps, TrackSimilarity(track), TrackAnalysis(verdict), config)

    sel = run()
    frames = list(sel.frame_indices)
    assert frames == sorted(set(frames)) and 0 <= frames[0] and frames[-1] < n_frames
    assert len(frames) <= sel.budget
    if config.fixed_budget:
        assert len(frames) == sel.budget
    assert sel.n_analyzed <= config.candidates_per_round * config.max_rounds
    if not config.reanalyze:
        analysed = [f for r in sel.rounds for f in r.candidates]
        assert len(analysed) == len(set(analysed))
    again = run()
    assert again.frame_indices == sel.frame_indices
    assert [r.candidates for r in again.rounds] == [r.candidates for r in sel.rounds]


def test_explore_frac_is_ignored_without_spread_candidates():
    fps, n_frames = 30.0, 30 * 240
    track = _random_track(n_frames, fps, 7)
    verdict = np.where(track > 0.23, 5, 2)
    paper = select_frames(n_frames, fps, TrackSimilarity(track), TrackAnalysis(verdict), AIRConfig())
    other = select_frames(n_frames, fps, TrackSimilarity(track), TrackAnalysis(verdict),
                          AIRConfig(spread_explore_frac=0.7))
    assert paper.frame_indices == other.frame_indices
    assert [r.candidates for r in paper.rounds] == [r.candidates for r in other.rounds]
