"""`air cache build`: the CLIP features of every video of lmms-eval tasks, precomputed as hvp would compute them.

Real paths throughout: lmms-eval's TaskManager on the bundled sample task (videos generated) and on local
tasks with broken videos, the tiny open_clip encoder, PyAV, the persistent FeatureCache, and a later
selection through `H_VPModel.from_pretrained` (tiny Qwen2.5-VL), the way hvp builds its model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from lmms_helpers import write_task

from air.base_models.utils.feature_cache import FeatureCache
from air.cache_build import parse_shard, shard_of
from air.cli import main
from air.sample_task import task_dir
from air.testing.videos import write_video

SAMPLE_VIDEOS = 3  # air_sample: 4 docs, docs 1 and 3 ask about the same video


@pytest.fixture(scope="module", autouse=True)
def sample_videos(tmp_path_factory):
    """The sample task generates its videos here (on first use, by its doc_to_visual)."""
    folder = tmp_path_factory.mktemp("sample_videos")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIR_SAMPLE_VIDEO_DIR", str(folder))
        yield folder


def build(capsys, cache_dir, clip, *args, task="air_sample", include=None) -> tuple[int, dict]:
    """Run `air cache build ... --json` in this process; returns (exit code, summary)."""
    argv = ["cache", "build", "--task", task, "--include_path", str(include or task_dir()), "--clip", clip,
            "--dir", str(cache_dir), "--json", "--no-progress", "--device", "cpu", *args]
    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr().out.strip().splitlines()
    return code, (json.loads(out[-1]) if code in (0, 1) and out else {})


def entries(cache_dir) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    cache = FeatureCache(cache_dir)
    out = {}
    for path in cache.entries():
        entry = cache.load(path.stem)
        assert entry is not None, path
        out[path.name] = (entry.indices, entry.features)
    return out


def test_two_shards_fill_the_same_entries_as_one_run_and_a_rerun_encodes_nothing(tmp_path, capsys, tiny):
    _, clip = tiny
    code, whole = build(capsys, tmp_path / "whole", clip)
    assert code == 0, whole
    assert whole["videos"] == SAMPLE_VIDEOS == len(whole["encoded"]) and whole["docs"] == 4
    assert whole["frames_encoded"] == 40 + 60 + 30, "one feature per second of the three videos (1-FPS samples)"
    assert not whole["failed"] and not whole["skipped"] and not whole["docs_without_video"]

    shards = []
    for i in range(2):
        code, summary = build(capsys, tmp_path / "sharded", clip, "--shard", f"{i}/2")
        assert code == 0, summary
        assert summary["shard"] == [i, 2] and summary["videos_all_shards"] == SAMPLE_VIDEOS
        shards.append(set(summary["encoded"]))
    assert not shards[0] & shards[1] and shards[0] | shards[1] == set(whole["encoded"]), "split by video"

    one, two = entries(tmp_path / "whole"), entries(tmp_path / "sharded")
    assert len(one) == SAMPLE_VIDEOS and sorted(one) == sorted(two), "the same keys"
    for name, (indices, features) in one.items():
        assert np.array_equal(indices, two[name][0])
        np.testing.assert_allclose(features, two[name][1], rtol=0, atol=1e-6)

    code, again = build(capsys, tmp_path / "sharded", clip)
    assert code == 0 and again["frames_encoded"] == 0 and not again["encoded"]
    assert sorted(again["skipped"]) == sorted(whole["encoded"]) and again["frames_from_cache"] == 130


def test_a_later_selection_as_hvp_builds_it_encodes_no_image_frame(tmp_path, capsys, tiny):
    """H_VPModel.from_pretrained (what hvp calls) with the build's CLIP model and settings reads every 1-FPS sample."""
    from air.model import H_VPModel
    from air.sample_task.utils import ensure_video

    pretrained, clip = tiny
    code, summary = build(capsys, tmp_path / "cache", clip, "--set", "clip_resize=squash", "--set", "decoder=pyav|decord")
    assert code == 0 and summary["frames_encoded"] == 130
    video = ensure_video({"video": "air_sample_1.mp4"})
    fast = {"max_rounds": 1, "candidates_per_round": 4, "analysis_batch_size": 4, "analysis_max_new_tokens": 4,
            "ablate_lds": True, "cache_dir": str(tmp_path / "cache")}  # no LDS: only the 1-FPS samples are scored

    def select(**fields):
        model = H_VPModel.from_pretrained(pretrained, clip_model=clip, device="cpu", **fast, **fields)
        return model.select(video, "Which colour appears briefly?", ["blue", "orange"]).to_dict()

    same = select(clip_resize="squash", decoder="pyav|decord")
    assert sum(1 for item in same["scored"] if item[3] == "sample") == 60
    assert same["clip_frames_encoded"] == 0 and same["clip_frames_from_cache"] == 60
    other = select()  # the default clip_resize=crop is another cache key: everything is encoded
    assert other["clip_frames_encoded"] == 60 and other["clip_frames_from_cache"] == 0


