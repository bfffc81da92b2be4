"""configs/: the lmms-eval `*_hvp` task YAMLs and the A.I.R. run configs, checked offline.

- lmms-eval's TaskManager indexes configs/ and every `!function` hook resolves;
- each YAML keeps its built-in task's dataset, split, generation settings, prompt kwargs and metric;
- the run configs pass lmms-eval's `--config` key check and their model_args parse into AIRConfig;
- every `*_hvp` task runs end to end through lmms-eval's real command line, started with `--config` from a
  copy of configs/runs/air_16_4_4.yaml, on stand-in rows with the real datasets' schema
  (tests/fixtures/configs/standin_rows.json) and videos generated under a temporary HF_HOME laid out as
  lmms-eval's own tasks expect; the metric must be in the results file and the selection summary in the
  samples file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from lmms_helpers import FAST_ARGS, results_of, run_lmms_eval, samples_of

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
RUNS = CONFIGS / "runs"
STANDIN = Path(__file__).parent / "fixtures" / "configs" / "standin_rows.json"

# task -> (stand-in rows key, lmms-eval folder of the built-in task, built-in task, primary metric)
TASKS = {
    "videomme_hvp": ("videomme", "videomme", "videomme", "videomme_perception_score"),
    "videomme_w_subtitle_hvp": ("videomme", "videomme", "videomme_w_subtitle", "videomme_perception_score"),
    "mlvu_dev_hvp": ("mlvu_dev", "mlvu", "mlvu_dev", "mlvu_percetion_score"),
    "mlvu_test_hvp": ("mlvu_test", "mlvu", "mlvu_test", "mlvu_percetion_score"),
    "longvideobench_val_v_hvp": ("longvideobench", "longvideobench", "longvideobench_val_v", "lvb_acc"),
    "nextqa_mc_test_hvp": ("nextqa_mc", "nextqa", "nextqa_mc_test", "exact_match"),
    "nextqa_oe_val_hvp": ("nextqa_oe", "nextqa", "nextqa_oe_val", "WUPS"),
    "egoschema_subset_hvp": ("egoschema", "egoschema", "egoschema_subset", "score"),
}
HOOKS = ("doc_to_visual", "doc_to_text", "doc_to_target", "process_results")
# Keys copied from the built-in task unchanged.
SAME_AS_BUILTIN = ("dataset_path", "dataset_name", "dataset_kwargs", "test_split", "output_type", "generation_kwargs",
                   "cluster_key")
SUMMARY_KEYS = {"method", "frame_indices", "timestamps_s", "budget", "n_analyzed", "stop_reason", "fallbacks"}


def task_yaml(task: str) -> Path:
    return CONFIGS / f"{task}.yaml"


def load_full(path: Path) -> dict:
    from lmms_eval import utils

    return utils.load_yaml_config(str(path), mode="full")


def builtin_config(folder: str, task: str) -> dict:
    """The built-in task's YAML (includes resolved, !function values left out) from lmms-eval's tasks folder."""
    import lmms_eval
    from lmms_eval import utils

    for path in sorted((Path(lmms_eval.__file__).parent / "tasks" / folder).glob("*.yaml")):
        config = utils.load_yaml_config(str(path), mode="simple")
        if isinstance(config, dict) and config.get("task") == task:
            return config
    raise AssertionError(f"built-in task {task} not found in lmms_eval/tasks/{folder}")


# ---------------------------------------------------------------- task YAMLs load and match the built-ins
@pytest.fixture(scope="module")
def task_manager():
    from lmms_eval.tasks import TaskManager

    return TaskManager(include_path=str(CONFIGS), include_defaults=False)


def test_task_manager_indexes_every_hvp_task_and_nothing_else(task_manager):
    assert sorted(task_manager.task_index) == sorted(TASKS)
    for task, entry in task_manager.task_index.items():
        assert entry["type"] == "task", (task, entry)
        assert Path(entry["yaml_path"]) == task_yaml(task)


def test_every_function_hook_resolves_to_benchmark_utils(task_manager):
    from benchmark_utils import hvp_tasks

    for task, (_, _, _, metric) in TASKS.items():
        config = load_full(Path(task_manager.task_index[task]["yaml_path"]))
        assert config["task"] == task
        for hook in ("doc_to_visual", "doc_to_text", "process_results"):
            function = config[hook]
            assert callable(function), (task, hook, function)
            assert function is getattr(hvp_tasks, function.__name__), (task, hook)
        target = config["doc_to_target"]
        assert isinstance(target, str) or target is getattr(hvp_tasks, target.__name__), (task, target)
        metrics = {entry["metric"]: entry for entry in config["metric_list"]}
        assert list(metrics) == [metric, hvp_tasks.SUMMARY_METRIC], task
        assert metrics[hvp_tasks.SUMMARY_METRIC]["aggregation"] is hvp_tasks.summary_aggregation
        aggregation = metrics[metric]["aggregation"]
        assert aggregation == "mean" or aggregation is getattr(hvp_tasks, aggregation.__name__), (task, aggregation)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_hvp_task_keeps_the_builtin_dataset_split_prompt_and_metric(task):
    _, folder, builtin_name, metric = TASKS[task]
    ours = yaml.load(task_yaml(task).read_text(), Loader=_IgnoreFunctionLoader)
    builtin = builtin_config(folder, builtin_name)
    for key in SAME_AS_BUILTIN:
        assert ours.get(key) == builtin.get(key), f"{task}: {key} differs from {builtin_name}"
    assert ours["metric_list"][0]["metric"] == metric
    assert [m["metric"] for m in builtin["metric_list"]] == [metric]
    assert ours["metric_list"][0]["higher_is_better"] is True
    if isinstance(builtin.get("doc_to_target"), str):
        assert ours["doc_to_target"] == builtin["doc_to_target"]
    kwargs = dict(ours.get("lmms_eval_specific_kwargs") or {})
    expected = dict(builtin.get("lmms_eval_specific_kwargs") or {})
    # no `hvp:` entry: hvp takes the entry of its backbone's lmms-eval model (air/task_prompts.py)
    assert "hvp" not in kwargs, f"{task}: an hvp entry would be ignored"
    assert kwargs == expected, f"{task}: prompt kwargs differ from {builtin_name}"


class _IgnoreFunctionLoader(yaml.SafeLoader):
    """Reads a task YAML as plain data: a `!function a.b` value becomes the string 'a.b'."""


_IgnoreFunctionLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


# ---------------------------------------------------------------- hooks in-process
def test_summary_aggregation_is_mean_answering_frames_of_good_samples():
    from benchmark_utils.hvp_tasks import summary_aggregation

    items = [{"frame_indices": [1, 2, 3]}, None, {"frame_indices": [], "error": "MissingVideoError: x"},
             {"frame_indices": [4]}]
    assert summary_aggregation(items) == 2.0
    assert summary_aggregation([None, None]) is None
    assert summary_aggregation([]) is None


def test_process_results_adds_the_remembered_summary_to_lmms_eval_metrics():
    from air.traces import remember_summary
    from benchmark_utils import hvp_tasks

    rows = json.loads(STANDIN.read_text())["egoschema"]["rows"]
    doc = {k: v for k, v in rows[0].items() if k != "video_file"}
    other = {k: v for k, v in rows[1].items() if k != "video_file"}
    record = {"method": "air", "frame_indices": [3, 9], "timestamps_s": [0.6, 1.8], "budget": 8,
              "n_analyzed": 4, "stop_reason": "max_rounds", "fallbacks": [{"reason": "no_events"}], "rounds": [1]}
    remember_summary(doc, record)
    out = hvp_tasks.egoschema_process_results(doc, ["A"])
    assert out["score"] == {"pred": 0, "ground_truth": "0"}, "lmms-eval's own scoring is kept"
    assert out["submission"] == {"egoA0001": 0}
    assert out["air_selection"] == {"method": "air", "frame_indices": [3, 9], "timestamps_s": [0.6, 1.8],
                                    "budget": 8, "n_analyzed": 4, "stop_reason": "max_rounds",
                                    "fallbacks": ["no_events"]}
    assert hvp_tasks.egoschema_process_results(other, ["B"])["air_selection"] is None, "no summary for this doc"
    with pytest.raises(ValueError, match="air_selection"):
        hvp_tasks.with_selection(doc, {"air_selection": 1})


def test_missing_video_raises_instead_of_exiting(tmp_path, monkeypatch):
    from benchmark_utils import MissingVideoError, hvp_tasks

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    rows = json.loads(STANDIN.read_text())
    with pytest.raises(MissingVideoError, match="tutorialQA_9.mp4"):
        hvp_tasks.mlvu_doc_to_visual_test(rows["mlvu_test"]["rows"][1])
    with pytest.raises(MissingVideoError, match="vmmeA0001"):
        hvp_tasks.videomme_doc_to_visual(rows["videomme"]["rows"][0])


def test_subtitle_task_base_prompt_is_lmms_eval_subtitle_prompt_without_subtitles(tmp_path, monkeypatch):
    """Base context = lmms-eval's videomme_w_subtitle prompt minus its subtitle block; the hvp model's
    prompt at the selected frames (mme_utils.subtitle_prompt) is the subtitle block + that same text."""
    from lmms_eval.tasks.videomme import utils as lmms_mme

    from benchmark_utils import hvp_tasks, mme_utils

    data = json.loads(STANDIN.read_text())["videomme"]
    doc = data["rows"][0]
    kwargs = yaml.load(task_yaml("videomme_w_subtitle_hvp").read_text(),
                       Loader=_IgnoreFunctionLoader)["lmms_eval_specific_kwargs"]["default"]
    base = hvp_tasks.videomme_subtitle_base_text(doc, kwargs)
    assert "subtitles are listed" not in base and base.endswith("The best answer is:")
    assert "Which colour is shown first?\nA. Red.\nB. Blue." in base
    # lmms-eval's own subtitle prompt for a video without an .srt file (its HF_HOME has none for this id)
    assert lmms_mme.videomme_doc_to_text_subtitle(doc, kwargs) == mme_utils.SUBTITLES_HEADER + "No subtitles available\n" + base
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    srt = tmp_path / "videomme" / "subtitle" / "vmmeA0001.srt"
    srt.parent.mkdir(parents=True)
    srt.write_text(data["srt"]["vmmeA0001"])
    ours = mme_utils.subtitle_prompt(doc, [1.0, 3.5, 11.0])
    assert ours == mme_utils.SUBTITLES_HEADER + "the red part starts\noverlapping middle cue\nthe blue part ends\n" + base


def test_nextqa_oe_prompt_checks_wups_scoring_before_generation():
    """WUPS needs pywsd and NLTK data; the prompt hook fails fast with the fix when they are missing."""
    from benchmark_utils import hvp_tasks

    doc = {k: v for k, v in json.loads(STANDIN.read_text())["nextqa_oe"]["rows"][0].items() if k != "video_file"}
    kwargs = {"pre_prompt": "", "post_prompt": "\nAnswer a question using a short phrase or sentence."}
    if _wups_scoring_available():
        assert hvp_tasks.nextqa_doc_to_text_oe(doc, kwargs) == "what colour is shown first" + kwargs["post_prompt"]
    else:
        with pytest.raises(RuntimeError, match="pip install pywsd"):
            hvp_tasks.nextqa_doc_to_text_oe(doc, kwargs)


def _wups_scoring_available() -> bool:
    from benchmark_utils import hvp_tasks

    try:
        hvp_tasks.require_nextqa_oe_scoring()
    except RuntimeError:
        return False
    return True


# ---------------------------------------------------------------- run configs
def _lmms_eval_config_keys() -> set[str]:
    from lmms_eval.__main__ import parse_eval_args

    argv = sys.argv
    sys.argv = ["lmms_eval"]
    try:
        parser, _ = parse_eval_args()
    finally:
        sys.argv = argv
    return {action.dest for action in parser._actions} - {"help"}


def _model_args(text: str) -> dict:
    from lmms_eval.utils import simple_parse_args_string

    return simple_parse_args_string(text)


PAPER_SETTINGS = {"default": (32, 12, 6), "efficient_16_8_4": (16, 8, 4), "efficient_16_4_4": (16, 4, 4),
                  "efficient_16_8_2": (16, 8, 2), "efficient_32_8_4": (32, 8, 4), "efficient_32_16_8": (32, 16, 8)}
ABLATIONS = ("ablate_threshold", "ablate_ranking", "ablate_analysis", "ablate_lds")
RUN_PRESETS = {"air_default.yaml": "default",
               **{f"air_{name.removeprefix('efficient_')}.yaml": name for name in PAPER_SETTINGS if name != "default"},
               **{f"air_{name}.yaml": "default" for name in ABLATIONS}}


# Run configs of the paper's other tables (scripts/paper_tables.py): file -> (model, preset or None,
# num_frames or None). Tab. 1's other backbones, the strategy presets and the selector comparison.
OTHER_RUNS = {
    "uniform_baseline.yaml": ("air_uniform", None, 32),
    "air_internvl3.yaml": ("hvp", "default", None), "uniform_internvl3.yaml": ("air_uniform", None, 32),
    "air_llava_ov.yaml": ("hvp", "default", None), "uniform_llava_ov.yaml": ("air_uniform", None, 32),
    "air_vila.yaml": ("hvp", "vila", None), "uniform_vila.yaml": ("air_uniform", None, 8),
    **{f"air_{name}.yaml": ("hvp", name, None) for name in ("short", "long", "conservative", "aggressive")},
    "uniform_budget.yaml": ("air_uniform", None, None), "clip_topk.yaml": ("air_clip_topk", None, None),
    "bolt.yaml": ("air_bolt", None, None), "aks.yaml": ("air_aks", None, None), "mdp3.yaml": ("air_mdp3", None, None),
}


def test_run_configs_pass_lmms_eval_config_check_and_parse():
    from air.config import AIRConfig
    from air.hvp import split_model_args, valid_model_args
    from air.lmms_plugin import MODELS

    valid = _lmms_eval_config_keys()
    files = sorted(p.name for p in RUNS.glob("*.yaml"))
    assert set(files) == set(RUN_PRESETS) | set(OTHER_RUNS), "every run config is known to this test"
    for name in files:
        config = yaml.safe_load((RUNS / name).read_text())
        # a mapping, not a list: configs/ is also lmms-eval's include_path, whose indexer expects mappings
        assert isinstance(config, dict), name
        assert set(config) <= valid, f"{name}: keys lmms-eval's --config rejects: {set(config) - valid}"
        assert config["model"] in MODELS, name
        assert (ROOT / config["include_path"]).resolve() == CONFIGS, name
        assert set(config["tasks"].split(",")) <= set(TASKS), name
        assert config["log_samples"] is True and int(config["batch_size"]) == 1
        assert config["output_path"] == f"logs/{name.removesuffix('.yaml')}", "one output folder per run config"
        args = _model_args(config["model_args"])
        assert "pretrained" in args, name
        if name in RUN_PRESETS:
            assert config["model"] == "hvp", name
            _, _, air_args = split_model_args(args)
            air = AIRConfig.from_model_args(air_args)
            assert (air.max_frames, air.candidates_per_round, air.max_rounds) == PAPER_SETTINGS[RUN_PRESETS[name]]
            assert args["preset"] == RUN_PRESETS[name]
            # the ablation runs switch exactly their own ablation on; every other run none
            assert [a for a in ABLATIONS if getattr(air, a)] == [a for a in ABLATIONS if name == f"air_{a}.yaml"], name
            continue
        model, preset, num_frames = OTHER_RUNS[name]
        assert config["model"] == model, name
        if model == "hvp":
            _, _, air_args = split_model_args(args)
            air = AIRConfig.from_model_args(air_args)
            assert args["preset"] == preset and air == AIRConfig.from_preset(preset), name
        else:
            from baselines.uniform import SelectorBaseline

            cls_path = MODELS[model]
            module, cls_name = cls_path.rsplit(".", 1)
            cls = getattr(__import__(module, fromlist=[cls_name]), cls_name)
            assert issubclass(cls, SelectorBaseline)
            assert set(args) <= set(valid_model_args()) | set(cls.baseline_options), name
            assert (int(args["num_frames"]) if "num_frames" in args else None) == num_frames, name
            assert ("clip_model" in args) == cls.uses_clip, f"{name}: clip_model exactly when the baseline uses CLIP"
    hvp_runs = [yaml.safe_load((RUNS / name).read_text()) for name in RUN_PRESETS]
    uniform = yaml.safe_load((RUNS / "uniform_baseline.yaml").read_text())
    tasks = {yaml.safe_load((RUNS / name).read_text())["tasks"] for name in files}
    assert tasks == {uniform["tasks"]}, "every run covers the same tasks"
    assert {_model_args(run["model_args"])["pretrained"] for run in hvp_runs} == {
        _model_args(uniform["model_args"])["pretrained"]}, "same backbone"


# ---------------------------------------------------------------- end to end, offline
def _standin_task_yaml(task: str, split: str, data_file: Path) -> str:
    """The task's YAML with its hub dataset replaced by a local JSON file (everything else unchanged)."""
    out, skipping = [], False
    for line in task_yaml(task).read_text().splitlines():
        if skipping and (line.startswith(" ") or not line.strip()):
            continue
        skipping = False
        if line.startswith("dataset_kwargs:"):
            skipping = True
            continue
        if line.startswith(("dataset_path:", "dataset_name:")):
            continue
        out.append(line)
    header = f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    {split}: {data_file}\n"
    return header + "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """Stand-in datasets (JSONL), task YAML copies and videos under a temporary HF_HOME."""
    from air.testing.videos import write_video

    root = tmp_path_factory.mktemp("standin")
    hf_home, tasks_dir = root / "hf_home", root / "tasks"
    tasks_dir.mkdir()
    data = json.loads(STANDIN.read_text())
    videos: dict[str, int] = {}  # video file under HF_HOME -> its frame count
    for key, spec in data.items():
        if key.startswith("_"):
            continue
        rows = []
        for i, row in enumerate(spec["rows"]):
            row = dict(row)
            relative = row.pop("video_file")
            if relative is not None and relative not in videos:
                duration_s = 12.0 if i == 0 else 9.0
                generated = write_video(hf_home / relative, duration_s=duration_s, fps=5, size=(96, 64),
                                        segments=[(0, duration_s / 2, "red"), (duration_s / 2, duration_s, "blue")],
                                        seed=len(videos))
                videos[relative] = generated.n_frames
            rows.append(row)
        spec["video_files"] = [row["video_file"] for row in spec["rows"]]
        with open(tasks_dir / f"{key}.jsonl", "w") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
        for video_id, content in spec.get("srt", {}).items():
            srt = hf_home / "videomme" / "subtitle" / f"{video_id}.srt"
            srt.parent.mkdir(parents=True, exist_ok=True)
            srt.write_text(content)
    for task, (key, _, _, _) in TASKS.items():
        text = _standin_task_yaml(task, data[key]["split"], tasks_dir / f"{key}.jsonl")
        (tasks_dir / f"{task}.yaml").write_text(text)
    return {"hf_home": hf_home, "tasks_dir": tasks_dir, "data": data, "video_frames": videos}


def test_standin_yaml_only_swaps_the_dataset(standin):
    for task in TASKS:
        ours = yaml.load((standin["tasks_dir"] / f"{task}.yaml").read_text(), Loader=_IgnoreFunctionLoader)
        original = yaml.load(task_yaml(task).read_text(), Loader=_IgnoreFunctionLoader)
        assert ours["dataset_path"] == "json" and "dataset_name" not in ours
        assert Path(ours["dataset_kwargs"]["data_files"][original["test_split"]]).is_file()
        for key in set(original) - {"dataset_path", "dataset_name", "dataset_kwargs"}:
            assert ours[key] == original[key], (task, key)


@pytest.fixture(scope="module")
def e2e_run(standin, tmp_path_factory):
    """One lmms-eval run of every *_hvp task (--limit 2) through a copy of configs/runs/air_16_4_4.yaml.

    nextqa_oe_val_hvp joins only when lmms-eval's WUPS scorer can run here (pywsd + NLTK data): without
    it, its prompt hook stops the whole run on purpose (test_nextqa_oe_prompt_checks_...).
    """
    from air.demo import build_tiny_models
    from air.traces import load_traces

    tmp_path = tmp_path_factory.mktemp("e2e")
    pretrained, clip = build_tiny_models(tmp_path / "tiny")
    tasks = [t for t in TASKS if t != "nextqa_oe_val_hvp" or _wups_scoring_available()]
    output = tmp_path / "out"
    config = yaml.safe_load((RUNS / "air_16_4_4.yaml").read_text())
    model_args = _model_args(config["model_args"])
    model_args.update(pretrained=pretrained, clip_model=clip, trace_dir=str(output / "traces"), **_model_args(FAST_ARGS))
    config.update(model_args=",".join(f"{k}={v}" for k, v in model_args.items()), tasks=",".join(tasks),
                  include_path=str(standin["tasks_dir"]), output_path=str(output), limit=2)
    run_config = tmp_path / "run.yaml"
    run_config.write_text(yaml.safe_dump(config))
    proc = run_lmms_eval(["--config", str(run_config)],
                         {"HF_HOME": str(standin["hf_home"]), "AIR_CLIP_CACHE_DIR": str(tmp_path / "clip_cache"),
                          "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"tasks": tasks, "output": output, "results": results_of(output), "traces": load_traces(output / "traces"),
            "log": proc.stdout[-3000:] + proc.stderr[-3000:]}


def _check_task_run(run: dict, standin: dict, task: str) -> None:
    """The task's metric is in the results file and each sample carries its selection summary."""
    metric = TASKS[task][3]
    task_results = run["results"]["results"].get(task)
    assert task_results, f"{task} missing from results: {sorted(run['results']['results'])}\n{run['log']}"
    assert isinstance(task_results[f"{metric},none"], (int, float)), (task, task_results)
    samples = sorted(samples_of(run["output"], task), key=lambda s: s["doc_id"])
    assert [s["doc_id"] for s in samples] == [0, 1], task
    good = []
    for sample in samples:
        assert metric in sample, (task, sorted(sample))
        summary = sample["air_selection"]
        assert isinstance(summary, dict) and summary["method"] == "air", (task, summary)
        if task == "mlvu_test_hvp" and sample["doc_id"] == 1:
            assert "MissingVideoError" in summary["error"] and "tutorialQA_9.mp4" in summary["error"]
            assert sample["filtered_resps"] == ""
            continue
        assert not summary.get("error"), (task, summary)
        assert SUMMARY_KEYS <= set(summary), (task, sorted(summary))
        # the video lmms-eval's own task would read: the layout under HF_HOME, through benchmark_utils
        video_file = standin["data"][TASKS[task][0]]["video_files"][sample["doc_id"]]
        trace = run["traces"][f"{task}::{sample['doc_id']}"]
        assert trace["video"] == str(standin["hf_home"] / video_file), (task, trace["video"])
        assert trace["n_frames"] == standin["video_frames"][video_file]
        frames = summary["frame_indices"]
        assert frames == trace["frame_indices"] and summary["n_analyzed"] == trace["n_analyzed"]
        assert frames == sorted(set(frames)) and 0 < len(frames) <= summary["budget"] <= 8, (task, summary)
        assert max(frames) < trace["n_frames"]
        assert len(summary["timestamps_s"]) == len(frames)
        assert summary["n_analyzed"] <= 4 * 2, "FAST_ARGS: 4 candidates x 2 rounds"
        good.append(len(frames))
    assert task_results["air_selection,none"] == pytest.approx(sum(good) / len(good)), task


