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

from air.testing.videos import write_video
from air.traces import iter_trace_records
from lmms_helpers import FAST_ARGS, OFFLINE_ENV, results_of, run_lmms_eval, samples_of, write_task

pytestmark = pytest.mark.slow


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


def _args(tiny, task, include, output, extra="", trace_dir=None, batch_size=1):
    pretrained, clip = tiny
    model_args = f"pretrained={pretrained},clip_model={clip},{FAST_ARGS},trace_dir={trace_dir or output / 'traces'}"
    if extra:
        model_args += "," + extra
    return ["--model", "hvp", "--model_args", model_args, "--tasks", task, "--include_path", str(include),
            "--batch_size", str(batch_size), "--output_path", str(output), "--log_samples"]


def _strict_json_lines(path):
    """Every line of a JSONL file, parsed strictly (NaN/Infinity refused)."""
    def refuse(name):
        raise ValueError(f"{path} holds {name}: not strict JSON")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory, tiny, videos):
    """One hvp run over the three good videos, shared by the end-to-end, replay and resume tests."""
    good, _ = videos
    root = tmp_path_factory.mktemp("good")
    include = write_task(root / "task", "air_t_good", _docs(good))
    output = root / "out"
    proc = run_lmms_eval(_args(tiny, "air_t_good", include, output))
    return {"include": include, "output": output, "proc": proc, "log": proc.stdout + proc.stderr}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_traces(output, n_docs):
    records = list(iter_trace_records(output / "traces"))
    ids = [r["doc_id"] for r in records]
    assert sorted(ids) == list(range(n_docs)), f"one trace per doc, got {ids}"
    return {r["doc_id"]: r for r in records}


