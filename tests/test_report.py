"""`air report` without a browser: reading runs, verdicts, rows, summary numbers, images, the CLI.

Runs are synthetic lmms-eval output folders (air.testing.report_runs: real selection loop, lmms-eval's
file layout); the real lmms-eval runs and the browser checks are in test_report_browser.py.
"""

import json
import math
import re
import shutil

import pytest

from air.cli import main
from air.report import build_data, figure_priority, merged_keys, write_report
from air.report.judge import answer_of, judge_entry
from air.report.page import embed_json, render_page
from air.report.rows import TRACK_POINTS, build_row, side_part
from air.report.runs import RunError, Sample, load_run
from air.testing.report_runs import Doc, make_docs, write_run

TASK = "videomme_hvp"


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from air.testing.videos import write_video

    root = tmp_path_factory.mktemp("report_videos")
    out = []
    for i, duration in enumerate((16, 24)):
        video = write_video(root / f"v{i}.mp4", duration_s=duration, fps=4, size=(96, 64),
                            segments=[(0, duration / 2, "red"), (duration / 2, duration, "blue")], seed=i)
        out.append((str(video.path), video.n_frames, video.fps))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, videos):
    """RUN: A.I.R. on docs 0..5 with doc 4 failing; OTHER: uniform on docs 0..3 and 6..7."""
    root = tmp_path_factory.mktemp("report_runs")
    docs = make_docs(videos, 4, task=TASK, videomme=True)
    a = write_run(root / "a", docs[:6], videomme=True, errors={(TASK, 4): "VideoDecodeError: <b>broken</b> file"})
    b = write_run(root / "b", docs[:4] + docs[6:], method="uniform", model="air_uniform", videomme=True, seed=1)
    return a, b, docs


def _records(folder):
    return [json.loads(line) for path in sorted((folder / "traces").glob("*.jsonl"))
            for line in path.read_text().splitlines()]


def _data(html: str) -> dict:
    blob = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.DOTALL).group(1)
    return json.loads(blob)


# -- verdicts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry, correct, gold, duration, task_type", [
    ({"target": "B", "accuracy": 1.0}, True, "B", None, None),
    ({"target": "B", "exact_match": False}, False, "B", None, None),
    ({"target": "C", "videomme_perception_score": {"score": 0.0, "pred_answer": "A", "answer": "C",
                                                  "duration": "long", "task_category": "Counting Problem"}},
     False, "C", "long", "Counting Problem"),
    ({"target": "A", "mlvu_percetion_score": {"pred_answer": "a", "answer": "A", "task_type": "plotQA"}},
     True, "A", None, "plotQA"),
    ({"target": "2", "lvb_acc": {"parsed_pred": "B", "answer": "C", "duration_group": 600,
                                 "question_category": "TOS"}}, False, "2", "600", "TOS"),
    ({"target": "1", "score": {"pred": 1, "ground_truth": 1}, "submission": {"v": 1}}, True, "1", None, None),
    ({"target": "a dog", "WUPS": {"0": 0.4, "0.9": 0.1, "qtype": "CW"}}, None, "a dog", None, None),
    ({"target": "B", "bleu": 1.0}, None, "B", None, None),  # a 0/1 value under an unknown name is no verdict
    (None, None, None, None, None),
])
def test_judge_entry_reads_each_benchmarks_verdict(entry, correct, gold, duration, task_type):
    verdict = judge_entry(entry)
    assert (verdict.correct, verdict.gold, verdict.duration, verdict.task_type) == (correct, gold, duration, task_type)


def test_answer_of_unwraps_lmms_eval_lists():
    assert answer_of({"filtered_resps": ["B"]}) == "B"
    assert answer_of({"resps": [["C"]]}) == "C"
    assert answer_of({"doc_id": 0}) is None


# -- locating and reading runs ------------------------------------------------------------------------
def test_load_run_from_every_kind_of_path(runs):
    a, _, _ = runs
    results = next(a.glob("*/*_results.json"))
    for source in (a, results.parent, results):
        run = load_run(source)
        assert len(run.samples) == 6 and run.results_file == results and run.method == "air"
        assert all(s.trace is not None and s.logged is not None for s in run.samples.values())
    for source in (a / "traces", a / "traces" / "traces_rank0.jsonl"):
        run = load_run(source)
        assert len(run.samples) == 6 and run.results is None
        assert all(s.logged is None for s in run.samples.values())


