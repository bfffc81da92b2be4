"""Baselines: the pure frame-choice rules, and every baseline model through lmms-eval.

The selector tests use hand-computed cases (AKS and MDP3: tests/test_selectors_aks_mdp3.py). The model
tests run the real lmms-eval command line offline, once for all five baselines (a --config list), on a
generated local task with a tiny Qwen2.5-VL and a tiny open_clip (random weights), then recompute the
expected frames in-process with the same encoder.
"""

import json

import numpy as np
import pytest

from baselines.selectors import (
    BOLT_DEFAULT_POWER,
    inverse_transform_frames,
    sharpened_weights,
    topk_frames,
    uniform_frames,
)

NO_CLIP = "open_clip:no-such-model-xyz"  # a CLIP name that cannot load: proves air_uniform never loads one


@pytest.fixture(autouse=True)
def _plain_logging_afterwards():
    """Models built in-process route the package's logs to loguru; give later tests plain logging back."""
    yield
    from air.lmms_logging import restore_std_logging

    restore_std_logging()


# ----------------------------------------------------------------------------------------------
# Pure selectors
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n_frames", "k", "expected"),
    [
        (10, 4, [0, 3, 6, 9]),
        (60, 4, [0, 20, 39, 59]),  # linspace 0, 19.67, 39.33, 59
        (11, 3, [0, 5, 10]),
        (5, 5, [0, 1, 2, 3, 4]),
        (3, 8, [0, 1, 2]),  # capped at the frame count
        (100, 1, [0]),
        (0, 3, []),
        (7, 0, []),
    ],
)
def test_uniform_frames_hand_cases(n_frames, k, expected):
    out = uniform_frames(n_frames, k)
    assert out.dtype == np.int64
    assert out.tolist() == expected


def test_uniform_frames_count_and_spacing_over_many_sizes():
    for n_frames in [1, 2, 7, 60, 61, 299, 1000, 10_800]:
        for k in [1, 2, 3, 8, 31, 32, 64]:
            out = uniform_frames(n_frames, k)
            assert out.size == min(n_frames, k), (n_frames, k)
            assert np.all(np.diff(out) > 0) and out[0] == 0 and out[-1] <= n_frames - 1
            if out.size > 1:
                assert out[-1] == n_frames - 1
                assert np.ptp(np.diff(out)) <= 1, f"uneven spacing for n={n_frames}, k={k}: {out}"


@pytest.mark.parametrize("bad", [(-1, 3), (5, -2), (True, 3), (5, 2.0)])
def test_uniform_frames_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="Expected an int >= 0"):
        uniform_frames(*bad)


def test_topk_frames_highest_first_ties_earlier_sorted_by_time():
    frames = np.array([0, 5, 10, 15, 20])
    assert topk_frames(frames, [1, 3, 3, 0, 2], 3).tolist() == [5, 10, 20]
    assert topk_frames(frames, [1, 3, 3, 0, 2], 2).tolist() == [5, 10]
    assert topk_frames(frames, [2, 2, 2, 2, 2], 2).tolist() == [0, 5], "ties go to the earlier frame"
    assert topk_frames(frames, [np.nan, 1, 1, 1, 1], 4).tolist() == [5, 10, 15, 20], "NaN is the lowest"
    assert topk_frames(frames, [5, 4, 3, 2, 1], 9).tolist() == [0, 5, 10, 15, 20]
    assert topk_frames(frames, [5, 4, 3, 2, 1], 0).tolist() == []
    assert topk_frames(np.zeros(0, dtype=np.int64), [], 3).tolist() == []


def test_selectors_reject_mismatched_or_unsorted_tracks():
    with pytest.raises(ValueError, match=r"Expected one score per frame index \(3,\)"):
        topk_frames([0, 1, 2], [1.0, 2.0], 1)
    with pytest.raises(ValueError, match="not strictly increasing"):
        inverse_transform_frames([0, 2, 1], [1.0, 2.0, 3.0], 1)
    with pytest.raises(ValueError, match="Expected 1-D ints"):
        topk_frames([0.0, 1.5], [1.0, 2.0], 1)


