"""The `hvp` model through lmms-eval's real command line, offline, on tiny random-weight models.

Tiny Qwen2.5-VL + tiny open_clip, a local task with generated videos. Checks the results and samples
files (lmms-eval exits 0 even when evaluation fails) and the side-car traces.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from air.demo import build_tiny_models
from air.testing.videos import write_video
from air.traces import iter_trace_records
from lmms_helpers import FAST_ARGS, OFFLINE_ENV, results_of, run_lmms_eval, samples_of, write_task

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_models(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    good = []
    for i, (dur, fps) in enumerate([(12, 5), (20, 4), (9, 6)]):
        g = write_video(root / f"v{i}.mp4", duration_s=dur, fps=fps, size=(96, 64),
                        segments=[(0, dur / 2, "red"), (dur / 2, dur, "blue")], seed=i)
        good.append(str(g.path))
    broken = root / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    return good, str(broken)


def _docs(paths):
    return [
        {"id": f"d{i}", "video_path": p, "question": "Which colour is shown first?",
         "options": ["red", "blue", "green", "gray"], "answer": "A"}
        for i, p in enumerate(paths)
    ]


def _args(tiny, task, include, output, extra=""):
    pretrained, clip = tiny
    model_args = f"pretrained={pretrained},clip_model={clip},{FAST_ARGS},trace_dir={output / 'traces'}"
    if extra:
        model_args += "," + extra
    return ["--model", "hvp", "--model_args", model_args, "--tasks", task, "--include_path", str(include),
            "--batch_size", "1", "--output_path", str(output), "--log_samples"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_traces(output, n_docs):
    records = list(iter_trace_records(output / "traces"))
    ids = [r["doc_id"] for r in records]
    assert sorted(ids) == list(range(n_docs)), f"one trace per doc, got {ids}"
    return {r["doc_id"]: r for r in records}


def test_hvp_cli_end_to_end(tmp_path, tiny, videos):
    good, _ = videos
    include = write_task(tmp_path / "task", "air_t_good", _docs(good))
    output = tmp_path / "out"
    proc = run_lmms_eval(_args(tiny, "air_t_good", include, output))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_of(output)
    assert "accuracy,none" in results["results"]["air_t_good"], results["results"]
    assert len(samples_of(output, "air_t_good")) == 3
    traces = _check_traces(output, 3)
    for record in traces.values():
        assert not record.get("error"), record.get("error")
        assert record["frame_indices"] and all(0 <= f < record["n_frames"] for f in record["frame_indices"])
        assert record["n_analyzed"] <= 4 * 2
        assert record["task"] == "air_t_good" and "answer" in record
        assert record["config"]["max_rounds"] == 2
        assert record["question_id"] == f"d{record['doc_id']}"
    # export the selections, then replay them through lmms-eval: the same frames, no selection run
    from air.selection_io import export_selections

    selections = tmp_path / "selections.json"
    assert export_selections(traces.values(), selections) == 3
    output2 = tmp_path / "out2"
    proc = run_lmms_eval(_args(tiny, "air_t_good", include, output2, f"selection_file={selections}"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    replayed = _check_traces(output2, 3)
    for i in range(3):
        assert replayed[i]["frame_indices"] == traces[i]["frame_indices"]
        assert replayed[i]["replayed_from"] == str(selections) and "rounds" not in replayed[i]


def test_hvp_cli_broken_video_is_isolated(tmp_path, tiny, videos):
    good, broken = videos
    missing = str(tmp_path / "nope.mp4")
    include = write_task(tmp_path / "task", "air_t_mixed", _docs([good[0], broken, missing, good[2]]))
    output = tmp_path / "out"
    proc = run_lmms_eval(_args(tiny, "air_t_mixed", include, output))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accuracy,none" in results_of(output)["results"]["air_t_mixed"]
    samples = samples_of(output, "air_t_mixed")
    assert len(samples) == 4, "every sample is scored, the broken ones with an empty answer"
    traces = _check_traces(output, 4)
    assert not traces[0].get("error") and not traces[3].get("error")
    assert "VideoDecodeError" in traces[1]["error"] and "broken.mp4" in traces[1]["error"]
    assert "nope.mp4" in traces[2]["error"]
    assert traces[1]["answer"] == "" and traces[2]["answer"] == ""
    assert "failed, answered with ''" in proc.stderr + proc.stdout


def test_hvp_cli_resume_skips_traced_samples(tmp_path, tiny, videos):
    good, _ = videos
    include = write_task(tmp_path / "task", "air_t_resume", _docs(good))
    output = tmp_path / "out"
    traces_dir = output / "traces"
    traces_dir.mkdir(parents=True)
    # a previous (killed) run traced doc 1 already; a torn last line must not break the resume
    done = {"task": "air_t_resume", "doc_id": 1, "answer": "A", "frame_indices": [0], "n_analyzed": 0}
    (traces_dir / "traces_rank0.jsonl").write_text(json.dumps(done) + "\n" + '{"task": "air_t_res')
    proc = run_lmms_eval(_args(tiny, "air_t_resume", include, output, "resume=True"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = list(iter_trace_records(traces_dir))
    assert sorted(r["doc_id"] for r in records) == [0, 1, 2]
    assert [r for r in records if r["doc_id"] == 1] == [done], "doc 1 was not traced again"
    by_doc = {s["doc_id"]: s for s in samples_of(output, "air_t_resume")}
    assert by_doc[1]["filtered_resps"] == "A", "the stored answer is returned to lmms-eval"
    assert by_doc[1]["accuracy"] == 1.0


def test_hvp_cli_two_processes_lose_and_duplicate_nothing(tmp_path, tiny, videos):
    good, _ = videos
    include = write_task(tmp_path / "task", "air_t_multi", _docs(good))  # 3 docs over 2 ranks: padding
    output = tmp_path / "out"
    # torchrun is what `accelerate launch` runs on GPUs; on CPU, accelerate needs ACCELERATE_USE_CPU to
    # build its gloo process group (its own --cpu launcher wants MPI).
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", str(_free_port()), "-m", "lmms_eval"]
    proc = run_lmms_eval(_args(tiny, "air_t_multi", include, output), {"ACCELERATE_USE_CPU": "true"},
                         launcher=launcher)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accuracy,none" in results_of(output)["results"]["air_t_multi"]
    assert sorted((output / "traces").glob("traces_rank*.jsonl")) == [
        output / "traces" / "traces_rank0.jsonl", output / "traces" / "traces_rank1.jsonl"]
    records = list(iter_trace_records(output / "traces"))
    assert sorted(r["doc_id"] for r in records) == [0, 1, 2], "no doc lost or traced twice"
    assert len(samples_of(output, "air_t_multi")) == 3


def test_air_demo_end_to_end(tmp_path):
    """What `make demo` runs: tiny models built once, lmms-eval on air_sample, the printed summary."""
    out = tmp_path / "demo"
    stale = out / "traces"
    stale.mkdir(parents=True)
    (stale / "traces_rank0.jsonl").write_text(json.dumps({"task": "air_sample", "doc_id": 0, "answer": "old"}) + "\n")
    env = {**os.environ, **OFFLINE_ENV, "AIR_DEMO_CACHE": str(tmp_path / "tiny"),
           "AIR_SAMPLE_VIDEO_DIR": str(tmp_path / "videos"), "AIR_CLIP_CACHE_DIR": str(tmp_path / "cc")}
    proc = subprocess.run([sys.executable, "-m", "air", "demo", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert "RANDOM-WEIGHT" in text and "accuracy (air_sample):" in text
    doc_lines = [line for line in text.splitlines() if line.strip().startswith("doc ")]
    assert len(doc_lines) == 4 and all("frames selected" in line and "analysed" in line for line in doc_lines)
    assert "old" not in text, "a previous run's traces are not mixed in"
    figure = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("figure:"))
    assert os.path.getsize(figure) > 20_000
    report = next(line.split(":", 1)[1].split("(open", 1)[0].strip() for line in text.splitlines()
                  if line.startswith("report:"))
    assert report == str(out.resolve() / "report.html") and '"rows":[' in open(report).read()
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == [
        "air_sample_0.mp4", "air_sample_1.mp4", "air_sample_2.mp4"]