def test_load_run_errors_name_the_path(tmp_path, runs):
    a, _, _ = runs
    with pytest.raises(RunError, match="no such file"):
        load_run(tmp_path / "missing")
    with pytest.raises(RunError, match="no lmms-eval results"):
        load_run(tmp_path)
    with pytest.raises(RunError, match="samples file"):
        load_run(next(a.glob("*/*_samples_*.jsonl")))
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(RunError, match="unknown file type"):
        load_run(tmp_path / "x.txt")


def test_shared_trace_folder_needs_a_method(tmp_path, runs):
    a, b, _ = runs
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "traces_rank0.jsonl").write_text((a / "traces" / "traces_rank0.jsonl").read_text()
                                               + (b / "traces" / "traces_rank0.jsonl").read_text())
    with pytest.raises(RunError, match=r"several methods: air \(6 samples\), uniform \(6 samples\)"):
        load_run(traces)
    assert {s.trace["method"] for s in load_run(traces, method="uniform").samples.values()} == {"uniform"}
    with pytest.raises(RunError, match="no trace of method 'bolt'"):
        load_run(traces, method="bolt")


def test_results_file_picks_its_models_records_from_shared_traces(tmp_path, runs):
    a, b, _ = runs
    shared = tmp_path / "out"
    for run in (a, b):
        model_dir = next(run.glob("synthetic__*"))
        shutil.copytree(model_dir, shared / model_dir.name)
    (shared / "traces").mkdir()
    (shared / "traces" / "traces_rank0.jsonl").write_text((a / "traces" / "traces_rank0.jsonl").read_text()
                                                          + (b / "traces" / "traces_rank0.jsonl").read_text())
    uniform = load_run(next(shared.glob("synthetic__air_uniform/*_results.json")))
    assert uniform.method == "uniform" and any("several methods" in n for n in uniform.notes)
    assert {s.trace["method"] for s in uniform.samples.values() if s.trace} == {"uniform"}
    assert load_run(next(shared.glob("synthetic__hvp/*_results.json"))).method == "air"


def test_several_results_files_use_the_latest_with_a_note(tmp_path, videos):
    docs = make_docs(videos, 1)
    write_run(tmp_path, docs, date="20260101_000000")
    write_run(tmp_path, docs[:1], date="20260202_000000")
    run = load_run(tmp_path)
    assert run.results_file.name == "20260202_000000_results.json"
    assert [s.doc_id for s in run.samples.values() if s.logged] == [0]
    assert any("2 results files" in note for note in run.notes)


# -- rows -------------------------------------------------------------------------------------------
def test_rows_read_any_trace_defensively():
    """Old, new and broken fields: each sample still renders, nothing raises, unknown fields are listed."""
    hostile = "<script>alert(1)</script>"
    record = {
        "task": "t", "doc_id": 3, "fps": float("nan"), "n_frames": "many", "frame_indices": [5, "x", None, 7],
        "rounds": [{"round": 1, "candidates": [5, 7], "scores": [4], "reasons": [hostile]}, "junk"],
        "events": [[1, 2], [3], "x"], "scored": [[5, 0.1, 0.5], [7, 0.2, float("inf"), "sample"], "bad"],
        "fallbacks": ["gmm_failed", {"reason": "no_events", "detail": "d"}, None], "timings_s": {"a": "x", "b": 1.5},
        "config": {"ablate_lds": True, "ablate_ranking": False}, "query_truncated": True,
        "fingerprint": "abc123", "event_samples": [[1, 2]], "prompt": "Question?\nA. x\nB. y",
        "recognised_as": {"benchmark": "videomme"}, "analysis_prompt_version": 2,
    }
    side = side_part(Sample("t", 3, trace=record), judge_entry(None))
    assert [f[0] for f in side["frames"]] == [5, 7] and side["track"] is None  # no usable fps: no time axis
    assert side["ratings"] == [[1, 5, None, 4, hostile, ""], [1, 7, None, None, None, ""]]
    assert [f["reason"] for f in side["fallbacks"]] == ["gmm_failed", "no_events"]
    assert side["timings"] == {"b": 1.5}
    assert side["flags"] == ["ablate_lds", "CLIP query truncated"]
    info = dict(side["info"])
    assert info["fingerprint"] == "abc123" and info["analysis_prompt_version"] == "2"
    assert json.loads(info["recognised_as"]) == {"benchmark": "videomme"}
    assert side["prompt"].startswith("Question?")
    assert side_part(Sample("t", 1, trace={"task": "t", "doc_id": 1}), judge_entry(None))["frames"] == []
    row = build_row(0, [Sample("t", 3, trace=record)])
    assert row["question"] == "Question?" and row["options"] == ["A. x", "B. y"]