def test_sharpened_weights_is_bolts_formula():
    # ((s - min) / (max - min)) ** power, then normalised: [0, 0.5, 1] ** 2 = [0, 0.25, 1] / 1.25
    assert sharpened_weights([1.0, 2.0, 3.0], 2) == pytest.approx([0.0, 0.2, 0.8])
    assert sharpened_weights([0.3, 0.3, 0.3, 0.3], 3) == pytest.approx([0.25] * 4), "all equal: uniform"
    assert sharpened_weights([1.0, np.nan, 3.0], 1) == pytest.approx([0.0, 0.0, 1.0])
    assert BOLT_DEFAULT_POWER == 3.0


@pytest.mark.parametrize("power", [0, -1.0, float("nan"), float("inf"), True, "3"])
def test_sharpened_weights_rejects_bad_power(power):
    with pytest.raises(ValueError, match="Invalid power"):
        sharpened_weights([0.0, 1.0], power)


def test_inverse_transform_hand_cases():
    frames = np.array([0, 5, 10, 15, 20])
    scores = [0.0, 0.5, 0.0, 0.5, 1.0]
    # power 1: p = [0, .25, 0, .25, .5], CDF [0, .25, .25, .5, 1]; quantiles .25, .75 -> samples 1 and 4
    assert inverse_transform_frames(frames, scores, 2, power=1).tolist() == [5, 20]
    # power 3: w = [0, .125, 0, .125, 1], CDF [0, .1, .1, .2, 1]: both quantiles in sample 4; the
    # duplicate has no unused sample after it, so it takes the nearest unused one before (sample 3)
    assert inverse_transform_frames(frames, scores, 2, power=3).tolist() == [15, 20]
    # all equal: CDF [.25, .5, .75, 1]; quantiles .25, .75 -> samples 0 and 2
    assert inverse_transform_frames(np.arange(4), [0.7] * 4, 2).tolist() == [0, 2]


def test_inverse_transform_duplicates_move_to_the_next_unused_sample():
    # one spike: every quantile falls in sample 2; the duplicates take samples 3 then 4
    assert inverse_transform_frames(np.arange(5), [0, 0, 1, 0, 0], 3, power=1).tolist() == [2, 3, 4]
    # spike at the end: nothing after it, so the duplicates go back in time (2, then 1)
    assert inverse_transform_frames(np.arange(4), [0, 0, 0, 1], 3, power=1).tolist() == [1, 2, 3]
    # two spikes, k = n: every sample used exactly once
    assert inverse_transform_frames(np.arange(4), [0, 1, 0, 1], 4, power=1).tolist() == [0, 1, 2, 3]


def test_inverse_transform_concentrates_on_the_similar_stretch():
    frames = np.arange(0, 600, 10)  # 60 samples
    scores = np.full(60, 0.1)
    scores[30:40] = 0.3  # a 10-sample stretch the query matches
    out = inverse_transform_frames(frames, scores, 8, power=3)
    inside = np.isin(out, frames[30:40]).sum()
    assert inside >= 6, f"most frames should fall in the similar stretch, got {out}"
    flat = inverse_transform_frames(frames, np.full(60, 0.2), 8)
    assert np.ptp(np.diff(flat)) <= 10, "a flat track gives evenly spaced samples"


def test_inverse_transform_and_topk_sizes_on_random_tracks():
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(1, 120))
        frames = np.sort(rng.choice(5000, size=n, replace=False)).astype(np.int64)
        scores = rng.normal(size=n) * rng.choice([0.0, 1e-6, 1.0])
        k = int(rng.integers(0, 40))
        power = float(rng.choice([0.5, 1.0, 2.5, 3.0, 8.0]))
        for out in (inverse_transform_frames(frames, scores, k, power=power), topk_frames(frames, scores, k)):
            assert out.dtype == np.int64 and out.size == min(k, n), (trial, n, k)
            assert np.all(np.diff(out) > 0) and np.isin(out, frames).all()
        again = inverse_transform_frames(frames, scores, k, power=power)
        assert np.array_equal(again, inverse_transform_frames(frames, scores, k, power=power))