@pytest.mark.slow
def test_every_hvp_task_runs_end_to_end_through_a_run_config(e2e_run, standin):
    results = e2e_run["results"]
    assert results["config"]["model"] == "hvp" and "preset=efficient_16_4_4" in results["config"]["model_args"]
    for task in TASKS:
        if task != "nextqa_oe_val_hvp":
            _check_task_run(e2e_run, standin, task)
    inputs = [s["input"] for s in samples_of(e2e_run["output"], "videomme_w_subtitle_hvp")]
    assert all("subtitles are listed" not in text and text.endswith("The best answer is:") for text in inputs)


@pytest.mark.slow
def test_nextqa_oe_task_runs_end_to_end_when_wups_can_score(e2e_run, standin):
    if "nextqa_oe_val_hvp" not in e2e_run["tasks"]:
        pytest.skip("lmms-eval's WUPS scorer needs pywsd and NLTK data, not installed here")
    _check_task_run(e2e_run, standin, "nextqa_oe_val_hvp")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_selection_summary_reaches_the_samples_file_from_every_rank(standin, tmp_path):
    """Two processes: each rank scores the docs it answered, so each sample still gets its summary."""
    from air.demo import build_tiny_models

    pretrained, clip = build_tiny_models(tmp_path / "tiny")
    output = tmp_path / "out"
    model_args = f"pretrained={pretrained},clip_model={clip},{FAST_ARGS},trace_dir={output / 'traces'}"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", str(_free_port()), "-m", "lmms_eval"]
    proc = run_lmms_eval(
        ["--model", "hvp", "--model_args", model_args, "--tasks", "egoschema_subset_hvp",
         "--include_path", str(standin["tasks_dir"]), "--batch_size", "1", "--limit", "2",
         "--output_path", str(output), "--log_samples"],
        {"HF_HOME": str(standin["hf_home"]), "AIR_CLIP_CACHE_DIR": str(tmp_path / "clip_cache"),
         "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"},
        launcher=launcher,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (output / "traces").glob("traces_rank*.jsonl")) == [
        "traces_rank0.jsonl", "traces_rank1.jsonl"], "one doc per rank"
    samples = sorted(samples_of(output, "egoschema_subset_hvp"), key=lambda s: s["doc_id"])
    assert [s["doc_id"] for s in samples] == [0, 1]
    for sample in samples:
        summary = sample["air_selection"]
        assert summary and summary["method"] == "air" and summary["frame_indices"] and not summary.get("error"), sample
    assert isinstance(results_of(output)["results"]["egoschema_subset_hvp"]["score,none"], float)