def test_track_is_cut_to_a_few_hundred_points_keeping_peaks():
    fps, n = 30.0, 3 * 3600 * 30
    scored = [[k * 30, 0.1, 0.2, "sample"] for k in range(3 * 3600)]
    scored[5000][2] = 0.97
    record = {"fps": fps, "n_frames": n, "frame_indices": [150000], "scored": scored, "threshold": 0.6,
              "events": [[4990.0, 5010.0]]}
    track = side_part(Sample("t", 0, trace=record), judge_entry(None))["track"]
    assert len(track["pts"]) <= TRACK_POINTS and track["down"] == 3 * 3600
    assert max(p[1] for p in track["pts"]) == 0.97 and track["dur"] == 3 * 3600
    assert track["thr"] == 0.6 and track["ev"] == [[4990.0, 5010.0]]


def test_samples_file_summary_stands_in_for_missing_traces(runs, tmp_path):
    a, _, _ = runs
    results = next(a.glob("*/*_results.json"))
    copy = tmp_path / "run"
    (copy / results.parent.name).mkdir(parents=True)
    for path in results.parent.iterdir():
        (copy / results.parent.name / path.name).write_bytes(path.read_bytes())
    copied = copy / results.parent.name / results.name
    copied.write_text(copied.read_text().replace(str(a / "traces"), str(tmp_path / "gone")))
    run = load_run(copy)
    assert any("no traces_rank" in note for note in run.notes)
    sample = run.samples[(TASK, "0")]
    side = side_part(sample, judge_entry(sample.logged))
    assert side["partial"] and side["frames"] and side["n_an"] is not None and side["correct"] is not None


# -- summary and comparison -------------------------------------------------------------------------
def test_summary_numbers_match_the_traces_and_samples(runs, tmp_path):
    a, b, _ = runs
    out = tmp_path / "r.html"
    write_report(a, b, out, figures=0, thumbnails=False)
    data = _data(out.read_text())
    assert [r["doc_id"] for r in data["rows"]] == [str(i) for i in range(8)], "union, numeric order"
    (task,) = data["tasks"]
    traces_a = _records(a)
    ok = [r for r in traces_a if not r.get("error")]
    run_a, run_b = task["sides"]
    assert run_a["samples"] == 6 and run_a["errors"] == 1 and run_b["samples"] == 6 and run_b["errors"] == 0
    assert math.isclose(run_a["frames_mean"], sum(len(r["frame_indices"]) for r in ok) / len(ok), abs_tol=1e-4)
    assert math.isclose(run_a["analysed_mean"], sum(r["n_analyzed"] for r in ok) / len(ok), abs_tol=1e-4)
    assert math.isclose(run_a["seconds_mean"], sum(r["seconds"] for r in traces_a) / 6, abs_tol=1e-4)
    assert math.isclose(run_a["stages"]["total"], sum(r["timings_s"]["total"] for r in ok) / len(ok), abs_tol=1e-4)
    entries = [json.loads(x) for x in next(a.glob("*/*_samples_*.jsonl")).read_text().splitlines()]
    right = sum(e["videomme_perception_score"]["score"] for e in entries)
    assert (run_a["correct"], run_a["known"]) == (right, 6)
    results = json.loads(next(a.glob("*/*_results.json")).read_text())["results"][TASK]
    assert run_a["metrics"] == [["videomme_perception_score", round(results["videomme_perception_score,none"], 4)]]
    assert [g["name"] for g in task["groups"][0]["rows"]] == ["short", "medium"]
    assert sum(g["sides"][0]["samples"] for g in task["groups"][0]["rows"]) == 6
    diff = task["diff"]
    assert diff["only_a"] == 2 and diff["only_b"] == 2
    assert diff["fixed"] + diff["broken"] + diff["both_right"] + diff["both_wrong"] + diff["unknown"] == 4
    by_doc = {r["doc_id"]: r for r in data["rows"]}
    assert by_doc["4"]["sides"][0]["error"].startswith("VideoDecodeError") and by_doc["4"]["cmp"] == "only_a"
    assert by_doc["6"]["sides"][0] is None and by_doc["6"]["cmp"] == "only_b"
    for row in data["rows"][:4]:
        a_side, b_side = row["sides"]
        expected = {(True, False): "fixed", (False, True): "broken", (True, True): "both_right",
                    (False, False): "both_wrong"}[(a_side["correct"], b_side["correct"])]
        assert row["cmp"] == expected


