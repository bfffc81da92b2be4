"""The `air` command line: every command in a subprocess on a generated video with tiny models.

`air select` and `air answer` run once each (in parallel, module fixture) with --tiny, which builds the
tiny random-weight Qwen2.5-VL and open_clip offline into a per-process temp folder; the other commands
work on their outputs. Argument errors are checked in-process (fast) and through a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from air.cli import main

FAST_SETS = ["--set", "max_rounds=2", "--set", "candidates_per_round=4", "--set", "analysis_batch_size=4",
             "--set", "analysis_max_new_tokens=6"]
QUESTION = "Which colour comes last?"


def _env(**extra: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def air(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "air", *map(str, args)], capture_output=True, text=True,
                          env=env or _env(), timeout=timeout, check=False)


def _png_size(path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    from air.testing.videos import write_video

    video = write_video(root / "clip.mp4", duration_s=20, fps=6, size=(128, 96),
                        segments=[(0, 12, "red"), (12, 20, "green")], seed=2)
    return root, video


@pytest.fixture(scope="module")
def runs(work):
    """`air select` and `air answer` launched together (two processes; each loads torch once)."""
    root, video = work
    cache = root / "clip_cache"
    commands = {
        "select": ["select", video.path, "--question", QUESTION, "--options", "red", "green", "--tiny",
                   *FAST_SETS, "--out", root / "sel", "--dpi", "50"],
        "answer": ["answer", video.path, "-q", QUESTION, "--options", "red", "green", "--tiny",
                   "--preset", "efficient_16_4_4", *FAST_SETS, "--out", root / "ans", "--name", "ans",
                   "--max-new-tokens", "3", "--no-figure"],
    }
    procs = {
        name: subprocess.Popen([sys.executable, "-m", "air", *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=_env(AIR_DEMO_CACHE=str(root / f"tiny_{name}"), AIR_CLIP_CACHE_DIR=str(cache)))
        for name, args in commands.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


def _printed_path(stdout: str, label: str) -> Path:
    lines = [line for line in stdout.splitlines() if line.strip().startswith(label)]
    assert lines, f"no '{label}' line in:\n{stdout}"
    return Path(lines[-1].split(label, 1)[1].strip())


# -- select / answer --------------------------------------------------------------------------------
def test_select_writes_trace_figure_and_summary(runs, work):
    root, video = work
    run = runs["select"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "RANDOM-WEIGHT" in run.stderr
    out = run.stdout
    for needle in ("budget", "events", "rounds 2", "frames analysed", "stop reason", "final frames", "seconds:"):
        assert needle in out, (needle, out)
    trace_path = _printed_path(out, "trace:")
    assert trace_path.parent == root / "sel" and trace_path.suffix == ".json"
    text = trace_path.read_text()
    record = json.loads(text)
    assert text.startswith('{\n "video": ') and len(text.splitlines()) == len(record) + 2  # one key per line
    assert record["question"] == QUESTION and record["options"] == ["red", "green"]
    assert record["method"] == "air" and record["command"] == "select" and record["tiny_random_weights"] is True
    assert record["n_frames"] == video.n_frames and record["fps"] == pytest.approx(6.0)
    frames = record["frame_indices"]
    assert frames == sorted(frames) and 1 <= len(frames) <= record["budget"]
    assert all(0 <= f < video.n_frames for f in frames)
    assert record["config"]["max_rounds"] == 2 and record["config"]["candidates_per_round"] == 4
    assert record["n_analyzed"] <= 8
    # every final frame is printed with its timestamp
    for f in frames:
        assert f"{f}@" in out
    figure = _printed_path(out, "figure:")
    assert figure.exists() and figure.stat().st_size > 10_000
    width, height = _png_size(figure)
    assert width == 13 * 50 and height > 6 * 50


def test_answer_adds_the_backbones_answer(runs, work):
    root, _video = work
    run = runs["answer"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "answer: " in run.stdout
    record = json.loads((root / "ans" / "ans.json").read_text())
    assert isinstance(record["answer"], str) and record["command"] == "answer"
    assert "A. red" in record["prompt"] and "letter" in record["prompt"]
    assert record["config"]["max_frames"] == 16  # the preset applied
    assert record["config"]["candidates_per_round"] == 4  # --set overrides the preset
    assert "answer" in record["timings_s"]
    assert not (root / "ans" / "ans.png").exists()  # --no-figure


# -- plot -------------------------------------------------------------------------------------------
def _select_trace(runs) -> Path:
    assert runs["select"].returncode == 0, runs["select"].stderr[-2000:]
    return _printed_path(runs["select"].stdout, "trace:")


def test_plot_from_saved_trace_with_configured_size(runs, tmp_path):
    trace = _select_trace(runs)
    out = tmp_path / "figs" / "plot.png"
    run = air("plot", trace, "--out", out, "--width", "10", "--height", "8", "--dpi", "50")
    assert run.returncode == 0, run.stderr
    assert out.exists() and _png_size(out) == (500, 400)
    assert "figure:" in run.stdout and "budget" in run.stdout


def test_plot_side_car_jsonl_by_doc_id(runs, tmp_path):
    record = json.loads(_select_trace(runs).read_text())
    sidecar = tmp_path / "traces_rank0.jsonl"
    lines = [dict(record, task="t", doc_id=0), dict(record, task="t", doc_id=1, video=str(tmp_path / "gone.mp4")),
             {"task": "t", "doc_id": 2, "error": "VideoDecodeError: bad", "answer": ""},
             {"task": "t", "doc_id": 3, "video": record["video"], "frame_indices": [5, 50, 100],
              "replayed_from": "sel.json", "answer": "A"}]
    sidecar.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"task": "t", "doc_')  # torn last line
    run = air("plot", sidecar, "--doc-id", "1", "--dpi", "40")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "traces_rank0_t_doc1.png").exists()
    assert "not found" in run.stdout  # drew without the contact sheet and said so
    ambiguous = air("plot", sidecar)
    assert ambiguous.returncode == 2 and "4 traces" in ambiguous.stderr and "t:1" in ambiguous.stderr
    missing = air("plot", tmp_path, "--doc-id", "7")  # a trace folder
    assert missing.returncode == 2 and "--doc-id=7" in missing.stderr
    failed = air("plot", sidecar, "--doc-id", "2")
    assert failed.returncode == 2 and "failed sample" in failed.stderr
    # a replayed selection has no fps in its record: the timeline comes from the video
    replayed = air("plot", sidecar, "--doc-id", "3", "--out", tmp_path / "replayed.png", "--dpi", "40")
    assert replayed.returncode == 0, replayed.stderr
    assert (tmp_path / "replayed.png").exists()
    no_video = air("plot", sidecar, "--doc-id", "3", "--no-video")
    assert no_video.returncode == 2 and "missing fps" in no_video.stderr


# -- export -----------------------------------------------------------------------------------------
def test_export_select_trace_and_trace_folder(runs, work, tmp_path):
    from air.selection_io import load_selection_file

    _root, video = work
    trace = _select_trace(runs)
    record = json.loads(trace.read_text())
    out = tmp_path / "selections.json"
    run = air("export", trace, "--out", out)
    assert run.returncode == 0, run.stderr
    assert "wrote 1 selections" in run.stdout
    sel = load_selection_file(out)
    assert sel.frames_for(video=str(video.path)) == record["frame_indices"]
    (entry,) = sel.entries
    assert entry["method"] == "air" and entry["timestamps_s"] == [round(f / 6.0, 4) for f in record["frame_indices"]]

    folder = tmp_path / "traces"
    folder.mkdir()
    (folder / "traces_rank0.jsonl").write_text(json.dumps(dict(record, task="t", doc_id=0)) + "\n"
                                               + json.dumps({"task": "t", "doc_id": 1, "error": "x"}) + "\n")
    (folder / "traces_rank1.jsonl").write_text(json.dumps(dict(record, task="u", doc_id=5)) + "\n")
    run = air("export", folder, "--out", tmp_path / "all.json")
    assert run.returncode == 0 and "wrote 2 selections" in run.stdout and "1 failed" in run.stdout
    assert load_selection_file(tmp_path / "all.json").frames_for(task="u", doc_id=5) == record["frame_indices"]
    only_u = air("export", folder, "--out", tmp_path / "u.json", "--task", "u")
    assert only_u.returncode == 0 and "wrote 1 selections" in only_u.stdout
    empty = air("export", folder, "--out", tmp_path / "none.json", "--task", "nope")
    assert empty.returncode == 1 and "no selections" in empty.stderr and not (tmp_path / "none.json").exists()


# -- cache ------------------------------------------------------------------------------------------
def test_cache_info_and_clear(runs, work):
    root, _video = work
    assert runs["select"].returncode == 0 and runs["answer"].returncode == 0
    cache = root / "clip_cache"
    info = air("cache", "info", "--dir", cache, "--json")
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["entries"] == 2  # one per CLIP encoder (each --tiny run built its own)
    assert data["frames"] >= 2 * 20 and data["bytes"] > 0
    text = air("cache", "info", "--dir", cache)
    assert "entries: 2" in text.stdout and str(cache) in text.stdout
    kept = air("cache", "clear", "--dir", cache, "--older-than", "1")
    assert kept.returncode == 0 and "removed 0 of 2" in kept.stdout
    cleared = air("cache", "clear", env=_env(AIR_CLIP_CACHE_DIR=str(cache)))  # the folder from the environment
    assert cleared.returncode == 0 and "removed 2 of 2" in cleared.stdout
    assert json.loads(air("cache", "info", "--dir", cache, "--json").stdout)["entries"] == 0


# -- help and argument errors -----------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["select"], ["answer"], ["plot"], ["export"], ["cache"], ["cache", "info"],
                                     ["cache", "clear"], ["demo"], ["sample-task-path"]])
def test_help_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: air")
    if command[:1] in (["select"], ["answer"]):
        assert "(default: air_out)" in text and "--set KEY=VALUE" in text and "--tiny" in text


def test_help_in_a_subprocess_and_console_script():
    run = air("--help")
    assert run.returncode == 0 and "select" in run.stdout and "cache" in run.stdout
    script = Path(sys.executable).with_name("air")
    if script.exists():
        run = subprocess.run([str(script), "plot", "--help"], capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 0 and "--doc-id" in run.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["select", "{missing}", "-q", "q", "--tiny"], "argument VIDEO: file not found"),
        (["select", "{video}", "-q", "q"], "argument --pretrained is required"),
        (["select", "{video}", "-q", "q", "--tiny", "--pretrained", "x"], "exclude each other"),
        (["select", "{video}", "-q", "q", "--tiny", "--set", "max_frames"], "Expected KEY=VALUE"),
        (["select", "{video}", "-q", "q", "--tiny", "--set", "max_frame=3"], "unknown key(s) max_frame"),
        (["select", "{video}", "-q", "q", "--tiny", "--set", "max_frames=0"], "Invalid max_frames: 0"),
        (["answer", "{video}", "-q", "q", "--tiny", "--set", "trust_remote_code=maybe"], "trust_remote_code"),
        (["select", "{video}", "-q", "q", "--pretrained", "acme/unknown-model"], "argument --pretrained: No backbone"),
        (["answer", "{video}", "-q", "q", "--tiny", "--max-new-tokens", "0"], "--max-new-tokens"),
        (["plot", "{missing}"], "argument TRACE: file not found"),
        (["plot", "{video}"], "not valid JSON"),
        (["plot", "{trace}", "--width", "5"], "give both"),
        (["plot", "{trace}", "--video", "{missing}"], "argument --video: file not found"),
        (["plot", "{selfile}"], "is a selection file"),
        (["export", "{missing}", "--out", "{tmp}/x.json"], "argument SOURCE: file not found"),
        (["cache", "clear", "--older-than", "-1", "--dir", "{tmp}"], "--older-than"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args, message, tmp_path, work, capsys):
    _root, video = work
    trace = tmp_path / "t.json"
    trace.write_text(json.dumps({"fps": 6, "frame_indices": [1], "video": None}))
    selfile = tmp_path / "s.json"
    selfile.write_text(json.dumps({"format": "air-selections/1", "selections": []}))
    values = {"missing": tmp_path / "nope.mp4", "video": video.path, "trace": trace, "selfile": selfile,
              "tmp": tmp_path}
    argv = [a.format(**values) for a in args]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and err.startswith(f"air {argv[0]}: error:")


@pytest.mark.parametrize("args, message", [
    (["select", "v.mp4", "-q", "q", "--preset", "fastest"], "invalid choice: 'fastest'"),
    (["select", "v.mp4"], "the following arguments are required: -q/--question"),
    (["cache", "purge"], "invalid choice: 'purge'"),
    (["plot", "t.json", "--dpi", "many"], "argument --dpi: invalid int value"),
])
def test_argparse_errors_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_argument_in_a_subprocess(tmp_path):
    run = air("select", tmp_path / "absent.mp4", "-q", "q", "--tiny")
    assert run.returncode == 2
    assert "air select: error: argument VIDEO: file not found" in run.stderr and "Traceback" not in run.stderr
    run = air("select", tmp_path / "absent.mp4", "-q", "q", "--preset", "nope")
    assert run.returncode == 2 and "--preset" in run.stderr


def test_undecodable_video_fails_with_exit_1_naming_the_file(tmp_path, work):
    """A video that exists but cannot be decoded fails (exit 1) before any model loads, naming the file."""
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    run = air("select", bad, "-q", "q", "--tiny", *FAST_SETS, "--out", tmp_path / "o",
              env=_env(AIR_DEMO_CACHE=str(tmp_path / "no_models")))
    assert run.returncode == 1, run.stderr[-2000:]
    assert "air select: error: Cannot decode video" in run.stderr and "garbage.mp4" in run.stderr
    assert "Traceback" not in run.stderr and "RANDOM-WEIGHT" not in run.stderr
    assert not (tmp_path / "no_models").exists()  # failed before building or loading models
