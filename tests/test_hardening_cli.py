"""Every `air` command under bad paths and values (issue 15 items 3, 6, 8): one line `air <cmd>: error: ...`,
a non-zero exit, no traceback, no model loaded, nothing written outside the folder the user named.

The table runs in-process (fast); a few rows run again in a subprocess to see the real exit code and that
nothing hangs (FIFOs, /dev/zero). Read-only folders: `chmod 555` as a normal user; as root (who ignores
permissions) the folder is made immutable with `chattr +i`, and those rows are skipped where that fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from air.cli import main

TRACE = {"video": None, "fps": 6.0, "n_frames": 120, "frame_indices": [6, 30, 60], "budget": 8,
         "scored": [[0, 0.1, 0.2, "sample"], [6, 0.3, 0.9, "sample"], [12, 0.2, 0.5, "sample"]],
         "rounds": [], "events": [], "threshold": 0.5, "gmm": {"means": [0.2, 0.8], "stds": [0.1, 0.1]}}


def _env(**extra: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def air(*args, timeout: int = 120, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "air", *map(str, args)], capture_output=True, text=True,
                          env=_env(**env), timeout=timeout, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Inputs shared by the table: a video, traces, a garbage CLIP file, a FIFO, a file, a read-only folder."""
    from air.testing.videos import write_video

    root = tmp_path_factory.mktemp("hostile")
    video = write_video(root / "clip.mp4", duration_s=4, fps=6, size=(64, 48), segments=[(0, 4, "red")])
    trace = root / "trace.json"
    trace.write_text(json.dumps({**TRACE, "video": str(video.path)}))
    (root / "overflow.json").write_text(json.dumps(TRACE).replace('"fps": 6.0', '"fps": 1e400'))
    (root / "malformed.json").write_text(json.dumps({**TRACE, "scored": [[1, 2]]}))
    (root / "negative.jsonl").write_text(json.dumps({**TRACE, "task": "t", "doc_id": 0,
                                                     "frame_indices": [3, -4]}) + "\n")
    (root / "garbage.pt").write_bytes(os.urandom(2048))
    (root / "afile").write_text("a file, not a folder")
    os.mkfifo(root / "fifo.json")
    os.mkfifo(root / "2024_results.json")
    (root / "dir.png").mkdir()
    readonly = root / "readonly"
    readonly.mkdir()
    frozen = _freeze(readonly)
    yield {"root": root, "video": video.path, "trace": trace, "readonly": readonly if frozen else None}
    if frozen:
        _thaw(readonly)


