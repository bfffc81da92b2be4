"""Smoke test of scripts/benchmarks/bench_pipeline.py: the selection part through the real functions.

Runs select_frames on a 30-minute video with lookup scorers, analyzed_max over 50 random tracks and the
decode time of the real 1-FPS reader on a generated 1-minute video, then checks the result's JSON schema,
the table and the Markdown. Nothing here asserts a time: timings on shared cores are noise.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "scripts" / "benchmarks"
FIGURES = {"decode_vs_ffmpeg", "decode_vs_naive", "decode_threads_vs_one", "coarse_filter_vs_sum",
           "rss_growth_long_vs_short", "pixel_bomb_rss_mib", "cache_warm_vs_cold", "selection_vs_decode",
           "analyzed_max", "batched_vs_sequential", "cross_video_vs_one_by_one", "analysis_calls_cross_video_ratio"}


def _load(name: str):
    """Import a benchmark script by path (scripts/benchmarks has no __init__.py)."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def selection_result(tmp_path_factory):
    bench = _load("bench_pipeline")
    work = tmp_path_factory.mktemp("bench")
    result = bench.run_benchmark(work, quick=True, decoder="pyav", repeats=1, parts=("selection",),
                                 selection_samples=1800, n_tracks=50)
    return bench, result, work


def test_selection_part_json_schema(selection_result):
    _, result, _ = selection_result
    assert set(result) == FIGURES | {"details", "machine", "targets"}
    json.loads(json.dumps(result))  # JSON-ready, no numpy scalars or NaN surprises
    # Only the selection part ran: its two figures are numbers, every other figure is null.
    assert isinstance(result["selection_vs_decode"], float) and result["selection_vs_decode"] > 0
    assert isinstance(result["analyzed_max"], int)
    for key in FIGURES - {"selection_vs_decode", "analyzed_max"}:
        assert result[key] is None
        assert result["targets"][key]["pass"] is None
    targets = result["targets"]
    assert set(targets) == FIGURES
    assert targets["analyzed_max"]["target"] == 72  # default AIRConfig: 12 candidates x 6 rounds
    assert targets["analyzed_max"]["pass"] is (result["analyzed_max"] <= 72)
    assert targets["selection_vs_decode"] == {"target": 0.05, "op": "<=", "value": result["selection_vs_decode"],
                                              "pass": result["selection_vs_decode"] <= 0.05}
    machine = result["machine"]
    for key in ("cpus", "platform", "python", "torch", "date", "loadavg_start", "loadavg_end"):
        assert machine[key] is not None, key


def test_selection_part_measures_the_real_loop(selection_result):
    _, result, _ = selection_result
    sel, analysed = result["details"]["selection"], result["details"]["analyzed"]
    assert sel["n_samples"] == 1800 and sel["n_frames"] == 1800 * 30
    assert sel["n_scored"] >= 1800  # every 1-FPS sample got a CLIP score, plus LDS frames
    assert 0 < sel["n_analyzed"] <= 72
    assert sel["decode_s"] > 0
    assert result["selection_vs_decode"] == pytest.approx(sel["seconds"] / sel["decode_s"], abs=1e-4)
    assert sel["peak_rss"]["peak_rss_bytes"] >= sel["peak_rss"]["rss_before_bytes"] > 0
    assert sel["peak_rss"]["n_analyzed"] == sel["n_analyzed"]  # the child ran the same deterministic selection
    assert analysed["n_tracks"] == 50 and analysed["analyzed_max"] == result["analyzed_max"]
    assert analysed["analyzed_mean"] <= analysed["analyzed_max"]
    assert sum(analysed["stop_reasons"].values()) == 50
    # A scorer that never gives a positive makes the loop run every round: the bound is reached exactly.
    assert analysed["per_mode_max"]["all_low"] == 72