def test_merged_keys_keep_task_order_and_sort_doc_ids(runs):
    a, b, _ = runs
    keys = merged_keys([load_run(b), load_run(a)])
    assert keys == [(TASK, str(i)) for i in range(8)]


# -- the page: escaping and content security --------------------------------------------------------
def test_trace_text_cannot_close_the_data_element(tmp_path, videos):
    evil = '</script><script>window.__pwned = 1</script><!-- \u2028 & x'
    docs = [Doc(task="t", doc_id=0, video=videos[0][0], n_frames=videos[0][1], fps=videos[0][2],
                question=evil, options=[evil, "b"], gold="A")]
    write_run(tmp_path / "run", docs)
    write_run(tmp_path / "evil_method", docs, method=evil)  # the method name goes into the page title
    out = tmp_path / "r.html"
    write_report(tmp_path / "run", tmp_path / "evil_method", out, figures=0, thumbnails=False)
    html = out.read_text()
    assert html.count("<script") == 2 and html.count("</script>") == 2
    assert "__pwned = 1</script>" not in html and "<script>window" not in html
    data = _data(html)
    assert data["rows"][0]["question"] == evil, "the text survives exactly, as data"
    assert data["rows"][0]["sides"][1]["method"] == evil
    assert "&lt;/script&gt;&lt;script&gt;window.__pwned" in html.split("<style>")[0], "the title is escaped"
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp


def test_embed_json_is_strict_and_inert():
    text = embed_json({"a": float("nan"), "b": "<&>", "c": [float("inf"), 1.5]})
    assert json.loads(text) == {"a": None, "b": "<&>", "c": [None, 1.5]}
    assert not set("<>&") & set(text)


def test_render_page_substitutes_every_placeholder():
    html = render_page({"runs": [], "tasks": [], "rows": [], "notes": [], "colours": {}}, "T & <b>")
    assert "${" not in html and "<title>T &amp; &lt;b&gt;</title>" in html


# -- images -----------------------------------------------------------------------------------------
def test_images_are_made_once_reused_and_pruned(runs, tmp_path):
    a, b, _ = runs
    out = tmp_path / "nested" / "report.html"
    first = write_report(a, b, out, figures=2, jobs=1)
    files = sorted(p.name for p in first.side_folder.iterdir())
    assert first.thumbs == 11 and first.images_made == len(files) and first.images_failed == 0
    assert all(re.fullmatch(r"(th|fig)-[0-9a-f]{24}\.(jpg|png)", name) for name in files)
    data = _data(out.read_text())
    assert first.figures == sum(1 for r in data["rows"] for s in r["sides"] if s and s["figure"]) >= 2
    drawn = [r["i"] for r in data["rows"] if any(s and s["figure"] for s in r["sides"])]
    drawable = [r for r in data["rows"] if any(s and s["has_trace"] and not s["error"] for s in r["sides"])]
    ranked = sorted(drawable, key=lambda r: (figure_priority(r), r["i"]))
    assert drawn == sorted(r["i"] for r in ranked[:2]), "changed, then wrong rows first"
    assert figure_priority(ranked[0]) < 3, "the fixture has changed or wrong rows"
    thumbs = data["rows"][0]["sides"][0]["thumbs"]
    assert thumbs["src"].startswith("report_files/th-") and thumbs["h"] == 54 and len(thumbs["frames"]) == 8
    second = write_report(a, b, out, figures=2, jobs=1)
    assert second.images_made == 0 and sorted(p.name for p in second.side_folder.iterdir()) == files
    third = write_report(a, None, out, figures=0, jobs=1)
    assert third.figures == 0 and not any(p.name.startswith("fig-") for p in third.side_folder.iterdir())


def test_images_in_worker_processes(runs, tmp_path):
    a, _, _ = runs
    result = write_report(a, None, tmp_path / "r.html", figures=1, jobs=2)
    assert result.figures == 1 and result.thumbs == 5 and result.images_failed == 0