BROKEN_TASK_UTILS = '''\
import sys

from air.sample_task.utils import *  # noqa: F401,F403
from air.sample_task.utils import doc_to_visual as _sample_doc_to_visual


def doc_to_visual(doc):
    # as lmms-eval's Video-MME, MLVU and EgoSchema helpers do for a missing video
    if doc.get("exit_if_missing") and not __import__("os").path.exists(doc["video_path"]):
        sys.exit(f"video path:{doc['video_path']} does not exist, please check")
    return _sample_doc_to_visual(doc)
'''


def test_broken_and_missing_videos_are_reported_and_skipped(tmp_path, capsys, tiny):
    _, clip = tiny
    good = write_video(tmp_path / "good.mp4", duration_s=6, fps=5, size=(96, 64), segments=[(0, 6, "red")]).path
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    question = {"question": "Which colour?", "options": ["red", "blue"], "answer": "A"}
    docs = [{"id": "a", "video_path": str(good), **question},
            {"id": "b", "video_path": str(broken), **question},
            {"id": "c", "video_path": str(tmp_path / "nope.mp4"), **question},
            {"id": "d", "video_path": str(tmp_path / "gone.mp4"), "exit_if_missing": True, **question},
            {"id": "e", "video_path": str(good), **question}]
    include = write_task(tmp_path / "task", "air_t_broken", docs)
    (include / "utils.py").write_text(BROKEN_TASK_UTILS)

    code, summary = build(capsys, tmp_path / "cache", clip, task="air_t_broken", include=include)
    assert code == 0, "failures are reported, not fatal"
    assert summary["encoded"] == [str(good)] and summary["frames_encoded"] == 6, "docs a and e share one video"
    failed = {item["video"]: item["cause"] for item in summary["failed"]}
    assert sorted(failed) == sorted([str(broken), str(tmp_path / "nope.mp4")])
    assert failed[str(broken)].startswith("VideoDecodeError: Cannot decode video")
    assert "file not found" in failed[str(tmp_path / "nope.mp4")]
    assert summary["docs_without_video"] == [
        {"task": "air_t_broken", "doc_id": 3,
         "cause": f"SystemExit: video path:{tmp_path / 'gone.mp4'} does not exist, please check"}]
    assert len(entries(tmp_path / "cache")) == 1

    # the readable report names each failure; --strict turns failures into exit status 1
    capsys.readouterr()
    assert main(["cache", "build", "--task", "air_t_broken", "--include_path", str(include), "--clip", clip,
                 "--dir", str(tmp_path / "cache"), "--no-progress", "--strict"]) == 1
    report = capsys.readouterr().out
    assert "encoded 0 videos" in report and "skipped 1 already complete" in report and "failed 2" in report
    assert f"    {broken}: VideoDecodeError" in report
    assert "air_t_broken doc 3: SystemExit: video path:" in report


@pytest.mark.parametrize(("args", "message"), [
    (["--shard", "2/2"], "argument --shard: Invalid shard: '2/2'. Expected i/n with 0 <= i < n"),
    (["--shard", "a/b"], "argument --shard: Invalid shard: 'a/b'."),
    (["--set", "colour=red"], "argument --set/--clip: Unknown A.I.R. option(s): colour."),
    (["--set", "clip_resize=stretch"], "Invalid clip_resize"),
    (["--set", "clip_batch_size=0"],
     "argument --set/--clip: Invalid clip_batch_size: 0. Expected an int >= 1 and <= 65536 (frames per call)."),
    (["--include_path", "/nonexistent/tasks"], "argument --include_path: not a folder: /nonexistent/tasks"),
    (["--task", "air_sampel"], "Unknown task 'air_sampel'"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, args, message):
    argv = ["cache", "build", "--task", "air_sample", "--include_path", str(task_dir()),
            "--dir", str(tmp_path / "cache"), *args]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("air cache: error: ") and message in err, err
    if args[0] == "--task":
        assert "Close names: air_sample" in err


def test_a_cache_folder_that_cannot_be_made_is_refused_before_loading_anything(tmp_path, capsys):
    taken = tmp_path / "a_file"
    taken.write_text("not a folder")
    assert main(["cache", "build", "--task", "air_sample", "--dir", str(taken / "cache")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"air cache: error: argument --dir: cannot create the cache folder {taken / 'cache'}"), err


def test_shards_split_videos_evenly_and_the_same_way_everywhere():
    paths = [f"/data/videomme/video_{k:04d}.mp4" for k in range(2000)]
    counts = np.bincount([shard_of(p, 4) for p in paths], minlength=4)
    assert counts.sum() == 2000 and counts.min() > 420, counts  # 500 expected per shard
    assert [shard_of(p, 4) for p in paths[:50]] == [shard_of(p, 4) for p in paths[:50]]
    assert shard_of("/x.mp4", 1) == 0
    assert parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/4", "0/0", "1", "1/2/3", ""):
        with pytest.raises(ValueError, match="Expected i/n with 0 <= i < n"):
            parse_shard(bad)
