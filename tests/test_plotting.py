"""The selection figure (air/plotting.py): drawn from real select_frames traces with scripted scorers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from air.model import AIRConfig, FrameScore, select_frames
from air.plotting import _track, build_figure, format_time, plot_trace, zoom_window
from air.testing.videos import decode_frame_index, write_video

FPS = 8.0
DURATION_S = 60.0
EVIDENCE_S = (30.0, 38.0)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("plot") / "ev.mp4", duration_s=DURATION_S, fps=FPS, size=(160, 120),
                       segments=[(0, 30, "blue"), (30, 38, "red"), (38, 60, "blue")], seed=3)


def _track_values(n_frames: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(n_frames) / FPS
    return 0.2 + 0.01 * rng.normal(size=n_frames) + 0.1 * ((t >= EVIDENCE_S[0]) & (t < EVIDENCE_S[1]))


def _scorer(n_frames: int, fail_batches: bool = False):
    calls = {"n": 0}

    def analyze(frames):
        calls["n"] += 1
        if fail_batches and calls["n"] in (1, 3):  # the first batch of rounds 1 and 2 (2 batches a round)
            raise RuntimeError("scripted analysis failure")
        out = []
        for f in frames.tolist():
            t = f / FPS
            if f % 7 == 0:
                out.append(FrameScore(None, "", "garbled"))
            else:
                out.append(FrameScore(5 if EVIDENCE_S[0] <= t < EVIDENCE_S[1] else 1, "scripted"))
        return out

    return analyze


@pytest.fixture(scope="module")
def lds_record(video):
    """A trace with events, LDS frames, rounds, unparseable scores and a filled budget."""
    values = _track_values(video.n_frames)
    sel = select_frames(video.n_frames, video.fps, lambda idx: values[idx], _scorer(video.n_frames),
                        AIRConfig(candidates_per_round=6, max_rounds=4), video=str(video.path))
    record = json.loads(json.dumps(sel.to_dict()))  # exactly what a saved trace holds
    record["question"] = "What colour is the screen in the middle?"
    return record


@pytest.fixture(scope="module")
def fallback_record(video):
    """A trace with degenerate (constant) similarity and a failing analysis batch: no GMM, no events."""
    sel = select_frames(video.n_frames, video.fps, lambda idx: np.full(len(idx), 0.3),
                        _scorer(video.n_frames, fail_batches=True),
                        AIRConfig(candidates_per_round=4, max_rounds=2, analysis_batch_size=2), video=str(video.path))
    return json.loads(json.dumps(sel.to_dict()))


def _png_size(path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def _labels(fig) -> list[str]:
    return [ax.get_label() for ax in fig.axes]


def _all_text(fig) -> str:
    texts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        texts += [t.get_text() for t in ax.texts] + [ax.get_title()]
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
        for artist in ax.artists:
            if hasattr(artist, "get_texts"):
                texts += [t.get_text() for t in artist.get_texts()]
    return "\n".join(texts)


def test_record_has_what_the_figure_shows(lds_record):
    """Guard: the fixture trace really has LDS frames, events, rounds and unparseable scores."""
    sources = {s[3] for s in lds_record["scored"]}
    assert sources == {"sample", "lds"}
    assert lds_record["events"] and lds_record["threshold"] is not None
    assert len(lds_record["rounds"]) >= 2
    assert any(s is None for r in lds_record["rounds"] for s in r["scores"])


def test_png_has_configured_pixel_size(tmp_path, lds_record, video):
    out = plot_trace(lds_record, tmp_path / "a" / "fig.png", video=video.path, figsize=(10, 7.5), dpi=60)
    assert out.exists() and out.stat().st_size > 20_000
    assert _png_size(out) == (600, 450)
    out2 = plot_trace(lds_record, tmp_path / "fig2.png", video=None, figsize=(8, 5), dpi=50)
    assert _png_size(out2) == (400, 250)


def test_default_size_grows_with_contact_sheet_rows(tmp_path, lds_record, video):
    with_sheet = plot_trace(lds_record, tmp_path / "with.png", video=video.path, dpi=40)
    without = plot_trace(lds_record, tmp_path / "without.png", video=None, dpi=40)
    (w1, h1), (w2, h2) = _png_size(with_sheet), _png_size(without)
    assert w1 == w2 == 13 * 40
    assert h1 > h2 + 40  # at least one row of thumbnails


def test_figure_parts_and_contact_sheet_frames(lds_record, video):
    """Every final frame gets a thumbnail, and each thumbnail really is that frame (bar-code index)."""
    fig = build_figure(lds_record, video.path, dpi=50)
    labels = _labels(fig)
    assert {"track", "histogram"} <= set(labels)
    thumbs = {int(label.split(":")[1]): ax for label, ax in zip(labels, fig.axes) if label.startswith("thumb:")}
    assert sorted(thumbs) == sorted(lds_record["frame_indices"])
    for frame, ax in thumbs.items():
        image = np.asarray(ax.images[0].get_array())
        assert image.dtype == np.uint8 and image.shape[1] == 240
        assert decode_frame_index(image, video.n_bits) == frame
    track_ax = fig.axes[labels.index("track")]
    # LDS frames are drawn as their own diamond series, with a legend entry counting them
    n_lds = sum(1 for s in lds_record["scored"] if s[3] == "lds")
    text = _all_text(fig)
    assert f"LDS frames ({n_lds})" in text
    assert f"events ({len(lds_record['events'])})" in text
    assert f"GMM threshold {lds_record['threshold']:.2f}" in text
    assert "What colour is the screen in the middle?" in text
    assert f"budget {lds_record['budget']}" in text and "fallbacks: none" in text
    # events shaded as spans covering their seconds
    spans = [p for p in track_ax.patches if p.get_alpha() == pytest.approx(0.2)]
    assert len(spans) == len(lds_record["events"])
    # the final frames are ticks under the curve at their timestamps
    ticks = [c for c in track_ax.collections if c.__class__.__name__ == "LineCollection"]
    xs = sorted(seg[0][0] for seg in ticks[0].get_segments())
    assert xs == pytest.approx(sorted(f / FPS for f in lds_record["frame_indices"]))


def test_event_spans_run_from_first_to_last_sample_on_the_video_clock(lds_record):
    """Events are traced as sample numbers and drawn in seconds: from sample i's real time to sample j's."""
    samples = sorted(f for f, _raw, _norm, src in lds_record["scored"] if src == "sample")
    assert len(lds_record["event_samples"]) == len(lds_record["events"]) >= 1
    fig = build_figure(lds_record, None, dpi=30, zoom=False)
    track_ax = fig.axes[_labels(fig).index("track")]
    spans = [p for p in track_ax.patches if p.get_alpha() == pytest.approx(0.2)]
    for (i, j), (start, end), span in zip(lds_record["event_samples"], lds_record["events"], spans):
        assert j - i >= 4  # Eq. 2 with l_min = 3 s: at least 5 samples
        assert (start, end) == (pytest.approx(samples[i] / FPS, abs=1e-4), pytest.approx(samples[j] / FPS, abs=1e-4))
        assert span.get_x() == pytest.approx(start) and span.get_x() + span.get_width() == pytest.approx(end)


def test_trace_with_failed_clip_scores_draws(video, tmp_path):
    """NaN/inf similarities are written as null in the trace; the figure skips them."""
    values = _track_values(video.n_frames)
    values[::5] = np.nan
    values[3::11] = np.inf
    sel = select_frames(video.n_frames, video.fps, lambda idx: values[idx], _scorer(video.n_frames),
                        AIRConfig(candidates_per_round=4, max_rounds=2), video=str(video.path))
    record = json.loads(json.dumps(sel.to_dict(), allow_nan=False))
    assert any(row[1] is None and row[2] is None for row in record["scored"])
    fig = build_figure(record, None, dpi=30)
    assert "track" in _labels(fig)
    assert plot_trace(record, tmp_path / "failed.png", dpi=30).stat().st_size > 5_000


def test_analysed_frames_coloured_by_score_with_round_numbers(lds_record, video):
    fig = build_figure(lds_record, None, dpi=50, zoom=False)
    track_ax = fig.axes[_labels(fig).index("track")]
    analysed = {f: (r["round"], s) for r in lds_record["rounds"] for f, s in zip(r["candidates"], r["scores"])}
    round_labels = sorted(int(t.get_text()) for t in track_ax.texts if t.get_text().isdigit())
    assert round_labels == sorted(r for r, _ in analysed.values())
    from matplotlib.colors import to_hex

    from air.plotting import SCORE_COLOURS, UNPARSEABLE_COLOUR

    drawn = {}
    for coll in track_ax.collections:
        offsets = coll.get_offsets()
        faces = coll.get_facecolors()
        if len(offsets) and len(faces) and coll.get_sizes().max() >= 50:
            if len(faces) == 1:
                faces = np.repeat(faces, len(offsets), axis=0)
            for (x, _y), face in zip(offsets, faces):
                drawn[round(float(x) * FPS)] = to_hex(face)
    assert set(drawn) == set(analysed)
    for f, (_r, score) in analysed.items():
        assert drawn[f] == (SCORE_COLOURS[score] if score is not None else UNPARSEABLE_COLOUR)


def test_trace_with_fallbacks_draws(tmp_path, fallback_record, video):
    reasons = [f["reason"] for f in fallback_record["fallbacks"]]
    assert "degenerate_scores" in reasons and "analysis_error" in reasons
    assert fallback_record["threshold"] is None and fallback_record["gmm"]["means"] == []
    fig = build_figure(fallback_record, video.path, dpi=40)
    text = _all_text(fig)
    assert "no GMM fit" in text and "degenerate_scores" in text and "analysis_error" in text
    n_errors = reasons.count("analysis_error")
    assert n_errors == 2 and "analysis_error x2" in text  # repeated reasons are counted, not repeated
    out = plot_trace(fallback_record, tmp_path / "fb.png", video=video.path, figsize=(9, 9), dpi=40)
    assert _png_size(out) == (360, 360) and out.stat().st_size > 10_000


def test_without_video_no_contact_sheet(tmp_path, lds_record):
    fig = build_figure(lds_record, None, dpi=40)
    assert not any(label.startswith("thumb:") for label in _labels(fig))
    missing = build_figure(lds_record, tmp_path / "gone.mp4", dpi=40)
    assert not any(label.startswith("thumb:") for label in _labels(missing))
    assert "video not found" in _all_text(missing)


def test_undecodable_video_draws_without_sheet(tmp_path, lds_record):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    fig = build_figure(lds_record, bad, dpi=40)
    assert not any(label.startswith("thumb:") for label in _labels(fig))
    assert "contact sheet skipped" in _all_text(fig)


def test_zoom_window_targets_event_with_most_final_frames(lds_record):
    track = _track(lds_record)
    window = zoom_window(track)
    assert window is not None
    start, end = window
    assert start <= EVIDENCE_S[0] and end >= EVIDENCE_S[1] - 1 and end - start < 0.4 * DURATION_S
    fig = build_figure(lds_record, None, dpi=40)
    zoom_ax = fig.axes[_labels(fig).index("zoom")]
    assert zoom_ax.get_xlim() == pytest.approx(window)
    assert "rounds" in _labels(fig)
    no_zoom = build_figure(lds_record, None, dpi=40, zoom=False)
    assert "zoom" not in _labels(no_zoom)


def test_thumbnail_limit(lds_record, video):
    fig = build_figure(lds_record, video.path, dpi=40, max_thumbs=3, thumbs_per_row=2)
    thumbs = [label for label in _labels(fig) if label.startswith("thumb:")]
    assert len(thumbs) == 3
    final = lds_record["frame_indices"]
    assert thumbs[0] == f"thumb:{final[0]}" and thumbs[-1] == f"thumb:{final[-1]}"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"error": "VideoDecodeError: boom"}, "failed sample"),
        ({"fps": None}, "missing fps"),
        ({"fps": 0}, "Invalid trace fps"),
    ],
)
def test_bad_records_raise_clear_errors(lds_record, change, message):
    with pytest.raises(ValueError, match=message):
        build_figure({**lds_record, **change})


def test_bad_options_raise(lds_record):
    with pytest.raises(ValueError, match="Invalid dpi"):
        build_figure(lds_record, dpi=0)
    with pytest.raises(ValueError, match="Invalid figsize"):
        build_figure(lds_record, figsize=(0, 3))


def test_format_time():
    assert format_time(0) == "0:00"
    assert format_time(75.4) == "1:15"
    assert format_time(3725) == "1:02:05"
    assert format_time(12.96, tenths=True) == "0:13.0"
    assert format_time(59.94, tenths=True) == "0:59.9"


def test_import_does_not_load_matplotlib_or_torch():
    import subprocess
    import sys

    code = ("import sys, air.plotting, air.cli; "
            "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_committed_example_asset_and_trace_plot(tmp_path):
    """assets/: the README figure exists and is small; its trace (scripts/make_example_figure.py) redraws."""
    from pathlib import Path

    assets = Path(__file__).resolve().parents[1] / "assets"
    png = assets / "example_selection.png"
    assert png.exists() and 50_000 < png.stat().st_size < 300_000
    record = json.loads((assets / "example_trace.json").read_text())
    assert {s[3] for s in record["scored"]} == {"sample", "lds"} and len(record["events"]) == 2
    fig = build_figure(record, None, dpi=30)
    assert {"track", "histogram", "zoom", "rounds"} <= set(_labels(fig))
    out = plot_trace(record, tmp_path / "again.png", dpi=30, figsize=(12, 7))
    assert _png_size(out) == (360, 210)


def test_baseline_trace_without_rounds_draws(video, tmp_path):
    """A uniform-baseline record (no rounds, no GMM, sample scores only) draws with its method in the title."""
    frames = np.linspace(0, video.n_frames - 1, 8).round().astype(int).tolist()
    record = {"method": "uniform", "video": str(video.path), "fps": FPS, "n_frames": video.n_frames,
              "frame_indices": frames, "budget": 8, "threshold": None, "gmm": {"means": [], "stds": []},
              "events": [], "rounds": [], "n_analyzed": 0, "stop_reason": "single_pass", "fallbacks": [],
              "scored": [[f, 0.2, 0.5, "sample"] for f in range(0, video.n_frames, 8)]}
    fig = build_figure(record, video.path, dpi=30)
    text = _all_text(fig)
    assert "uniform frame selection" in text and "0 analysed in 0 rounds" in text
    assert sum(label.startswith("thumb:") for label in _labels(fig)) == 8
    assert plot_trace(record, tmp_path / "u.png", dpi=30).stat().st_size > 5_000