def test_names_from_traces_never_become_paths(tmp_path, videos):
    import numpy as np

    from air.testing.report_runs import air_trace

    doc = Doc(task="../../escape $(touch x)", doc_id="../../x", video=videos[0][0], n_frames=videos[0][1], fps=videos[0][2],
              question="q", options=["a", "b"], gold="A")
    record = {"task": doc.task, "doc_id": doc.doc_id, **air_trace(doc, np.random.default_rng(0))}
    traces = tmp_path / "run" / "traces"
    traces.mkdir(parents=True)
    (traces / "traces_rank0.jsonl").write_text(json.dumps(record) + "\n")
    before = set(tmp_path.rglob("*"))
    out = tmp_path / "site" / "r.html"
    write_report(traces, None, out, figures=None, jobs=1)
    created = set(tmp_path.rglob("*")) - before
    assert created and all(p == out.parent or out.parent in p.parents for p in created), created
    side = _data(out.read_text())["rows"][0]["sides"][0]
    assert side["figure"].startswith("r_files/fig-") and side["thumbs"]["src"].startswith("r_files/th-")
    assert "'../../escape $(touch x)'" in side["plot_cmd"], "shown quoted, for the shell"


# -- command line -----------------------------------------------------------------------------------
def test_cli_writes_and_overwrites(runs, tmp_path, capsys):
    a, b, _ = runs
    out = tmp_path / "r.html"
    out.write_text("old")
    assert main(["report", str(a), str(b), "-o", str(out), "--figures", "0", "--no-thumbnails", "--jobs", "1"]) == 0
    assert "report: " in capsys.readouterr().out and '"rows":[' in out.read_text()
    assert not (tmp_path / "r_files").exists(), "no images asked for: no side folder"


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "no such file or folder"),
    (["{a}", "-o", "{tmp}/r.txt"], "expected a file name ending in .html"),
    (["{a}", "-o", "{tmp}/dir.html"], "it is a folder"),
    (["{a}", "--figures", "-1"], "argument --figures: invalid value"),
    (["{a}", "--figures", "some"], "argument --figures: invalid value"),
    (["{a}", "--jobs", "0"], "argument --jobs: invalid value"),
    (["{a}", "--method", "bolt"], "no trace of method 'bolt'"),
])
def test_cli_errors_are_one_line(runs, tmp_path, capsys, args, message):
    a, _, _ = runs
    (tmp_path / "dir.html").mkdir()
    argv = ["report"] + [x.format(missing=tmp_path / "missing", a=a, tmp=tmp_path) for x in args]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse type errors exit directly
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    if "--figures" not in args and "--jobs" not in args:
        assert err.startswith("air report: error: ")


def test_build_data_has_the_plot_colours(runs):
    a, _, _ = runs
    run = load_run(a)
    rows = [build_row(i, [s]) for i, s in enumerate(run.samples.values())]
    data = build_data([run], rows, [])
    from air.plotting import SCORE_COLOURS

    assert data["colours"]["scores"] == {str(k): v for k, v in SCORE_COLOURS.items()}


def test_unreadable_frames_and_videos_leave_a_note_not_a_crash(tmp_path, videos):
    import numpy as np

    from air.testing.report_runs import air_trace

    path, n_frames, fps = videos[0]
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    lines = []
    for doc_id, (video, frames) in enumerate([(path, None), (path, [1, n_frames + 50]), (str(corrupt), None)]):
        doc = Doc(task="t", doc_id=doc_id, video=video, n_frames=n_frames, fps=fps, question="q", options=[], gold="A")
        record = {"task": "t", "doc_id": doc_id, **air_trace(doc, np.random.default_rng(doc_id))}
        if frames:
            record["frame_indices"] = frames
            record.pop("timestamps_s")
        lines.append(json.dumps(record))
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "traces_rank0.jsonl").write_text("\n".join(lines) + "\n")
    result = write_report(tmp_path / "traces", None, tmp_path / "r.html", figures=0, jobs=1)
    sides = [r["sides"][0] for r in _data((tmp_path / "r.html").read_text())["rows"]]
    assert sides[0]["thumbs"] and result.thumbs == 1 and result.images_failed == 2
    assert sides[1]["thumbs"] is None and "outside the video" in sides[1]["thumbs_note"]
    assert sides[2]["thumbs"] is None and "VideoDecodeError" in sides[2]["thumbs_note"]
    assert [f[1] for f in sides[1]["frames"]] == [round(1 / fps, 2), round((n_frames + 50) / fps, 2)]


def test_report_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", "--help"])
    text = capsys.readouterr().out
    assert info.value.code == 0 and text.startswith("usage: air report")
    assert "--figures N|all" in text and "(default: 50)" in text and "--no-thumbnails" in text