def test_hvp_cli_end_to_end(tmp_path, tiny, good_run):
    from air.sample_task.utils import doc_to_text

    include, output, proc = good_run["include"], good_run["output"], good_run["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_of(output)
    assert "accuracy,none" in results["results"]["air_t_good"], results["results"]
    assert len(samples_of(output, "air_t_good")) == 3
    traces = _check_traces(output, 3)
    docs = [json.loads(line) for line in (include / "air_t_good.jsonl").read_text().splitlines()]
    hashes = set()
    for doc_id, record in traces.items():
        assert not record.get("error"), record.get("error")
        assert record["frame_indices"] and all(0 <= f < record["n_frames"] for f in record["frame_indices"])
        assert record["n_analyzed"] <= 4 * 2
        assert record["task"] == "air_t_good" and "answer" in record
        assert record["config"]["max_rounds"] == 2
        assert record["question_id"] == f"d{record['doc_id']}"
        # what the backbone was asked: the task's own prompt, the CLIP query, the analysis prompt version
        assert record["prompt"] == doc_to_text(docs[doc_id])
        assert record["query"].startswith("Which colour is shown first?") and "A. red" in record["query"]
        assert record["analysis_prompt_version"] >= 1 and record["gen_kwargs"]["max_new_tokens"] == 4
        # unknown task: recognised by nothing, read through the context parser, said in every record
        assert record["task_recognition"]["via"] == "unknown" and record["task_recognition"]["helper"] is None
        parts = record["fingerprint"]["parts"]
        assert parts["method"] == "air" and parts["config"]["max_rounds"] == 2 and parts["model"]["pretrained"]
        assert parts["analysis_prompt_version"] == record["analysis_prompt_version"]
        hashes.add(record["fingerprint"]["hash"])
    assert len(hashes) == 1, "one configuration, one fingerprint"
    assert len(_strict_json_lines(output / "traces" / "traces_rank0.jsonl")) == 3
    # hvp's own lines show in lmms-eval's (loguru) output, once each: start-up INFO, the unknown-task warning
    log = good_run["log"]
    assert log.count("hvp: rank 0/1 on cpu, traces in") == 1 and "INFO" in log.split("hvp: rank 0/1")[0][-200:]
    assert log.count("task 'air_t_good' is not a known benchmark task") == 1, "warned once per task, not per doc"

    # export the selections, then replay them through lmms-eval: the same frames, no selection run
    from air.selection_io import export_selections

    selections = tmp_path / "selections.json"
    assert export_selections(traces.values(), selections) == 3
    json.loads(selections.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in the export"))
    output2 = tmp_path / "out2"
    proc = run_lmms_eval(_args(tiny, "air_t_good", include, output2, f"selection_file={selections}"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    replayed = _check_traces(output2, 3)
    for i in range(3):
        assert replayed[i]["frame_indices"] == traces[i]["frame_indices"]
        assert replayed[i]["replayed_from"] == str(selections) and "rounds" not in replayed[i]
        assert replayed[i]["prompt"] == traces[i]["prompt"]
        assert replayed[i]["fingerprint"]["parts"]["selection_file"]["path"] == str(selections)
    assert "hvp: replaying 3 selections from" in proc.stdout + proc.stderr


def test_hvp_cli_batch_size_3_traces_as_batch_size_1(tmp_path, tiny, good_run):
    """--batch_size 3: the three requests' selection loops share their analysis calls; every answer and
    trace record is the one of the --batch_size 1 run (good_run), in the same order."""
    assert good_run["proc"].returncode == 0, good_run["proc"].stderr[-3000:]
    output = tmp_path / "out"
    proc = run_lmms_eval(_args(tiny, "air_t_good", good_run["include"], output, batch_size=3))
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "hvp: batch_size=3: the selection loops of 3 requests at a time share their analysis calls" in log
    assert "analysis_batch_size=12 sends each step in one call" in log  # FAST_ARGS: 4 candidates x 3 loops

    def comparable(folder):
        # timings differ; the CLIP counts too, since this run finds good_run's features in the shared cache
        skip = {"seconds", "timings_s", "clip_frames_encoded", "clip_frames_from_cache"}
        return [{k: v for k, v in r.items() if k not in skip} for r in iter_trace_records(folder)]

    one, three = comparable(good_run["output"] / "traces"), comparable(output / "traces")
    assert [r["doc_id"] for r in three] == [0, 1, 2] and all(not r.get("error") for r in three)
    assert three == one
    answers = lambda out: {s["doc_id"]: s["filtered_resps"] for s in samples_of(out, "air_t_good")}  # noqa: E731
    assert answers(output) == answers(good_run["output"])


def test_hvp_cli_bad_selection_file_stops_the_run_at_start(tmp_path, tiny, videos):
    good, _ = videos
    include = write_task(tmp_path / "task", "air_t_badsel", _docs(good[:1]))
    output = tmp_path / "out"
    bad = tmp_path / "typo_selections.json"
    proc = run_lmms_eval(_args(tiny, "air_t_badsel", include, output, f"selection_file={bad}"))
    log = proc.stdout + proc.stderr
    # lmms-eval exits 0 even when the model cannot start: the proof is in its output and the missing results
    assert f"Invalid selection file {bad}: no such file" in log, log[-3000:]
    assert not list(output.glob("**/*_results.json")), "no results: the run ended"
    assert not (output / "traces").exists(), "it ended before any sample (no trace file was even opened)"
    assert "hvp: rank 0/1" not in log, "it ended before the models were loaded"


# A user's copy of lmms-eval's videomme_w_subtitle under another name, pointed at local data: same hooks
# (its utils.py re-exports lmms-eval's), a local JSONL with Video-MME's fields, videos and .srt files in
# the layout lmms-eval (and benchmark_utils.mme_utils) expect under $HF_HOME/videomme.
RENAMED_MME_YAML = """dataset_path: json
dataset_kwargs:
  data_files:
    test: my_videomme_subs.jsonl
task: my_videomme_subs
test_split: test
output_type: generate_until
doc_to_visual: !function utils.videomme_doc_to_visual
doc_to_text: !function utils.videomme_doc_to_text_subtitle
doc_to_target: "answer"
generation_kwargs:
  max_new_tokens: 4
  temperature: 0
  do_sample: false
process_results: !function utils.videomme_process_results
metric_list:
  - metric: videomme_perception_score
    aggregation: !function utils.videomme_aggregate_results
    higher_is_better: true
lmms_eval_specific_kwargs:
  default:
    frame_num: 32
    pre_prompt: ""
    post_prompt: "\\nAnswer the question using a single word or phrase."
metadata:
  version: 0.0
"""
CUE_S = 2.0  # one subtitle cue every 2 s: "line-00", "line-01", ...


def _srt(duration_s: float) -> str:
    def stamp(t):
        return f"00:00:{int(t):02d},{int(round((t % 1) * 1000)):03d}"

    blocks = []
    for k in range(int(duration_s / CUE_S)):
        text = f'<font color="white" size=".72c">line-{k:02d}</font>'
        blocks.append(f"{k + 1}\n{stamp(k * CUE_S)} --> {stamp((k + 1) * CUE_S)}\n{text}\n")
    return "\n".join(blocks)


def test_hvp_cli_renamed_videomme_copy_gets_subtitles_at_the_selected_frames(tmp_path, tiny):
    from benchmark_utils.mme_utils import SUBTITLES_HEADER

    hf_home = tmp_path / "hf_home"
    docs = []
    for i, video_id in enumerate(["localA0001", "localB0002"]):
        write_video(hf_home / "videomme" / "data" / f"{video_id}.mp4", duration_s=20, fps=5, size=(96, 64),
                    segments=[(0, 10, "red"), (10, 20, "blue")], seed=i)
        srt = hf_home / "videomme" / "subtitle" / f"{video_id}.srt"
        srt.parent.mkdir(parents=True, exist_ok=True)
        srt.write_text(_srt(20))
        docs.append({"video_id": f"00{i}", "duration": "short", "domain": "Knowledge",
                     "sub_category": "Humanity & History", "url": "", "videoID": video_id,
                     "question_id": f"00{i}-1", "task_type": "Counting Problem",
                     "question": "Which colour is shown first?",
                     "options": ["A. red.", "B. blue.", "C. green.", "D. gray."], "answer": "A"})
    include = tmp_path / "task"
    include.mkdir()
    (include / "my_videomme_subs.yaml").write_text(RENAMED_MME_YAML)
    (include / "utils.py").write_text("from lmms_eval.tasks.videomme.utils import *  # noqa: F401,F403\n")
    (include / "my_videomme_subs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    output = tmp_path / "out"
    proc = run_lmms_eval(_args(tiny, "my_videomme_subs", include, output), {"HF_HOME": str(hf_home)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "videomme_perception_score,none" in results_of(output)["results"]["my_videomme_subs"], proc.stderr[-3000:]
    contexts = {s["doc_id"]: s["input"] for s in samples_of(output, "my_videomme_subs")}
    traces = _check_traces(output, 2)
    for doc_id, record in traces.items():
        assert not record.get("error"), record["error"]
        recognition = record["task_recognition"]
        assert (recognition["via"], recognition["helper"], recognition["subtitles"]) == ("doc_fields", "mme_utils", True)
        assert recognition["subtitles_via"] == "context: lmms-eval's subtitle header"
        assert record["question_id"] == f"00{doc_id}-1"
        # lmms-eval's own context holds the cues at 32 uniform frames: all ten of them
        assert all(f"line-{k:02d}" in contexts[doc_id] for k in range(10))
        # the prompt sent holds exactly the cues shown at the frames A.I.R. selected (fps 5: cue = frame // 10)
        expected = sorted({f // int(CUE_S * 5) for f in record["frame_indices"]})
        assert record["prompt"].startswith(SUBTITLES_HEADER)
        shown = [k for k in range(10) if f"line-{k:02d}" in record["prompt"]]
        assert shown == expected, (record["frame_indices"], record["prompt"][:300])
        assert len(shown) < 10, "the budget (4 frames) cannot cover every cue: the block is not lmms-eval's"
        assert record["prompt"].endswith("The best answer is:") and "Which colour is shown first?" in record["prompt"]
    assert "is not a known benchmark task" not in proc.stdout + proc.stderr


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


def test_hvp_cli_resume_reuses_only_records_of_the_same_configuration(tmp_path, tiny, good_run):
    """A killed run resumed with the same configuration, then the same folder under a changed configuration."""
    assert good_run["proc"].returncode == 0, good_run["proc"].stderr[-3000:]
    include = good_run["include"]
    first = {r["doc_id"]: r for r in iter_trace_records(good_run["output"] / "traces")}
    traces_dir = tmp_path / "traces"
    traces_dir.mkdir()
    # the killed run traced docs 0 and 1 (doc 1 answered "A"); doc 2 has only an older version's record
    # without a fingerprint; the last line is torn
    kept = [first[0], {**first[1], "answer": "A"}, {"task": "air_t_good", "doc_id": 2, "answer": "B"}]
    (traces_dir / "traces_rank0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"task": "air_t_go')
    output = tmp_path / "out"
    proc = run_lmms_eval(_args(tiny, "air_t_good", include, output, "resume=True", trace_dir=traces_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = list(iter_trace_records(traces_dir))
    assert [r["doc_id"] for r in records] == [0, 1, 2, 2], "only doc 2 was traced again"
    assert records[-1]["fingerprint"] == first[0]["fingerprint"]
    by_doc = {s["doc_id"]: s for s in samples_of(output, "air_t_good")}
    assert by_doc[1]["filtered_resps"] == "A" and by_doc[1]["accuracy"] == 1.0, "the stored answer is returned"
    log = proc.stdout + proc.stderr
    assert "2 traced samples reused; 1 skipped as foreign" in log and "no fingerprint, written by an older" in log

    # the same folder under another configuration (gamma): nothing is reused, and the log says why
    output = tmp_path / "out_gamma"
    proc = run_lmms_eval(_args(tiny, "air_t_good", include, output, "resume=True,gamma=0.5", trace_dir=traces_dir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = list(iter_trace_records(traces_dir))
    assert [r["doc_id"] for r in records[4:]] == [0, 1, 2], "every sample ran again"
    assert all(r["config"]["gamma"] == 0.5 and r["fingerprint"]["parts"]["config"]["gamma"] == 0.5 for r in records[4:])
    log = proc.stdout + proc.stderr
    assert "0 traced samples reused; 3 skipped as foreign" in log, log[-3000:]
    assert "config.gamma: 0.5 now, 0.7 before (3 samples)" in log
    assert "WARNING" in log.split("3 skipped as foreign")[0][-400:], "a changed configuration is a warning"


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

    # the next attempt runs on fewer ranks (a multi-node job requeued on fewer nodes): rank 0 now gets doc 1,
    # traced by rank 1 before, and reuses it like every other record
    resumed = tmp_path / "out_one_rank"
    proc = run_lmms_eval(_args(tiny, "air_t_multi", include, resumed, "resume=True", trace_dir=output / "traces"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 traced samples reused" in proc.stdout + proc.stderr
    assert len(list(iter_trace_records(output / "traces"))) == 3, "nothing ran again"
    answers = {s["doc_id"]: s["filtered_resps"] for s in samples_of(output, "air_t_multi")}
    assert {s["doc_id"]: s["filtered_resps"] for s in samples_of(resumed, "air_t_multi")} == answers


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
