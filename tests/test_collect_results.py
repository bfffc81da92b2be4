"""scripts/collect_results.py on output folders recorded from real lmms-eval 0.7.3 runs.

The folders in tests/fixtures/benchmark_docs/results were written by the lmms-eval command line itself
(see record_lmms_eval_outputs.py there): results JSON and samples JSONL are byte-for-byte what lmms-eval
writes; the trace JSONL files follow the hvp model's side-car record format.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECORDED = REPO / "tests" / "fixtures" / "benchmark_docs" / "results"


@pytest.fixture(scope="module")
def collector():
    spec = importlib.util.spec_from_file_location("collect_results", REPO / "scripts" / "collect_results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture
def tree(tmp_path):
    """A writable copy of the recorded output folders."""
    target = tmp_path / "results"
    shutil.copytree(RECORDED, target)
    return target


def key(row):
    return (row.benchmark, row.method, row.backbone)


def test_recorded_fixtures_have_lmms_eval_layout():
    results = sorted(RECORDED.rglob("*_results.json"))
    assert len(results) == 6
    for path in results:
        assert re.fullmatch(r"\d{8}_\d{6}_results\.json", path.name)
        assert path.parent.name in {"Qwen__Qwen2.5-VL-7B-Instruct", "OpenGVLab__InternVL3-8B-hf"}
        data = json.loads(path.read_text(encoding="utf-8"))
        assert {"results", "configs", "config", "n-samples", "lmms_eval_version", "model_name_sanitized"} <= set(data)
        date = path.name[: -len("_results.json")]
        for task in data["results"]:
            samples = path.parent / f"{date}_samples_{task}.jsonl"
            lines = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
            assert [line["doc_id"] for line in lines] == [0, 1, 2, 3]
            assert all("doc" not in line and "arguments" not in line for line in lines)


def test_table_rows_from_recorded_runs(collector):
    rows = collector.collect([RECORDED])
    table = {key(r): r for r in rows}
    assert len(rows) == 9
    air_q = table[("Video-MME", "A.I.R.", "Qwen2.5-VL-7B-Instruct")]
    assert air_q.accuracy == pytest.approx(50.0)  # videomme_perception_score is already a percentage
    assert air_q.metric == "videomme_perception_score"
    assert air_q.samples == 4 and air_q.traced == 4 and air_q.trace_errors == 0
    # frame counts 10, 12, 14, 16 and analysed 12, 24, 36, 48: the stale attempt at doc 2 (2 frames,
    # 99 analysed) is replaced by the later record and rank 1's padding duplicate of doc 3 counts once.
    assert air_q.mean_frames == pytest.approx(13.0)
    assert air_q.mean_frames_analysed == pytest.approx(30.0)
    air_i = table[("Video-MME", "A.I.R.", "InternVL3-8B-hf")]
    assert (air_i.accuracy, air_i.mean_frames, air_i.mean_frames_analysed) == (pytest.approx(25.0), 24.0, 24.0)
    uniform = table[("Video-MME", "Uniform (max_frames=32)", "Qwen2.5-VL-7B-Instruct")]
    assert (uniform.accuracy, uniform.mean_frames, uniform.mean_frames_analysed) == (pytest.approx(25.0), 32.0, 0.0)
    lvb = table[("LongVideoBench val", "A.I.R.", "Qwen2.5-VL-7B-Instruct")]
    assert lvb.metric == "lvb_acc" and lvb.accuracy == pytest.approx(50.0)  # 0.5 -> 50 %
    nextqa = table[("NExT-QA MC test", "Uniform (max_frames=32)", "Qwen2.5-VL-7B-Instruct")]
    assert nextqa.metric == "exact_match" and nextqa.accuracy == pytest.approx(25.0)
    ego = table[("EgoSchema subset", "A.I.R.", "Qwen2.5-VL-7B-Instruct")]
    assert ego.metric == "score" and ego.accuracy == pytest.approx(50.0)
    assert ego.traced == 4 and ego.trace_errors == 1
    assert ego.mean_frames == pytest.approx(12.0) and ego.mean_frames_analysed == pytest.approx(24.0)


def test_rows_are_ordered_by_benchmark_then_backbone_then_method(collector):
    rows = collector.collect([RECORDED])
    assert [r.benchmark for r in rows][:3] == ["Video-MME"] * 3
    assert [r.benchmark for r in rows][-2:] == ["EgoSchema subset"] * 2
    video = [(r.backbone, r.model) for r in rows if r.benchmark == "Video-MME"]
    assert video == [("InternVL3-8B-hf", "hvp"), ("Qwen2.5-VL-7B-Instruct", "air_uniform"), ("Qwen2.5-VL-7B-Instruct", "hvp")]


def test_markdown_table(collector):
    text = collector.markdown_table(collector.collect([RECORDED]))
    lines = text.splitlines()
    assert lines[0] == "| Benchmark | Method | Backbone | Accuracy (%) | Samples | Mean frames | Mean frames analysed | Traced |"
    assert lines[1] == "|---|---|---|---:|---:|---:|---:|---:|"
    assert "| Video-MME | A.I.R. | Qwen2.5-VL-7B-Instruct | 50.0 | 4 | 13.0 | 30.0 | 4 |" in lines
    assert "| EgoSchema subset | A.I.R. | Qwen2.5-VL-7B-Instruct | 50.0 | 4 | 12.0 | 24.0 | 4 (1 failed) |" in lines
    assert len(lines) == 2 + 9


def test_cli_prints_table_and_writes_json(collector, tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert collector.main([str(RECORDED), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| Benchmark | Method |")
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert len(rows) == 9 and {"benchmark", "method", "backbone", "accuracy", "mean_frames", "mean_frames_analysed"} <= set(rows[0])


def test_cli_errors(collector, tmp_path, capsys):
    assert collector.main([str(tmp_path)]) == 1
    assert "no lmms-eval *_results.json" in capsys.readouterr().err
    assert collector.main([str(tmp_path / "missing")]) == 2
    assert "Results folder not found" in capsys.readouterr().err


def test_latest_results_file_of_a_run_folder_wins(collector, tree):
    model_dir = tree / "nextqa_mc_test_hvp" / "hvp" / "Qwen2.5-VL-7B-Instruct" / "Qwen__Qwen2.5-VL-7B-Instruct"
    (results,) = model_dir.glob("*_results.json")
    older = json.loads(results.read_text(encoding="utf-8"))
    older["results"]["nextqa_mc_test_hvp"]["exact_match,none"] = 0.0
    (model_dir / "20200101_000000_results.json").write_text(json.dumps(older), encoding="utf-8")
    newer = json.loads(results.read_text(encoding="utf-8"))
    newer["results"]["nextqa_mc_test_hvp"]["exact_match,none"] = 1.0
    (model_dir / "29991231_235959_results.json").write_text(json.dumps(newer), encoding="utf-8")
    rows = [r for r in collector.collect([tree]) if r.task == "nextqa_mc_test_hvp" and r.model == "hvp"]
    assert len(rows) == 1 and rows[0].accuracy == pytest.approx(100.0)
    assert rows[0].samples == 4  # falls back to n-samples: the newest run has no samples file
    assert rows[0].traced == 4  # without a samples file every trace of the task counts


def test_traces_of_docs_outside_the_samples_are_ignored(collector, tree):
    traces = tree / "longvideobench_val_v_hvp" / "hvp" / "Qwen2.5-VL-7B-Instruct" / "traces" / "traces_rank0.jsonl"
    extra = {"task": "longvideobench_val_v_hvp", "doc_id": 99, "frame_indices": list(range(500)), "n_analyzed": 500}
    with traces.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(extra) + "\n")
        handle.write('{"task": "longvideobench_val_v_hvp", "doc_id": 0, "frame_ind')  # killed writer
    row = next(r for r in collector.collect([tree]) if r.task == "longvideobench_val_v_hvp" and r.model == "hvp")
    assert row.traced == 4 and row.mean_frames == pytest.approx(13.0)


def test_shared_output_folder_needs_the_model_in_trace_records(collector, tree, capsys):
    """Two methods writing into one folder: traces without a model key are ambiguous and left out, loudly."""
    shared = tree / "shared"
    shutil.copytree(tree / "videomme_hvp" / "hvp" / "Qwen2.5-VL-7B-Instruct" / "Qwen__Qwen2.5-VL-7B-Instruct", shared / "Qwen__Qwen2.5-VL-7B-Instruct")
    (uniform_results,) = (tree / "uniform_all_tasks" / "Qwen__Qwen2.5-VL-7B-Instruct").glob("*_results.json")
    shutil.copy(uniform_results, shared / "Qwen__Qwen2.5-VL-7B-Instruct" / uniform_results.name)
    date = uniform_results.name[: -len("_results.json")]
    for sample in (tree / "uniform_all_tasks" / "Qwen__Qwen2.5-VL-7B-Instruct").glob(f"{date}_samples_*.jsonl"):
        shutil.copy(sample, shared / "Qwen__Qwen2.5-VL-7B-Instruct" / sample.name)
    record = {"task": "videomme_hvp", "doc_id": 0, "frame_indices": [1, 2, 3], "n_analyzed": 7}
    lines = [
        record,  # no method: ambiguous, left out
        dict(record, doc_id=1, method="air"),  # the tag hvp writes
        dict(record, doc_id=2, model="hvp"),
        dict(record, doc_id=3, method="uniform", frame_indices=list(range(32)), n_analyzed=0),
    ]
    (shared / "traces" / "traces_rank0.jsonl").parent.mkdir()
    (shared / "traces" / "traces_rank0.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    rows = [r for r in collector.collect([shared]) if r.task == "videomme_hvp"]
    assert {r.model for r in rows} == {"hvp", "air_uniform"}
    by_model = {r.model: r for r in rows}
    assert by_model["hvp"].traced == 2 and by_model["hvp"].mean_frames_analysed == pytest.approx(7.0)
    assert by_model["air_uniform"].traced == 1 and by_model["air_uniform"].mean_frames == pytest.approx(32.0)
    assert "fits 2 runs" in capsys.readouterr().err


def test_unreadable_results_file_is_skipped_with_a_warning(collector, tree, capsys):
    broken = tree / "broken" / "model" / "20261128_000000_results.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"results": {"videomme_hvp": ', encoding="utf-8")
    rows = collector.collect([tree])
    assert len(rows) == 9
    assert "cannot read it as JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("pretrained=Qwen/Qwen2.5-VL-7B-Instruct,max_frames=16", {"pretrained": "Qwen/Qwen2.5-VL-7B-Instruct", "max_frames": "16"}),
        ({"pretrained": "x", "max_frames": 8}, {"pretrained": "x", "max_frames": "8"}),
        ("a=[1,2],b=c", {"a": "[1,2]", "b": "c"}),
        ("", {}),
        (None, {}),
    ],
)
def test_parse_model_args(collector, raw, expected):
    assert collector.parse_model_args(raw) == expected


def test_primary_metric_skips_stderr_and_non_numeric(collector):
    name, value, factor = collector.primary_metric(
        {"alias": "t", "submission,none": [], "lvb_acc_stderr,none": "N/A", "lvb_acc,none": 0.625}
    )
    assert (name, value, factor) == ("lvb_acc", 0.625, 100.0)
    assert collector.primary_metric({"alias": "group"}) == (None, None, 1.0)
    assert collector.primary_metric({"custom,none": 3.5}) == ("custom", 3.5, 1.0)


def test_every_plugin_model_has_a_method_name_and_trace_tag(collector):
    from air.lmms_plugin import MODELS

    for model_id in MODELS:
        assert model_id in collector.METHOD_NAMES and model_id in collector.TRACE_METHODS, model_id


# ----------------------------------------------------------------------------------------------
# --table: the paper's tables filled from the recorded folders
# ----------------------------------------------------------------------------------------------
def _table_rows(text: str) -> dict[str, list[str]]:
    """{first label cells joined by ' / ': cells} of a Markdown table printed by --table."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| Backbone") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0] + (" / " + cells[1] if cells[1] and not cells[1][0].isdigit() else "")] = cells
    return rows