# ----------------------------------------------------------------------------------------------
# Model arguments (rejected before any model is loaded)
# ----------------------------------------------------------------------------------------------
def test_unknown_and_invalid_model_args_are_rejected_with_the_model_name():
    from baselines.clip_selectors import ClipInverseTransform
    from baselines.uniform import UniformBaseline

    with pytest.raises(ValueError, match=r"Unknown --model_args key\(s\) for air_uniform: bogus\..*num_frames"):
        UniformBaseline("anything", bogus=1)
    with pytest.raises(ValueError, match="Invalid num_frames: 0"):
        UniformBaseline("anything", num_frames="0")
    with pytest.raises(ValueError, match="Invalid bolt_power: -1.0. Expected a finite number >= 0.001"):
        ClipInverseTransform("anything", bolt_power="-1")
    with pytest.raises(ValueError, match="for air_uniform: bolt_power"):
        UniformBaseline("anything", bolt_power="2")


def test_aks_and_mdp3_model_args_are_checked_before_loading():
    from baselines.clip_selectors import (
        AdaptiveKeyframeSampling,
        ListwiseDPP,
        parse_kernel_scales,
    )

    with pytest.raises(ValueError, match="Invalid aks_depth: -1. Expected an int >= 0 and <= 64"):
        AdaptiveKeyframeSampling("anything", aks_depth="-1")
    with pytest.raises(ValueError, match="Invalid aks_ratio: 0. Expected an int >= 1"):
        AdaptiveKeyframeSampling("anything", aks_ratio="0")
    with pytest.raises(ValueError, match="Invalid aks_t1: 'high'. Expected a number"):
        AdaptiveKeyframeSampling("anything", aks_t1="high")
    with pytest.raises(ValueError, match=r"for air_aks: mdp3_lambda\."):
        AdaptiveKeyframeSampling("anything", mdp3_lambda="1")
    with pytest.raises(ValueError, match="Invalid mdp3_lambda: 0.0. Expected a finite number"):
        ListwiseDPP("anything", mdp3_lambda="0")
    with pytest.raises(ValueError, match="Invalid mdp3_segment_size: 0. Expected an int >= 1"):
        ListwiseDPP("anything", mdp3_segment_size="0")
    with pytest.raises(ValueError, match=r"Invalid mdp3_kernel_scales: '1\|x'. Expected numbers > 0 separated by '\|'"):
        ListwiseDPP("anything", mdp3_kernel_scales="1|x")
    assert parse_kernel_scales("0.125|0.25|0.5|1|2") == (0.125, 0.25, 0.5, 1.0, 2.0)
    assert parse_kernel_scales(ListwiseDPP.baseline_options["mdp3_kernel_scales"][1]) == (0.125, 0.25, 0.5, 1.0, 2.0)


def test_models_are_registered_with_lmms_eval():
    from lmms_eval.models import list_available_models

    available = list_available_models()
    assert {"air_uniform", "air_clip_topk", "air_bolt", "air_aks", "air_mdp3"} <= set(available), available