def _freeze(folder: Path) -> bool:
    """Make `folder` unwritable for this process; False when that is impossible here."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False) if shutil.which("chattr") \
        else None
    if done is None or done.returncode != 0:
        return False
    try:
        (folder / "probe").touch()
    except OSError:
        return True
    (folder / "probe").unlink()
    _thaw(folder)
    return False


def _thaw(folder: Path) -> None:
    if os.geteuid() != 0:
        folder.chmod(0o755)
    else:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)


RUN = ["-q", "q", "--tiny"]
CASES = [
    # select / answer: everything is checked before any model is built or loaded
    ("select FIFO video", ["select", "{root}/fifo.json", *RUN], "argument VIDEO: Invalid file", 2),
    ("select folder video", ["select", "{root}", *RUN], "argument VIDEO: expected a file, got a directory", 2),
    ("select --out a file", ["select", "{video}", *RUN, "--out", "{root}/afile"], "argument --out:", 2),
    ("select --out read-only", ["select", "{video}", *RUN, "--out", "{readonly}/sub"],
     "argument --out: cannot write in folder", 2),
    ("select --name with a path", ["select", "{video}", *RUN, "--name", "../escape"], "argument --name: invalid", 2),
    ("select absurd --dpi", ["select", "{video}", *RUN, "--dpi", "100000"],
     "argument --dpi: invalid value 100000. Expected an int >= 10 and <= 1000.", 2),
    ("select sample_fps=1e-308", ["select", "{video}", *RUN, "--set", "sample_fps=1e-308"],
     "Invalid sample_fps: 1e-308. Expected a finite number >= 0.001", 2),
    ("select sample_fps=1e400", ["select", "{video}", *RUN, "--set", "sample_fps=1e400"], "Invalid sample_fps: inf", 2),
    ("select gmm_seed=2**32", ["select", "{video}", *RUN, "--set", "gmm_seed=4294967296"],
     "Invalid gmm_seed: 4294967296. Expected an int >= 0 and <= 4294967295.", 2),
    ("select frame_max_side=27", ["select", "{video}", *RUN, "--set", "frame_max_side=27"],
     "Invalid frame_max_side: 27. Expected an int >= 28", 2),
    ("answer analysis_max_new_tokens=0", ["answer", "{video}", *RUN, "--set", "analysis_max_new_tokens=0"],
     "Invalid analysis_max_new_tokens: 0. Expected an int >= 1", 2),
    ("select CLIP file not a model", ["select", "{video}", *RUN, "--clip", "openai:{root}/garbage.pt"],
     "argument --clip: Invalid OpenAI CLIP checkpoint", 2),
    ("select CLIP file missing", ["select", "{video}", *RUN, "--clip", "openai:{root}/none.pt"],
     "argument --clip: file not found", 2),
    ("select CLIP backend unknown", ["select", "{video}", *RUN, "--clip", "clap:x"],
     "argument --clip: invalid CLIP model name", 2),
    ("select --cache-dir a file", ["select", "{video}", *RUN, "--cache-dir", "{root}/afile"],
     "argument --cache-dir:", 2),
    # plot
    ("plot FIFO trace", ["plot", "{root}/fifo.json"], "a FIFO (named pipe). Expected a regular file.", 2),
    ("plot /dev/zero", ["plot", "/dev/zero"], "a character device. Expected a regular file.", 2),
    ("plot 1e400 in a trace", ["plot", "{root}/overflow.json"], "number 1e400 overflows a float", 2),
    ("plot malformed field", ["plot", "{root}/malformed.json", "--no-video", "--out", "{root}/m.png"],
     "cannot plot this trace: Invalid trace: a malformed field", 2),
    ("plot absurd --dpi", ["plot", "{trace}", "--dpi", "100000"], "argument --dpi: invalid value 100000", 2),
    ("plot NaN width", ["plot", "{trace}", "--width", "nan", "--height", "5"], "arguments --width/--height", 2),
    ("plot huge canvas", ["plot", "{trace}", "--width", "900", "--height", "900", "--dpi", "900"],
     "Invalid figure size: 810000 x 810000 pixels", 2),
    ("plot --out a folder", ["plot", "{trace}", "--out", "{root}/dir.png"], "argument --out:", 2),
    ("plot --out read-only", ["plot", "{trace}", "--out", "{readonly}/f.png"], "argument --out: cannot write", 2),
    ("plot --max-thumbs", ["plot", "{trace}", "--max-thumbs", "-1"], "argument --max-thumbs: invalid value -1", 2),
    # export
    ("export --out a folder", ["export", "{trace}", "--out", "{root}"], "argument --out:", 2),
    ("export --out read-only", ["export", "{trace}", "--out", "{readonly}/s.json"], "argument --out: cannot write", 2),
    ("export negative index", ["export", "{root}/negative.jsonl", "--out", "{root}/s.json"],
     "could not be replayed, so nothing was exported", 2),
    ("export /dev/zero", ["export", "/dev/zero", "--out", "{root}/s.json"], "a character device", 2),
    ("export 1e400", ["export", "{root}/overflow.json", "--out", "{root}/s.json"], "overflows a float", 2),
    # cache
    ("cache clear nan", ["cache", "clear", "--dir", "{root}", "--older-than", "nan"],
     "argument --older-than: invalid value nan. Expected a finite number of days >= 0.", 2),
    ("cache clear inf", ["cache", "clear", "--dir", "{root}", "--older-than", "inf"], "Expected a finite number", 2),
    ("cache clear -inf", ["cache", "clear", "--dir", "{root}", "--older-than=-inf"], "Expected a finite number", 2),
    ("cache info on a file", ["cache", "info", "--dir", "{root}/afile"], "argument --dir:", 2),
    # demo: values joined into lmms-eval's --model_args
    ("demo comma in --pretrained", ["demo", "--pretrained", "/ckpt/a,b", "--out", "{root}/demo"], "contains ,", 2),
    ("demo bracket in --clip", ["demo", "--clip", "open_clip:x/[y", "--out", "{root}/demo"], "contains [", 2),
    ("demo comma in --out", ["demo", "--out", "{root}/a,b"], "argument --out:", 2),
    ("demo --out a file", ["demo", "--out", "{root}/afile"], "argument --out:", 2),
    ("demo CLIP file not a model", ["demo", "--clip", "openai:{root}/garbage.pt", "--out", "{root}/demo"],
     "Invalid OpenAI CLIP checkpoint", 2),
    # report
    ("report FIFO results", ["report", "{root}/2024_results.json", "-o", "{root}/r.html"],
     "neither a regular file nor a folder", 2),
    ("report -o read-only", ["report", "{trace}", "-o", "{readonly}/r.html"], "argument -o/--out: cannot write", 2),
]


@pytest.mark.parametrize("name, args, message, code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(world, capsys, monkeypatch, name, args, message, code):
    if "{readonly}" in " ".join(args) and world["readonly"] is None:
        pytest.skip("no way to make a folder read-only for this user here")
    monkeypatch.setenv("AIR_DEMO_CACHE", str(world["root"] / "never-built"))
    argv = [a.format(root=world["root"], video=world["video"], trace=world["trace"], readonly=world["readonly"])
            for a in args]
    before = set(world["root"].iterdir())
    result = main(argv)
    err = capsys.readouterr().err
    assert result == code, err
    assert err.startswith(f"air {argv[0]}: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert not (world["root"] / "never-built").exists(), "a model was built before the input was checked"
    created = {p.name for p in set(world["root"].iterdir()) - before}
    assert created <= {"demo", "sub"}, f"wrote {created} although the input was refused"


@pytest.mark.parametrize("args", [["plot", "{root}/fifo.json"], ["select", "{root}/fifo.json", "-q", "q", "--tiny"],
                                  ["select", "{video}", "-q", "q", "--tiny", "--set", "sample_fps=1e-308"],
                                  ["cache", "clear", "--dir", "{root}", "--older-than", "nan"]])
def test_in_a_subprocess_nothing_hangs_and_no_traceback(world, args):
    argv = [a.format(root=world["root"], video=world["video"]) for a in args]
    run = air(*argv, timeout=120, AIR_DEMO_CACHE=str(world["root"] / "never-built"))
    assert run.returncode == 2 and run.stderr.startswith(f"air {argv[0]}: error: "), run.stderr
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1


def test_cache_clear_nan_deletes_nothing(tmp_path):
    from air.base_models.utils.feature_cache import FeatureCache

    video = tmp_path / "v.mp4"
    video.write_bytes(b"v" * 100)
    cache = FeatureCache(tmp_path / "cache")
    import numpy as np

    cache.add(cache.key(video, decoder="pyav", preprocess="crop224", encoder_name="e"), [0],
              np.ones((1, 4), np.float32))
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="finite number >= 0"):
            cache.clear(older_than_days=bad)
    assert main(["cache", "clear", "--dir", str(cache.root), "--older-than", "nan"]) == 2
    assert cache.info()["entries"] == 1


# -- writes stay where the user said (item 3) ----------------------------------------------------------
def test_plot_default_output_never_follows_names_from_the_trace(tmp_path, capsys):
    traces = tmp_path / "run" / "traces"
    traces.mkdir(parents=True)
    hostile = {**TRACE, "task": "../../../escape", "doc_id": "../../x/y"}
    (traces / "traces_rank0.jsonl").write_text(json.dumps(hostile) + "\n")
    assert main(["plot", str(traces / "traces_rank0.jsonl"), "--no-video", "--dpi", "20"]) == 0, capsys.readouterr()
    written = [p for p in tmp_path.rglob("*.png")]
    assert len(written) == 1 and written[0].parent == traces, written
    assert "/" not in written[0].name and not written[0].name.startswith(".")
    assert written[0].name == "traces_rank0__.._.._escape_doc_.._x_y.png"


def test_plot_replaces_a_planted_link_instead_of_writing_through_it(world, tmp_path):
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    out = tmp_path / "figure.png"
    out.symlink_to(victim)
    (tmp_path / "figure.png.tmp").symlink_to(victim)  # a guessable temp name, planted too
    assert main(["plot", str(world["trace"]), "--no-video", "--dpi", "20", "--out", str(out)]) == 0
    assert victim.read_bytes() == b"precious"
    assert not out.is_symlink() and out.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "figure.png.tmp", "victim.png"]


def test_existing_outputs_are_replaced(world, tmp_path):
    """The convention of every command: an existing output file is replaced (atomically); folders are refused."""
    out = tmp_path / "sel.json"
    out.write_text("old")
    record = {**TRACE, "task": "t", "doc_id": 1}
    (tmp_path / "t.jsonl").write_text(json.dumps(record) + "\n")
    assert main(["export", str(tmp_path / "t.jsonl"), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["selections"][0]["frame_indices"] == [6, 30, 60]


def test_demo_figure_name_from_the_trace_is_sanitised(tmp_path):
    from air.demo import _figure

    path = _figure([{**TRACE, "doc_id": "../../../../tmp/evil"}], tmp_path)
    assert path.parent == tmp_path and path.exists() and "/" not in path.name[len("trace_doc"):]


def test_demo_model_args_values_are_checked_before_anything_runs(tmp_path):
    from air.demo import lmms_eval_command, run_demo

    with pytest.raises(ValueError, match="Invalid pretrained: '/ckpt/a,b' contains ,"):
        run_demo(str(tmp_path / "out"), pretrained="/ckpt/a,b")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="Invalid clip_model: .* contains \""):
        lmms_eval_command("/ckpt/a", 'open_clip:x/"y', tmp_path)
    cmd = lmms_eval_command("/ckpt/my model", "open_clip:x/y", tmp_path)
    assert cmd[cmd.index("--model_args") + 1] == f"pretrained=/ckpt/my model,clip_model=open_clip:x/y,trace_dir={tmp_path}/traces"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_passes_pretrained_and_clip_as_single_quoted_arguments(tmp_path):
    """`make demo PRETRAINED=...` with spaces and shell syntax: one argument each, nothing executed."""
    fake = tmp_path / "fakepy"
    fake.write_text('#!/bin/bash\nprintf "%s\\n" "$@" > "$ARGS_OUT"\n')
    fake.chmod(0o755)
    root = Path(__file__).resolve().parents[1]
    pretrained = f"/ckpt/my model; touch {tmp_path}/pwned"
    clip = f"open_clip:x/`touch {tmp_path}/pwned2`"
    run = subprocess.run(["make", "-s", "-C", str(root), "-o", "install", "demo", f"PY={fake}",
                          f"PRETRAINED={pretrained}", f"CLIP={clip}"], capture_output=True, text=True,
                         env=_env(ARGS_OUT=str(tmp_path / "args")), timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "args").read_text().splitlines() == ["-m", "air", "demo", "--pretrained", pretrained,
                                                            "--clip", clip]
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    run = subprocess.run(["make", "-s", "-C", str(root), "-o", "install", "demo", f"PY={fake}"],
                         capture_output=True, text=True, env=_env(ARGS_OUT=str(tmp_path / "args")), timeout=60,
                         check=False)
    assert run.returncode == 0 and (tmp_path / "args").read_text().splitlines() == ["-m", "air", "demo"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_files_are_one_line_errors(world, tmp_path, capsys):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(TRACE))
    secret.chmod(0)
    for argv, message in ((["plot", str(secret)], "argument TRACE: cannot read"),
                          (["export", str(secret), "--out", str(tmp_path / "s.json")], "argument SOURCE: cannot read"),
                          (["select", str(secret), "-q", "q", "--tiny"], "argument VIDEO: cannot read")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"air {argv[0]}: error: {message}") and "Permission denied" in err, err