def _set_model_args(results_file: Path, model_args: str) -> None:
    data = json.loads(results_file.read_text(encoding="utf-8"))
    data["config"]["model_args"] = model_args
    results_file.write_text(json.dumps(data), encoding="utf-8")


def test_tab1_puts_our_numbers_beside_the_papers_and_leaves_missing_runs_blank(collector, tree, capsys):
    # the recorded uniform run used max_frames=32; the paper's uniform row is num_frames=32 (run-only args differ)
    (uniform,) = (tree / "uniform_all_tasks" / "Qwen__Qwen2.5-VL-7B-Instruct").glob("*_results.json")
    _set_model_args(uniform, "pretrained=/models/Qwen2.5-VL-7B-Instruct,num_frames=32.0,trace_dir=/x/traces,resume=true")
    assert collector.main([str(tree), "--table", "tab1"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0] == "### Tab. 1: A.I.R. against uniform sampling, per backbone (accuracy, %)"
    assert lines[2] == ("| Backbone | Method | Video-MME | paper | MLVU dev | paper | LongVideoBench val | paper | "
                        "NExT-QA MC | paper | EgoSchema subset | Mean frames | Mean frames rated |")
    rows = _table_rows(text)
    # cells: backbone, method, VMME, paper, MLVU, paper, LVB, paper, NExT-QA, paper, EgoSchema, frames, rated
    assert rows["Qwen2.5-VL-7B / A.I.R."] == ["Qwen2.5-VL-7B", "A.I.R.", "50.0", "65.0", "", "", "50.0", "", "50.0",
                                              "81.3", "50.0", "12.8", "28.8"]
    assert rows["InternVL3-8B / A.I.R."][2:4] == ["25.0", "68.2"] and rows["InternVL3-8B / A.I.R."][4:6] == ["", "74.5"]
    assert rows["Qwen2.5-VL-7B / Uniform (32 frames)"][2:4] == ["25.0", "60.8"]
    assert rows["Qwen2.5-VL-7B / Uniform (32 frames)"][8:12] == ["25.0", "74.3", "25.0", "32.0"]
    assert rows["VILA-1.5-8B / A.I.R. (8 / 8)"][2:] == ["", "53.7", "", "", "", "", "", "", "", "", ""]
    assert "InternVL3-8B / A.I.R.: 24.8 frames on Video-MME" in text and "36.5 frames rated per video" in text
    assert "Missing runs: uniform_internvl3 (all 5 tasks); air_internvl3 (mlvu_dev_hvp, longvideobench_val_v_hvp" in text
    assert "; air_default (mlvu_dev_hvp);" in text


def test_mean_frames_of_a_row_are_weighted_by_traced_samples(collector, tree):
    runs = collector.collect_runs([tree])
    cells = collector.table_cells("tab1", runs)
    rows = [cells[("air_default", t)] for t in ("videomme_hvp", "longvideobench_val_v_hvp", "nextqa_mc_test_hvp",
                                                 "egoschema_subset_hvp")]
    weights = [r.traced - r.trace_errors for r in rows]
    expected = sum(r.mean_frames * w for r, w in zip(rows, weights)) / sum(weights)
    assert collector._mean_over(rows, "mean_frames") == pytest.approx(expected)
    assert f"{expected:.1f}" == "12.8"


def test_table_cell_takes_the_latest_matching_results_file_and_says_so(collector, tree, capsys):
    model_dir = tree / "videomme_hvp" / "hvp" / "Qwen2.5-VL-7B-Instruct" / "Qwen__Qwen2.5-VL-7B-Instruct"
    (results,) = model_dir.glob("*_results.json")
    rerun = tree / "rerun" / "Qwen__Qwen2.5-VL-7B-Instruct"
    rerun.mkdir(parents=True)
    data = json.loads(results.read_text(encoding="utf-8"))
    data["results"]["videomme_hvp"]["videomme_perception_score,none"] = 70.0
    data["config"]["model_args"] = "pretrained=Qwen/Qwen2.5-VL-7B-Instruct,preset=default,resume=False,decoder=pyav"
    (rerun / "29991231_235959_results.json").write_text(json.dumps(data), encoding="utf-8")
    other = json.loads(json.dumps(data))
    other["config"]["model_args"] = "pretrained=Qwen/Qwen2.5-VL-7B-Instruct,fixed_budget=true"  # another setting
    other["results"]["videomme_hvp"]["videomme_perception_score,none"] = 99.0
    (rerun / "29991231_235960_results.json").write_text(json.dumps(other), encoding="utf-8")
    cells = collector.table_cells("ablations", collector.collect_runs([tree]))
    assert cells[("air_default", "videomme_hvp")].accuracy == pytest.approx(70.0)
    assert "2 results files match air_default on videomme_hvp; using the latest" in capsys.readouterr().err
    assert ("air_ablate_lds", "videomme_hvp") not in cells


def test_every_table_prints_and_writes_json(collector, tree, tmp_path, capsys):
    out = tmp_path / "tables.json"
    assert collector.main([str(tree), "--table", "all", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    import paper_tables

    for spec in paper_tables.TABLES.values():
        assert f"### {spec.title}" in text
    records = json.loads(out.read_text(encoding="utf-8"))
    assert {r["table"] for r in records} == set(paper_tables.TABLES)
    efficiency = [r for r in records if r["table"] == "efficiency"]
    assert len(efficiency) == 6 * 5
    found = [r for r in efficiency if r["accuracy"] is not None]
    assert {(r["run"], r["task"]) for r in found} == {("air_default", t) for t in (
        "videomme_hvp", "longvideobench_val_v_hvp", "nextqa_mc_test_hvp", "egoschema_subset_hvp")}
    # the paper's numbers follow the run config: its default Qwen2.5-VL run is also the study's (32, 12, 6) row
    assert {(r["run"], r["task"], r["paper_accuracy"]) for r in efficiency if r["paper_accuracy"] is not None} == {
        ("air_default", "videomme_hvp", 65.0), ("air_default", "nextqa_mc_test_hvp", 81.3)}
    # a paper column only where the paper gives a number for some row
    assert "| (V_max, C, I_max) | Video-MME | paper | MLVU dev | LongVideoBench val | NExT-QA MC | paper |" in text
    assert "| Variant | Video-MME | paper | MLVU dev |" in text


def test_unknown_table_is_rejected(collector, capsys):
    with pytest.raises(SystemExit):
        collector.main([str(RECORDED), "--table", "tab9"])
    assert "invalid choice: 'tab9'" in capsys.readouterr().err