def test_table_and_markdown(selection_result):
    bench, result, _ = selection_result
    table = bench.format_table(result)
    markdown = bench.format_markdown(result)
    for key in FIGURES:
        assert key in table and f"`{key}`" in markdown
    assert "not run" in table and "selection peak RSS" in table
    assert markdown.count("\n| `") == len(FIGURES)
    # Only selection_vs_decode can miss here (analyzed_max <= 72 holds); parts not run never count as missed.
    expected = 0 if result["targets"]["selection_vs_decode"]["pass"] else 1
    notes = bench.miss_notes(result)
    assert len(notes) == expected and all(n.startswith("selection_vs_decode = ") for n in notes)


def test_missed_target_is_named_and_saved_result_renders(selection_result, tmp_path, capsys):
    bench, result, _ = selection_result
    missed = json.loads(json.dumps(result))
    missed["targets"]["analyzed_max"]["pass"] = False
    notes = bench.miss_notes(missed)
    assert any(n.startswith("analyzed_max = ") and "misses its target (<= 72)" in n for n in notes)
    saved, md = tmp_path / "pipeline.json", tmp_path / "pipeline.md"
    saved.write_text(json.dumps(missed))
    assert bench.main(["--from-json", str(saved), "--markdown", str(md)]) == 0
    assert "analyzed_max = " in capsys.readouterr().out
    assert md.read_text() == bench.format_markdown(missed)


def test_lookup_scorers_and_synthetic_video():
    sf = _load("selection_figures")
    rng = np.random.default_rng(3)
    track, scores = sf.synthetic_video(3000, 30.0, rng, mode="evidence")
    assert track.shape == scores.shape == (3000,) and track.dtype == np.float64 and scores.dtype == np.int8
    assert scores.min() >= 1 and scores.max() <= 5
    frames = np.array([0, 17, 2999])
    np.testing.assert_array_equal(sf.LookupSimilarity(track)(frames), track[frames])
    out = sf.LookupScorer(scores)(frames)
    assert [r.score for r in out] == scores[frames].tolist()
    _, silent = sf.synthetic_video(300, 30.0, rng, mode="unparseable")
    assert [r.score for r in sf.LookupScorer(silent)(np.arange(3))] == [None, None, None]
    with pytest.raises(ValueError, match="Invalid mode"):
        sf.synthetic_video(10, 30.0, rng, mode="nope")


def test_invalid_parts_are_rejected(tmp_path):
    bench = _load("bench_pipeline")
    with pytest.raises(ValueError, match="Invalid parts"):
        bench.run_benchmark(tmp_path, parts=("selection", "warp"))


def test_overlap_figure_runs_the_real_coarse_filter(tmp_path):
    """coarse_filter_vs_sum on a small video with a tiny encoder: the three times and the derived figures agree."""
    from air.base_models.clip_model import load_clip
    from air.testing.tiny_clip import build_tiny_open_clip
    from air.testing.videos import write_video

    overlap = _load("overlap_figures")
    video = write_video(tmp_path / "v.mp4", duration_s=8.0, fps=10.0, size=(128, 72))
    encoder = load_clip(build_tiny_open_clip(tmp_path / "clip"))
    result = overlap.coarse_filter_vs_sum(video.path, encoder=encoder, repeats=1)
    assert result["frames"] == 8 and result["decoder"] == "pyav"
    total = result["decode_s"] + result["encode_s"]
    assert result["coarse_filter_vs_sum"] == pytest.approx(result["pipelined_s"] / total)
    assert result["ideal"] == pytest.approx(max(result["decode_s"], result["encode_s"]) / total)
    assert {"decode", "encode_frames", "decode_wait"} <= set(result["pipelined_timings_s"])
    json.loads(json.dumps(result))
    assert "coarse_filter_vs_sum" in overlap._table(result)


def test_pixel_bomb_figure_is_the_refusal_by_default(tmp_path):
    bomb = _load("pixel_bomb_figures")
    result = bomb.pixel_bomb_figures(tmp_path, lifted_backends=())
    assert result["outcome"] == "refused" and "16000x16000" in result["detail"]
    assert 0 <= result["pixel_bomb_rss_mib"] < 200, "a refusal decodes nothing"
    assert result["video"] == {"size": [16000, 16000], "frames": 3, "bytes": result["video"]["bytes"]}