# ----------------------------------------------------------------------------------------------
# Real runs on tiny models
# ----------------------------------------------------------------------------------------------
# Budget settings that give the two test videos different A.I.R. budgets:
# B = max(min(floor(8 * n / 20), 8), 2) -> 12 samples: 4 frames, 9 samples: 3 frames.
BUDGET_ARGS = "max_frames=8,min_frames=2,budget_ref_s=20"
EXPECTED_BUDGET = {0: 4, 1: 3}
QUESTION = "Which colour is shown first?"
OPTIONS = ["red", "blue", "green", "gray"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from air.testing.videos import write_video

    root = tmp_path_factory.mktemp("videos")
    paths = []
    for i, (dur, fps) in enumerate([(12, 5), (9, 6)]):
        video = write_video(root / f"v{i}.mp4", duration_s=dur, fps=fps, size=(96, 64),
                            segments=[(0, dur / 3, "red"), (dur / 3, 2 * dur / 3, "green"), (2 * dur / 3, dur, "blue")],
                            seed=i)
        paths.append(str(video.path))
    return paths


@pytest.fixture(scope="module")
def task(tmp_path_factory, videos):
    from lmms_helpers import write_task

    docs = [{"id": f"d{i}", "video_path": p, "question": QUESTION, "options": OPTIONS, "answer": "A"}
            for i, p in enumerate(videos)]
    return write_task(tmp_path_factory.mktemp("task"), "air_t_baselines", docs)


@pytest.fixture(scope="module")
def clip_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("clip_cache")


def _check_records(output):
    """The trace records of one model's run (one per doc, no error), after checking its results files."""
    from lmms_helpers import results_of, samples_of

    from air.traces import iter_trace_records

    assert "accuracy,none" in results_of(output)["results"]["air_t_baselines"]
    assert len(samples_of(output, "air_t_baselines")) == 2
    records = {r["doc_id"]: r for r in iter_trace_records(output / "traces")}
    assert sorted(records) == [0, 1], f"one trace per doc, got {sorted(records)}"
    for record in records.values():
        assert not record.get("error"), record.get("error")
        assert record["n_analyzed"] == 0 and record["rounds"] == []
        assert "answer" in record and record["task"] == "air_t_baselines"
    return records


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory, tiny, task, clip_cache):
    """Every baseline through ONE real lmms-eval process (a --config list runs its entries in order).

    air_uniform gets a CLIP name that cannot load and its own empty cache_dir; the CLIP baselines share
    `clip_cache`, so air_clip_topk (first) encodes every sample and the later ones read its entries.
    Returns {model: {doc_id: trace record}} and the output folders.
    """
    import yaml
    from lmms_helpers import run_lmms_eval

    pretrained, clip_name = tiny
    root = tmp_path_factory.mktemp("baseline_runs")
    clip = f"pretrained={pretrained},clip_model={clip_name},{BUDGET_ARGS}"
    runs = {
        "air_uniform": f"pretrained={pretrained},clip_model={NO_CLIP},{BUDGET_ARGS},cache_dir={root / 'uniform_cache'}",
        "air_clip_topk": clip,
        "air_bolt": f"{clip},num_frames=6,bolt_power=2.5",
        "air_aks": f"{clip},aks_depth=1,aks_t1=0.5",
        "air_mdp3": f"{clip},mdp3_lambda=0.5,mdp3_kernel_scales=0.25|1,mdp3_segment_size=5",
    }
    entries = [{"model": model, "model_args": f"{args},trace_dir={root / model / 'traces'}", "tasks": "air_t_baselines",
                "include_path": str(task), "batch_size": 1, "output_path": str(root / model), "log_samples": True,
                "limit": 2} for model, args in runs.items()]
    config = root / "runs.yaml"
    config.write_text(yaml.safe_dump(entries))
    proc = run_lmms_eval(["--config", str(config)], {"AIR_CLIP_CACHE_DIR": str(clip_cache), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {}
    for model in runs:
        try:
            records[model] = _check_records(root / model)
        except AssertionError as error:
            raise AssertionError(f"{model}: {error}\n{proc.stderr[-3000:]}") from error
    return {"records": records, "root": root}


def _samples_and_similarity(video, clip_name, query, cache=None):
    """1-FPS sample indices and their raw CLIP cosine to `query`, recomputed in-process."""
    from air.base_models.clip_model import load_clip
    from air.base_models.utils.video_similarity import VideoSimilarity
    from air.Process_Utils.process_video import open_video
    from air.Process_Utils.sample_logic import initial_sample_indices

    with open_video(video) as reader:  # the default decoder, as the baselines use
        samples = initial_sample_indices(reader.n_frames, reader.fps, 1.0)
        similarity = VideoSimilarity(reader, load_clip(clip_name), query, cache=cache)
        return samples, similarity(samples), similarity


@pytest.mark.slow
def test_air_uniform_cli_evenly_spaced_budget_frames_without_clip(cli_runs, videos):
    from air.base_models.clip_model import load_clip
    from air.Process_Utils.process_video import open_video

    with pytest.raises(ValueError):  # the CLIP name given to air_uniform cannot load anywhere
        load_clip(NO_CLIP)
    records = cli_runs["records"]["air_uniform"]
    empty_cache = cli_runs["root"] / "uniform_cache"
    assert not empty_cache.exists() or not any(empty_cache.iterdir()), "air_uniform wrote CLIP features"
    for doc_id, record in records.items():
        assert record["method"] == "uniform" and record["stop_reason"] == "single_pass"
        assert "clip_model" not in record and "query" not in record and record["scored"] == []
        with open_video(videos[doc_id]) as reader:
            assert record["n_frames"] == reader.n_frames
        assert record["budget"] == EXPECTED_BUDGET[doc_id]
        frames = record["frame_indices"]
        assert len(frames) == record["budget"]
        expected = np.rint(np.linspace(0, record["n_frames"] - 1, record["budget"])).astype(int).tolist()
        assert frames == expected
        assert frames[0] == 0 and frames[-1] == record["n_frames"] - 1
        assert np.ptp(np.diff(frames)) <= 1, f"not evenly spaced: {frames}"
        assert record["timestamps_s"] == pytest.approx([f / record["fps"] for f in frames], abs=1e-3)
        assert record["fallbacks"] == []
    assert records[0]["frame_indices"] == [0, 20, 39, 59]  # 12 s at 5 fps: 60 frames, B = 4


@pytest.mark.slow
def test_air_clip_topk_and_bolt_cli_choose_from_clip_similarity(cli_runs, tiny, videos, clip_cache):
    from air.base_models.clip_model import load_clip
    from air.base_models.utils.feature_cache import FeatureCache

    _, clip_name = tiny
    encoder_name = load_clip(clip_name).name  # the encoder's stable name (also in the cache key)
    topk = cli_runs["records"]["air_clip_topk"]
    for doc_id, record in topk.items():
        assert record["method"] == "clip_topk" and record["clip_model"] == encoder_name
        assert record["budget"] == EXPECTED_BUDGET[doc_id] and len(record["frame_indices"]) == record["budget"]
        assert record["clip_frames_encoded"] == record["n_samples"], "first run: every 1-FPS sample encoded"
        assert {"clip_encode_frames", "clip_encode_text", "selection", "answer", "total"} <= set(record["timings_s"])
        # recompute the similarity with the same encoder, without any cache
        samples, sims, _ = _samples_and_similarity(videos[doc_id], clip_name, record["query"])
        assert record["n_samples"] == samples.size
        assert QUESTION in record["query"] and all(opt in record["query"] for opt in OPTIONS)
        chosen = np.isin(samples, record["frame_indices"])
        assert chosen.sum() == record["budget"], "top-k frames are 1-FPS samples"
        assert sims[chosen].min() >= sims[~chosen].max() - 1e-5, "top-k holds the highest-similarity samples"
        assert record["frame_indices"] == topk_frames(samples, sims, record["budget"]).tolist()
        assert record["frame_similarity"] == pytest.approx(sims[chosen].tolist(), abs=1e-4)
        assert [s[0] for s in record["scored"]] == samples.tolist()
        # the baseline filled the same feature-cache entry that hvp's VideoSimilarity reads
        _, cached_sims, cached = _samples_and_similarity(videos[doc_id], clip_name, record["query"],
                                                         cache=FeatureCache(clip_cache))
        assert cached.n_encoded == 0 and cached.n_from_cache == samples.size
        assert cached_sims == pytest.approx(sims, abs=1e-5)

    bolt = cli_runs["records"]["air_bolt"]
    for doc_id, record in bolt.items():
        assert record["method"] == "bolt"
        assert record["baseline_args"] == {"num_frames": 6, "bolt_power": 2.5}
        assert record["budget"] == 6 and len(record["frame_indices"]) == 6, "num_frames overrides the budget"
        assert record["clip_frames_encoded"] == 0, "second CLIP baseline: image features come from the cache"
        samples, sims, _ = _samples_and_similarity(videos[doc_id], clip_name, record["query"])
        assert record["frame_indices"] == inverse_transform_frames(samples, sims, 6, power=2.5).tolist()
        assert len(record["frame_similarity"]) == 6


@pytest.mark.slow
def test_air_aks_and_mdp3_cli_choose_as_the_pure_selectors_do(cli_runs, tiny, videos):
    from baselines.selectors import aks_frames, mdp3_frames

    _, clip_name = tiny
    aks = cli_runs["records"]["air_aks"]
    mdp3 = cli_runs["records"]["air_mdp3"]
    for doc_id in (0, 1):
        samples, sims, similarity = _samples_and_similarity(videos[doc_id], clip_name, aks[doc_id]["query"])
        budget = EXPECTED_BUDGET[doc_id]

        record = aks[doc_id]
        assert record["method"] == "aks" and record["budget"] == budget and len(record["frame_indices"]) == budget
        assert record["baseline_args"] == {"num_frames": None, "aks_t1": 0.5, "aks_t2": -100.0, "aks_depth": 1,
                                           "aks_ratio": 1}
        assert record["clip_frames_encoded"] == 0, "image features come from the shared cache"
        assert record["frame_indices"] == aks_frames(samples, sims, budget, t1=0.5, depth=1).tolist()
        bins = record["aks_bins"]
        assert sum(b[3] for b in bins) == budget and all(b[2] <= 1 for b in bins)
        assert bins[0][0] == samples[0] and bins[-1][1] == samples[-1]

        record = mdp3[doc_id]
        assert record["method"] == "mdp3" and record["budget"] == budget and len(record["frame_indices"]) == budget
        assert record["baseline_args"]["mdp3_kernel_scales"] == "0.25|1"
        assert record["clip_frames_encoded"] == 0, "image embeddings come from the shared cache"
        expected = mdp3_frames(samples, similarity.frame_features(samples), similarity.text_features(), budget,
                               lam=0.5, segment_size=5, kernel_scales=(0.25, 1.0))
        assert record["frame_indices"] == expected.tolist()
        assert record["mdp3_segment_size"] == 5 and sum(record["mdp3_frames_per_segment"]) == budget
        assert len(record["mdp3_frames_per_segment"]) == -(-samples.size // 5)


# ----------------------------------------------------------------------------------------------
# In-process: replay, subtitle prompts, short videos
# ----------------------------------------------------------------------------------------------
def test_uniform_replays_a_selection_file_and_passes_its_selection_to_prompt_builders(tmp_path, tiny, videos):
    from air.selection_io import export_selections
    from baselines.uniform import UniformBaseline

    pretrained, _ = tiny
    replay = tmp_path / "sel.json"
    export_selections([{"task": "t", "doc_id": 0, "video": videos[0], "fps": 5.0, "frame_indices": [7, 33]}], replay)
    model = UniformBaseline(pretrained, clip_model=NO_CLIP, selection_file=str(replay), trace_dir=str(tmp_path / "tr"),
                            num_frames="5", analysis_max_new_tokens=4)
    text, record = model.process(_sample(videos[0], "Colour? A. red", doc_id=0))
    assert isinstance(text, str)
    assert record["frame_indices"] == [7, 33] and record["replayed_from"] == str(replay)
    assert record["prompt"] == "Colour? A. red"

    seen = []

    def prompt(selection):  # a subtitle task builds its prompt from the chosen frames' timestamps
        seen.append(selection.timestamps_s)
        return "Colour? A. red"

    model._replay = None  # no replay: the uniform choice itself
    _, record = model.process(_sample(videos[1], prompt, doc_id=1))
    assert record["budget"] == 5 and len(record["frame_indices"]) == 5 and record["method"] == "uniform"
    assert seen == [tuple(f / record["fps"] for f in record["frame_indices"])]
    assert record["prompt"] == "Colour? A. red", "the trace holds the text the builder produced and the backbone got"


def _sample(video, prompt, doc_id):
    from air.hvp_requests import Sample

    return Sample(task="t", doc_id=doc_id, split="test", video=video, question=QUESTION, options=OPTIONS,
                  prompt=prompt, gen_kwargs={"max_new_tokens": 3})


def test_uniform_rule_reference_follows_the_backbone_and_linspace_forces_the_plain_rule(tmp_path, tiny, videos,
                                                                                      monkeypatch):
    from baselines.selectors import (
        frames_by_rule,
        segment_centre_frames,
        uniform_frames,
    )
    from baselines.uniform import UniformBaseline

    pretrained, _ = tiny
    model = UniformBaseline(pretrained, clip_model=NO_CLIP, num_frames="6", trace_dir=str(tmp_path / "tr"))
    assert model.uniform_rule() == "linspace"  # Qwen2.5-VL: qwen-vl-utils' round(linspace), ends included
    selection = model.select(videos[0], QUESTION, OPTIONS)  # 60 frames
    assert list(selection.frame_indices) == uniform_frames(60, 6).tolist()
    assert selection.to_dict()["uniform_rule"] == "linspace"

    monkeypatch.setattr(model.model.backbone, "uniform_rule", "segment_centres")  # as remote-code InternVL3
    selection = model.select(videos[0], QUESTION, OPTIONS)
    assert list(selection.frame_indices) == segment_centre_frames(60, 6).tolist() == [4, 14, 24, 34, 43, 53]
    assert selection.to_dict()["uniform_rule"] == "segment_centres"

    forced = UniformBaseline(pretrained, clip_model=NO_CLIP, num_frames="6", uniform_rule="linspace",
                             trace_dir=str(tmp_path / "tr2"))
    monkeypatch.setattr(forced.model.backbone, "uniform_rule", "segment_centres")
    assert list(forced.select(videos[0], QUESTION, OPTIONS).frame_indices) == frames_by_rule("linspace", 60, 6).tolist()
    with pytest.raises(ValueError, match=r"Invalid uniform_rule: 'centre'\. Expected one of \['reference', "):
        UniformBaseline(pretrained, uniform_rule="centre")


def test_clip_baseline_on_a_video_shorter_than_the_budget_records_the_shortfall(tmp_path, tiny, videos):
    from baselines.clip_selectors import ClipTopK

    pretrained, clip_name = tiny
    model = ClipTopK(pretrained, clip_model=clip_name, num_frames=20, trace_dir=str(tmp_path / "tr"),
                     cache_dir=str(tmp_path / "cc"))
    selection = model.select(videos[1], QUESTION, OPTIONS)  # 9 s: 9 samples for 20 requested frames
    assert selection.budget == 20 and len(selection.frame_indices) == 9
    assert selection.fallback_reasons == ("fewer_frames_than_budget",)
    assert json.loads(selection.to_json())["method"] == "clip_topk"


def test_resume_skips_only_samples_this_baseline_traced_under_its_options(tmp_path, tiny):
    from loguru import logger as loguru_logger

    from baselines.uniform import UniformBaseline

    pretrained, _ = tiny
    traces = tmp_path / "shared_traces"
    traces.mkdir()
    model = UniformBaseline(pretrained, clip_model=NO_CLIP, trace_dir=str(traces), resume="True", num_frames=4)
    assert model.fingerprint["parts"]["baseline"] == {"num_frames": 4, "uniform_rule": "reference"}
    other = UniformBaseline(pretrained, clip_model=NO_CLIP, trace_dir=str(traces), num_frames=6)
    mine, foreign = model.fingerprint, other.fingerprint
    lines = [
        {"task": "t", "doc_id": 0, "method": "air", "answer": "B", "frame_indices": [1], "fingerprint": mine},
        {"task": "t", "doc_id": 1, "method": "uniform", "answer": "A", "frame_indices": [0, 9], "fingerprint": mine},
        {"task": "t", "doc_id": 2, "method": "uniform", "answer": "", "error": "VideoDecodeError: x",
         "fingerprint": mine},
        {"task": "t", "doc_id": 3, "method": "bolt", "answer": "C", "frame_indices": [4], "fingerprint": mine},
        {"task": "t", "doc_id": 4, "method": "uniform", "answer": "D", "frame_indices": [4], "fingerprint": foreign},
    ]
    (traces / "traces_rank0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    shown: list[str] = []  # what lmms-eval would print: its log goes through loguru
    sink = loguru_logger.add(lambda message: shown.append(str(message)), level="INFO", format="{level} {message}")
    try:
        assert sorted(model._previous_traces()) == ["t::1"], (
            "only uniform's own error-free traces made with the same baseline options are reused")
    finally:
        loguru_logger.remove(sink)
    (line,) = shown
    assert line.startswith("WARNING air_uniform: resume=True in ") and "1 skipped as foreign" in line
    assert "baseline.num_frames: 4 now, 6 before (1 samples)" in line
    assert "records of other methods ignored (air: 1, bolt: 1)" in line
