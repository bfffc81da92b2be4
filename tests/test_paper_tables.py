"""scripts/paper_tables.py: the paper's tables as run configs, their jobs, and the reference numbers.

The reference numbers are checked against the README's table of the paper's numbers, so the two cannot
drift apart; the run configs themselves are checked by tests/test_configs.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import paper_tables
from paper_tables import PAPER_REFERENCE, TABLES, load_run, run_identity


def test_every_row_has_a_run_config_covering_the_tables_benchmarks():
    from air.lmms_plugin import MODELS

    for spec in TABLES.values():
        assert len(spec.header) >= 1 and all(len(row.label) == len(spec.header) for row in spec.rows), spec.name
        for row in spec.rows:
            run = load_run(row.run)
            assert run.path.is_file() and run.model in MODELS
            assert {task for _, task in spec.columns} <= set(run.tasks), (spec.name, row.run)


def test_run_configs_have_distinct_identities():
    """Two run configs that measure the same thing would fill each other's cells."""
    identities = {}
    for path in sorted(paper_tables.RUNS_DIR.glob("*.yaml")):
        run = load_run(path.stem)
        identity = run_identity(run.model, run.model_args)
        assert identity not in identities, f"{path.stem} and {identities[identity]} measure the same run"
        identities[identity] = path.stem


def test_run_identity_ignores_run_only_arguments_and_spelling():
    base = run_identity("hvp", {"pretrained": "Qwen/Qwen2.5-VL-7B-Instruct", "preset": "default",
                                "clip_model": "open_clip:EVA02-L-14/merged2b_s4b_b131k", "ablate_lds": "true"})
    assert base == run_identity("hvp", {"pretrained": "/ckpt/qwen2.5-vl-7b-instruct/", "ablate_lds": "True",
                                        "trace_dir": "/out/traces", "resume": "True", "decoder": "pyav"})
    assert base == ("hvp", "qwen2.5-vl-7b-instruct", (("ablate_lds", "true"),))
    assert run_identity("air_uniform", {"num_frames": "32"}) == run_identity("air_uniform", {"num_frames": "32.0"})
    assert run_identity("air_uniform", {"num_frames": "32"}) != run_identity("air_uniform", {"num_frames": "16"})
    assert base != run_identity("hvp", {"pretrained": "Qwen/Qwen2.5-VL-7B-Instruct", "ablate_lds": "true",
                                        "clip_model": "openai:ViT-L/14"})
    assert base != run_identity("air_bolt", {"pretrained": "Qwen/Qwen2.5-VL-7B-Instruct", "ablate_lds": "true"})


def test_reference_numbers_are_the_readmes():
    """Every (backbone, benchmark) line of the README's table of the paper's numbers is in PAPER_REFERENCE."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Reference numbers from the paper", 1)[1].split("\n## ", 1)[0]
    benchmark_task = {"Video-MME (w/o subs)": "videomme_hvp", "MLVU dev": "mlvu_dev_hvp",
                      "LongVideoBench val": "longvideobench_val_v_hvp", "NExT-QA": "nextqa_mc_test_hvp"}
    tab1 = {row.label: row.run for row in TABLES["tab1"].rows}
    seen = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] not in benchmark_task:
            continue
        backbone = cells[1].split(" (")[0]
        task = benchmark_task[cells[0]]
        runs = [run for (bb, method), run in tab1.items() if bb == backbone]
        uniform_run = next(r for r in runs if r.startswith("uniform"))
        air_run = next(r for r in runs if r.startswith("air"))
        for run, cell in ((uniform_run, cells[2]), (air_run, cells[3])):
            numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", cell)]
            reference = PAPER_REFERENCE["results"][(run, task)]
            assert reference["accuracy"] == numbers[0], (run, task)
            if "frames" in cell and "frames" in reference:
                assert reference["frames"] == numbers[1], (run, task)
            seen.add((run, task))
    assert seen == set(PAPER_REFERENCE["results"]), "every reference number appears in the README and back"
    cost = PAPER_REFERENCE["video_mme_cost"]
    for value in cost.values():
        assert f"{value}" in section


def test_jobs_are_every_row_and_benchmark_in_order():
    jobs = TABLES["tab1"].jobs()
    assert len(jobs) == 8 * 5
    assert [(row.run, task) for row, task in jobs[:6]] == [
        ("uniform_internvl3", t) for t in ("videomme_hvp", "mlvu_dev_hvp", "longvideobench_val_v_hvp",
                                           "nextqa_mc_test_hvp", "egoschema_subset_hvp")] + [
        ("air_internvl3", "videomme_hvp")]
    assert [len(t.jobs()) for t in TABLES.values()] == [40, 30, 25, 25, 30]


def test_slurm_env_lines_evaluate_to_the_run_configs_values(tmp_path):
    script = REPO / "scripts" / "paper_tables.py"
    shell = (f'eval "$("{sys.executable}" "{script}" slurm-env selectors 9)"; '
             'printf "%s\\n" "$MODEL" "$PRETRAINED" "$CLIP" "$MODEL_ARGS_EXTRA" "$TASKS" "$RUN_TAG" "$RUN_CONFIG"')
    out = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.splitlines() == ["air_clip_topk", "Qwen/Qwen2.5-VL-7B-Instruct", "open_clip:EVA02-L-14/merged2b_s4b_b131k",
                                "", "egoschema_subset_hvp", "clip_topk", str(load_run("clip_topk").path)]
    env = paper_tables.slurm_env("tab1", 37)  # air_vila on LongVideoBench
    assert "export MODEL_ARGS_EXTRA=preset=vila" in env and "export CLIP=open_clip:EVA02-L-14/merged2b_s4b_b131k" in env
    assert "export CLIP=none" in paper_tables.slurm_env("tab1", 0), "uniform runs load no CLIP"


def test_command_line_errors_and_listing(capsys):
    assert paper_tables.main(["slurm-env", "tab1", "40"]) == 2
    assert "Invalid job index 40 for table tab1. Expected 0..39 (sbatch --array=0-39)." in capsys.readouterr().err
    assert paper_tables.main(["list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in TABLES)
    assert paper_tables.main(["list", "ablations"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "TABLE=ablations sbatch --array=0-24 scripts/slurm/table.sbatch"
    assert lines[0].split() == ["0", "air_default", "videomme_hvp"]
    with pytest.raises(ValueError, match="Unknown table: 'tab9'. Expected one of: tab1, efficiency"):
        paper_tables.table("tab9")
    with pytest.raises(FileNotFoundError, match="Run config not found: .*nope.yaml"):
        load_run("nope")
