"""SLURM templates in scripts/slurm: syntax, shellcheck, and the launch logic run with a stand-in `accelerate`.

The stand-in `accelerate` (a small bash script in a throw-away venv) only records its arguments and
environment and optionally writes a results file, so the template logic (variables, array index, command
line, result check) is tested without GPUs; the real lmms-eval launch is tested by the hvp model's tests.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLURM = REPO / "scripts" / "slurm"
SCRIPTS = sorted([*SLURM.glob("*.sbatch"), *SLURM.glob("*.sh")])
DEFAULT_TASKS = [
    "videomme_hvp",
    "videomme_w_subtitle_hvp",
    "mlvu_dev_hvp",
    "mlvu_test_hvp",
    "longvideobench_val_v_hvp",
    "nextqa_mc_test_hvp",
    "nextqa_oe_val_hvp",
    "egoschema_subset_hvp",
]

FAKE_ACCELERATE = r"""#!/bin/bash
# Stand-in for accelerate: record argv and environment; write a results file when asked.
printf '%s\n' "$@" > "$FAKE_ARGS_FILE"
{
  echo "HF_HOME=$HF_HOME"
  echo "AIR_CLIP_CACHE_DIR=$AIR_CLIP_CACHE_DIR"
  echo "ACTIVATED=${AIR_TEST_ACTIVATED:-0}"
} > "$FAKE_ENV_FILE"
out=""
prev=""
for arg in "$@"; do
  if [ "$prev" = "--output_path" ]; then out="$arg"; fi
  prev="$arg"
done
if [ "${FAKE_WRITE_RESULTS:-0}" = 1 ]; then
  mkdir -p "$out/model"
  echo '{"results": {}}' > "$out/model/20261128_101500_results.json"
fi
exit "${FAKE_EXIT:-0}"
"""


def test_scripts_exist():
    names = {path.name for path in SCRIPTS}
    assert {"run_benchmark.sh", "air.sbatch", "uniform.sbatch", "baseline.sbatch", "table.sbatch", "multinode.sbatch",
            "cache.sbatch", "cache_build.sh", "common.sh"} <= names
    assert (SLURM / "README.md").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_bash_syntax(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck binary not found on PATH (install it with apt-get install shellcheck)")
    result = subprocess.run([shellcheck, "--shell=bash", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_nothing_site_specific_is_hard_coded(script):
    text = script.read_text(encoding="utf-8")
    directives = [line for line in text.splitlines() if line.startswith("#SBATCH")]
    for line in directives:
        assert not re.search(r"\s(-p|--partition|-A|--account|--qos|--mail-user)\b", line), line
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#!"))
    assert not re.search(r"(?<![\w$}])/(home|work|scratch|data|mnt|gpfs|lustre|opt|shared)/", body)
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", text)  # no token


def base_env(tmp_path: Path, venv: Path) -> dict:
    """The launcher's required variables: a repo folder (scripts linked in), venv, HF_HOME, cache, output."""
    repo = tmp_path / "repo"
    (repo / "configs").mkdir(parents=True)
    (repo / "scripts").symlink_to(REPO / "scripts")
    hf_home = tmp_path / "hf"
    hf_home.mkdir()
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIR_REPO": str(repo),
        "AIR_VENV": str(venv),
        "HF_HOME": str(hf_home),
        "AIR_CLIP_CACHE_DIR": str(tmp_path / "clip_cache"),
        "OUTPUT_DIR": str(tmp_path / "out"),
    }


@pytest.fixture
def env_setup(tmp_path):
    """A fake venv whose bin/accelerate is the stand-in, plus the shared folders; returns (env, paths)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text(
        f'export PATH="{venv}/bin:$PATH"\nexport AIR_TEST_ACTIVATED=1\n', encoding="utf-8"
    )
    accelerate = venv / "bin" / "accelerate"
    accelerate.write_text(FAKE_ACCELERATE, encoding="utf-8")
    accelerate.chmod(0o755)
    env = {
        **base_env(tmp_path, venv),
        "PRETRAINED": "Qwen/Qwen2.5-VL-7B-Instruct",
        "FAKE_ARGS_FILE": str(tmp_path / "args.txt"),
        "FAKE_ENV_FILE": str(tmp_path / "env.txt"),
        "SLURM_ARRAY_TASK_ID": "4",
        "SLURM_JOB_ID": "123456",
    }
    return env, tmp_path


def run(script: str, env: dict, **extra) -> subprocess.CompletedProcess:
    merged = {**env, **{k: v for k, v in extra.items() if v is not None}}
    for key in [k for k, v in extra.items() if v is None]:
        merged.pop(key, None)
    return subprocess.run(["bash", str(SLURM / script)], env=merged, capture_output=True, text=True, timeout=60, check=False)


def recorded_args(tmp_path: Path) -> list[str]:
    return (tmp_path / "args.txt").read_text(encoding="utf-8").splitlines()


def arg_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_air_template_launches_hvp_on_the_array_task(env_setup):
    env, tmp_path = env_setup
    result = run("air.sbatch", env, FAKE_WRITE_RESULTS="1", MODEL_ARGS_EXTRA="max_frames=16,candidates_per_round=8")
    assert result.returncode == 0, result.stderr
    args = recorded_args(tmp_path)
    assert args[:2] == ["launch", "--num_processes"]
    assert args[args.index("-m") + 1] == "lmms_eval"
    assert arg_after(args, "--model") == "hvp"
    task = DEFAULT_TASKS[4]
    assert arg_after(args, "--tasks") == task
    run_dir = tmp_path / "out" / task / "hvp" / "Qwen2.5-VL-7B-Instruct"
    assert arg_after(args, "--output_path") == str(run_dir)
    assert arg_after(args, "--model_args") == (
        "pretrained=Qwen/Qwen2.5-VL-7B-Instruct,clip_model=open_clip:EVA02-L-14/merged2b_s4b_b131k,"
        f"trace_dir={run_dir / 'traces'},resume=True,max_frames=16,candidates_per_round=8"
    )
    assert arg_after(args, "--include_path") == str(tmp_path / "repo" / "configs")
    assert "--log_samples" in args
    assert arg_after(args, "--batch_size") == "1"
    assert arg_after(args, "--num_processes") == "1"
    port = int(arg_after(args, "--main_process_port"))
    assert port == 20000 + 123456 % 20000
    recorded_env = (tmp_path / "env.txt").read_text(encoding="utf-8")
    assert f"HF_HOME={env['HF_HOME']}" in recorded_env
    assert f"AIR_CLIP_CACHE_DIR={env['AIR_CLIP_CACHE_DIR']}" in recorded_env
    assert "ACTIVATED=1" in recorded_env
    assert (run_dir / "traces").is_dir() and Path(env["AIR_CLIP_CACHE_DIR"]).is_dir()
    assert "results:" in result.stdout and not list(run_dir.glob(".started_*"))


def test_uniform_template_uses_air_uniform_with_the_same_arguments(env_setup):
    env, tmp_path = env_setup
    result = run("uniform.sbatch", env, FAKE_WRITE_RESULTS="1", SLURM_ARRAY_TASK_ID="0", SLURM_GPUS_ON_NODE="4")
    assert result.returncode == 0, result.stderr
    args = recorded_args(tmp_path)
    assert arg_after(args, "--model") == "air_uniform"
    assert arg_after(args, "--tasks") == "videomme_hvp"
    assert arg_after(args, "--num_processes") == "4"
    assert arg_after(args, "--model_args").startswith("pretrained=Qwen/Qwen2.5-VL-7B-Instruct,clip_model=")


def test_baseline_template_requires_model(env_setup):
    env, tmp_path = env_setup
    result = run("baseline.sbatch", env)
    assert result.returncode != 0
    assert "set MODEL to" in result.stderr
    result = run("baseline.sbatch", env, MODEL="air_topk", FAKE_WRITE_RESULTS="1", CLIP="none")
    assert result.returncode == 0, result.stderr
    args = recorded_args(tmp_path)
    assert arg_after(args, "--model") == "air_topk"
    assert "clip_model=" not in arg_after(args, "--model_args")


@pytest.mark.parametrize("variable", ["AIR_REPO", "HF_HOME", "AIR_CLIP_CACHE_DIR", "PRETRAINED", "OUTPUT_DIR"])
def test_missing_required_variable_is_named(env_setup, variable):
    env, tmp_path = env_setup
    result = run("air.sbatch", env, **{variable: None})
    assert result.returncode != 0
    assert f"set {variable} to" in result.stderr
    assert not (tmp_path / "args.txt").exists()


def test_missing_environment_is_explained(env_setup):
    env, _ = env_setup
    result = run("air.sbatch", env, AIR_VENV=None)
    assert result.returncode != 0
    assert "AIR_VENV" in result.stderr and "AIR_CONDA_ENV" in result.stderr


def test_task_index_out_of_range_lists_the_tasks(env_setup):
    env, _ = env_setup
    result = run("air.sbatch", env, SLURM_ARRAY_TASK_ID="8")
    assert result.returncode != 0
    assert "Expected 0..7" in result.stderr and "egoschema_subset_hvp" in result.stderr


def test_no_array_and_no_index_is_explained(env_setup):
    env, _ = env_setup
    result = run("air.sbatch", env, SLURM_ARRAY_TASK_ID=None)
    assert result.returncode != 0
    assert "--array=0-7" in result.stderr


def test_custom_task_list_and_manual_index(env_setup):
    env, tmp_path = env_setup
    result = run(
        "air.sbatch", env, SLURM_ARRAY_TASK_ID=None, TASK_INDEX="1", TASKS="videomme,mlvu_dev", FAKE_WRITE_RESULTS="1", LIMIT="2"
    )
    assert result.returncode == 0, result.stderr
    args = recorded_args(tmp_path)
    assert arg_after(args, "--tasks") == "mlvu_dev"
    assert arg_after(args, "--limit") == "2"


@pytest.mark.parametrize("variable", ["PRETRAINED", "CLIP", "OUTPUT_DIR", "RUN_TAG", "MODEL"])
def test_comma_in_a_value_joined_into_model_args_is_rejected(env_setup, variable):
    env, tmp_path = env_setup
    script = "baseline.sbatch" if variable == "MODEL" else "air.sbatch"
    result = run(script, env, **{"FAKE_WRITE_RESULTS": "1", "MODEL": "air_uniform", variable: "a,b=1"})
    assert result.returncode == 2
    assert f"Invalid {variable}: 'a,b=1'. It must not contain a comma" in result.stderr
    assert not (tmp_path / "args.txt").exists()


def test_missing_hf_home_directory_is_rejected(env_setup):
    env, tmp_path = env_setup
    result = run("air.sbatch", env, HF_HOME=str(tmp_path / "nope"))
    assert result.returncode != 0 and "is not a directory" in result.stderr


def test_no_results_file_is_a_failure_even_when_lmms_eval_exits_zero(env_setup):
    env, _ = env_setup
    result = run("air.sbatch", env)
    assert result.returncode == 1
    assert "wrote no *_results.json" in result.stderr


def test_stale_results_file_from_an_earlier_run_does_not_count(env_setup):
    env, tmp_path = env_setup
    run_dir = tmp_path / "out" / DEFAULT_TASKS[4] / "hvp" / "Qwen2.5-VL-7B-Instruct" / "model"
    run_dir.mkdir(parents=True)
    old = run_dir / "20200101_000000_results.json"
    old.write_text("{}", encoding="utf-8")
    os.utime(old, (1_600_000_000, 1_600_000_000))
    result = run("air.sbatch", env)
    assert result.returncode == 1, result.stdout


def test_lmms_eval_failure_status_is_propagated(env_setup):
    env, _ = env_setup
    result = run("air.sbatch", env, FAKE_EXIT="3")
    assert result.returncode == 3
    assert "exited with status 3" in result.stderr


def test_dry_run_prints_the_command_without_launching(env_setup):
    env, tmp_path = env_setup
    result = run("air.sbatch", env, DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert "accelerate launch" in result.stdout and "--model hvp" in result.stdout
    assert not (tmp_path / "args.txt").exists()


# ---------------------------------------------------------------- multinode.sbatch: one benchmark over several nodes
FAKE_SRUN = r"""#!/bin/bash
# Stand-in for srun in a fake allocation of SLURM_NNODES nodes: record the options, then run the command once
# per node in turn, with the variables srun gives each task (one task per node).
printf '%s\n' "$@" > "$FAKE_SRUN_ARGS"
while [ "$#" -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
status=0
for ((node = 0; node < SLURM_NNODES; node++)); do
  SLURM_NODEID=$node SLURM_PROCID=$node SLURM_LOCALID=${FAKE_LOCALID:-0} SLURMD_NODENAME="gpu-node$node" \
    FAKE_ARGS_FILE="$FAKE_ARGS_FILE.node$node" "$@" || status=$?
done
exit "$status"
"""

FAKE_SCONTROL = r"""#!/bin/bash
# Stand-in for scontrol: `scontrol show hostnames LIST` of the fake allocation.
[ "$1 $2" = "show hostnames" ] || { echo "fake scontrol: unexpected arguments: $*" >&2; exit 1; }
echo "$3" > "$FAKE_SCONTROL_ARGS"
printf 'gpu-a17\ngpu-b03\n'
"""


@pytest.fixture
def multinode_env(env_setup):
    """env_setup in a fake 2-node allocation (4 GPUs per node): stand-in srun and scontrol on PATH."""
    env, tmp_path = env_setup
    bin_dir = tmp_path / "slurm_bin"
    bin_dir.mkdir()
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}:{env['PATH']}", "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "gpu-[a17,b03]",
           "SLURM_GPUS_ON_NODE": "4", "SLURM_CPUS_PER_TASK": "16", "SLURM_JOB_ID": "777",
           "FAKE_SRUN_ARGS": str(tmp_path / "srun_args.txt"), "FAKE_SCONTROL_ARGS": str(tmp_path / "scontrol_args.txt")}
    env.pop("SLURM_ARRAY_TASK_ID")
    return env, tmp_path


def test_multinode_dry_run_prints_one_accelerate_launch_per_node(multinode_env):
    env, tmp_path = multinode_env
    result = run("multinode.sbatch", env, DRY_RUN="1", TASK_INDEX="0")
    assert result.returncode == 0, result.stderr
    srun_args = (tmp_path / "srun_args.txt").read_text(encoding="utf-8").splitlines()
    assert srun_args[:5] == ["--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--cpus-per-task=16",
                             "--kill-on-bad-exit=1"]
    assert srun_args[5:] == ["bash", str(tmp_path / "repo" / "scripts" / "slurm" / "run_benchmark.sh")]
    assert (tmp_path / "scontrol_args.txt").read_text(encoding="utf-8").strip() == "gpu-[a17,b03]"
    run_dir = tmp_path / "out" / "videomme_hvp" / "hvp" / "Qwen2.5-VL-7B-Instruct"
    # the printed lines are shell-quoted (printf %q): read them back as the shell would
    commands = [shlex.split(line[len("command: "):]) for line in result.stdout.splitlines()
                if line.startswith("command: ")]
    expected = [
        ("accelerate launch --multi_gpu --num_machines 2 --machine_rank " + str(node) +
         " --main_process_ip gpu-a17 --num_processes 8 --main_process_port 20777 -m lmms_eval --model hvp"
         " --model_args pretrained=Qwen/Qwen2.5-VL-7B-Instruct,clip_model=open_clip:EVA02-L-14/merged2b_s4b_b131k,"
         f"trace_dir={run_dir / 'traces'},resume=True --tasks videomme_hvp --include_path {tmp_path / 'repo' / 'configs'}"
         f" --batch_size 1 --output_path {run_dir} --log_samples --log_samples_suffix hvp --verbosity INFO").split(" ")
        for node in (0, 1)
    ]
    assert commands == expected, result.stdout
    assert "processes=8 (4 per node, machine 1 of 2)" in result.stdout
    assert not list(tmp_path.glob("args.txt*")), "a dry run launches nothing"


def test_multinode_launch_runs_every_node_and_only_machine_0_checks_results(multinode_env):
    env, tmp_path = multinode_env
    result = run("multinode.sbatch", env, FAKE_WRITE_RESULTS="1", TASK_INDEX="2", MODEL="air_uniform")
    assert result.returncode == 0, result.stderr
    per_node = [(tmp_path / f"args.txt.node{n}").read_text(encoding="utf-8").splitlines() for n in (0, 1)]
    for node, args in enumerate(per_node):
        assert arg_after(args, "--machine_rank") == str(node) and arg_after(args, "--num_machines") == "2"
        assert arg_after(args, "--main_process_ip") == "gpu-a17" and arg_after(args, "--num_processes") == "8"
        assert arg_after(args, "--model") == "air_uniform" and arg_after(args, "--tasks") == "mlvu_dev_hvp"
    assert per_node[0][per_node[0].index("--num_processes"):] == per_node[1][per_node[1].index("--num_processes"):]
    assert "machine 1 done; machine 0 writes and checks the results." in result.stdout
    assert result.stdout.count("results: ") == 1


def test_multinode_failure_of_one_node_fails_the_job(multinode_env):
    env, _ = multinode_env
    result = run("multinode.sbatch", env, TASK_INDEX="0", FAKE_EXIT="1")
    assert result.returncode == 1
    assert "exited with status 1 for task videomme_hvp on machine 1" in result.stderr


@pytest.mark.parametrize(("script", "extra", "message"), [
    ("air.sbatch", {"SLURM_ARRAY_TASK_ID": "0"},
     "this job holds 2 nodes, but NUM_MACHINES is 1: accelerate would run on one node only. Submit multinode.sbatch"),
    ("multinode.sbatch", {"TASK_INDEX": "0", "FAKE_LOCALID": "1"}, "more than one launcher on node gpu-node0"),
    ("multinode.sbatch", {"TASK_INDEX": "0", "SLURM_NNODES": None}, "SLURM_NNODES: submit this file with sbatch"),
    ("run_benchmark.sh", {"TASK_INDEX": "0", "NUM_MACHINES": "2", "MODEL": "hvp"},
     "no machine rank: start one launcher per node"),
    ("run_benchmark.sh", {"TASK_INDEX": "0", "NUM_MACHINES": "2", "MACHINE_RANK": "2", "MODEL": "hvp"},
     "Invalid MACHINE_RANK: '2'. Expected an integer in 0..1."),
    ("run_benchmark.sh",
     {"TASK_INDEX": "0", "NUM_MACHINES": "3", "SLURM_NNODES": "3", "MACHINE_RANK": "0", "MODEL": "hvp"},
     "the allocation gpu-[a17,b03] has 2 nodes. Expected at least NUM_MACHINES=3."),
])
def test_multinode_mistakes_are_explained_before_launching(multinode_env, script, extra, message):
    env, tmp_path = multinode_env
    result = run(script, env, **extra)
    assert result.returncode != 0, result.stdout + result.stderr
    assert message in result.stderr
    assert not list(tmp_path.glob("args.txt*"))


def test_main_process_ip_can_be_given_by_hand_without_scontrol(env_setup):
    env, _ = env_setup
    result = run("run_benchmark.sh", env, MODEL="hvp", NUM_MACHINES="2", MACHINE_RANK="1", MAIN_PROCESS_IP="10.0.0.5",
                 NUM_PROCESSES="2", DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert ("--multi_gpu --num_machines 2 --machine_rank 1 --main_process_ip 10.0.0.5 --num_processes 4"
            in result.stdout)


# ---------------------------------------------------------------- cache.sbatch: CLIP features before the runs
FAKE_PYTHON = r"""#!/bin/bash
# Stand-in for the venv's python: record argv for `python -m air ...`.
printf '%s\n' "$@" > "$FAKE_ARGS_FILE"
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def cache_env(env_setup):
    """env_setup with a stand-in python in the venv, as array element 5 of --array=4-7."""
    env, tmp_path = env_setup
    python = Path(env["AIR_VENV"]) / "bin" / "python"
    python.write_text(FAKE_PYTHON, encoding="utf-8")
    python.chmod(0o755)
    env = {**env, "SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_MAX": "7",
           "SLURM_ARRAY_TASK_COUNT": "4"}
    env.pop("PRETRAINED")
    return env, tmp_path


def test_cache_template_builds_its_shard_of_all_tasks(cache_env):
    env, tmp_path = cache_env
    result = run("cache.sbatch", env, CACHE_SETTINGS="decoder=pyav clip_resize=squash", STRICT="1",
                 TASKS="videomme_hvp,mlvu_dev_hvp")
    assert result.returncode == 0, result.stderr
    assert recorded_args(tmp_path) == [
        "-m", "air", "cache", "build", "--dir", env["AIR_CLIP_CACHE_DIR"],
        "--clip", "open_clip:EVA02-L-14/merged2b_s4b_b131k", "--shard", "1/4",
        "--include_path", str(tmp_path / "repo" / "configs"), "--task", "videomme_hvp", "--task", "mlvu_dev_hvp",
        "--set", "decoder=pyav", "--set", "clip_resize=squash", "--strict"]
    assert "shard 1 of 4, tasks: videomme_hvp mlvu_dev_hvp" in result.stdout


def test_cache_template_dry_run_and_manual_shard(cache_env):
    env, tmp_path = cache_env
    result = run("cache_build.sh", env, DRY_RUN="1", SLURM_ARRAY_TASK_ID=None, SHARD_INDEX="2", NUM_SHARDS="3",
                 CLIP_DEVICE="cuda:0")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("command: ")]
    args = shlex.split(line[len("command: "):])
    assert args[:4] == ["python", "-m", "air", "cache"] and arg_after(args, "--shard") == "2/3"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--task"] == DEFAULT_TASKS
    assert arg_after(args, "--device") == "cuda:0" and "--strict" not in args
    assert not (tmp_path / "args.txt").exists()


@pytest.mark.parametrize(("extra", "message"), [
    ({"SLURM_ARRAY_TASK_COUNT": "2"}, "the array 4-7 has gaps or steps (2 elements). Expected a contiguous range"),
    ({"CACHE_SETTINGS": "decoder"}, "Invalid CACHE_SETTINGS item: 'decoder'. Expected KEY=VALUE items"),
    ({"SLURM_ARRAY_TASK_ID": None, "SHARD_INDEX": "3", "NUM_SHARDS": "3"}, "Invalid SHARD_INDEX: '3'. Expected an integer in 0..2."),
    ({"AIR_CLIP_CACHE_DIR": None}, "set AIR_CLIP_CACHE_DIR to the shared folder of the CLIP feature cache"),
    ({"CLIP": "none"}, "CLIP=none: a build needs the CLIP model"),
    ({"AIR_UMASK": "22x"}, "Invalid AIR_UMASK: '22x'."),
])
def test_cache_template_errors_are_explained_before_building(cache_env, extra, message):
    env, tmp_path = cache_env
    result = run("cache.sbatch", env, **extra)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "args.txt").exists()


@pytest.mark.slow
def test_real_cache_build_of_the_sample_task_in_two_array_elements(tmp_path):
    """cache.sbatch for real: venv activation, `python -m air cache build` on the offline sample task with the
    tiny CLIP model, two array elements that together fill one entry per video; AIR_UMASK reaches the files."""
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file():
        pytest.skip(f"the test interpreter is not in a venv with bin/activate ({venv})")
    from air.base_models.utils.feature_cache import FeatureCache
    from air.sample_task import task_dir
    from air.testing.tiny_clip import build_tiny_open_clip

    env = {
        **base_env(tmp_path, venv),
        "AIR_SAMPLE_VIDEO_DIR": str(tmp_path / "videos"),
        "CLIP": build_tiny_open_clip(tmp_path / "clip"),
        "TASKS": "air_sample",
        "INCLUDE_PATH": str(task_dir()),
        "CACHE_SETTINGS": "decoder=pyav",
        "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "1", "SLURM_ARRAY_TASK_COUNT": "2",
        "AIR_UMASK": "002",
        "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1",
    }
    summaries = []
    for element in ("0", "1"):
        result = subprocess.run(["bash", str(SLURM / "cache.sbatch")], env={**env, "SLURM_ARRAY_TASK_ID": element},
                                capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        summaries.append(result.stdout)
    assert "shard 0/2" in summaries[0] and "shard 1/2" in summaries[1]
    assert "of 3 videos (4 docs of air_sample)" in summaries[0]
    cache = FeatureCache(env["AIR_CLIP_CACHE_DIR"])
    files = list(cache.entries())
    assert len(files) == 3, summaries
    assert all(cache.load(path.stem) is not None for path in files)
    assert (Path(env["AIR_CLIP_CACHE_DIR"]).stat().st_mode & 0o070) == 0o070, "umask 002: the group may write"


# ---------------------------------------------------------------- table.sbatch: every run of one paper table
@pytest.fixture
def table_env(env_setup):
    """env_setup plus a `python` in the stand-in venv (table.sbatch reads the run configs with it)."""
    env, tmp_path = env_setup
    (Path(env["AIR_VENV"]) / "bin" / "python").symlink_to(sys.executable)
    env = {**env, "TABLE": "tab1"}
    env.pop("PRETRAINED")
    return env, tmp_path


def test_table_template_runs_job_i_of_the_table_through_the_launcher(table_env):
    sys.path.insert(0, str(REPO / "scripts"))
    import paper_tables

    env, tmp_path = table_env
    result = run("table.sbatch", env, FAKE_WRITE_RESULTS="1", SLURM_ARRAY_TASK_ID="7",
                 TABLE_MODEL_ARGS_EXTRA="decoder=pyav")
    assert result.returncode == 0, result.stderr
    row, task = paper_tables.TABLES["tab1"].jobs()[7]
    assert (row.run, task) == ("air_internvl3", "longvideobench_val_v_hvp")
    args = recorded_args(tmp_path)
    assert arg_after(args, "--model") == "hvp" and arg_after(args, "--tasks") == task
    run_dir = tmp_path / "out" / task / "hvp" / "air_internvl3"
    assert arg_after(args, "--output_path") == str(run_dir)
    model_args = arg_after(args, "--model_args")
    assert model_args == ("pretrained=OpenGVLab/InternVL3-8B-hf,clip_model=open_clip:EVA02-L-14/merged2b_s4b_b131k,"
                          f"trace_dir={run_dir / 'traces'},resume=True,preset=default,decoder=pyav")
    # what lmms-eval will record for this job fills exactly the row's cell in collect_results --table
    config = paper_tables.load_run("air_internvl3")
    assert paper_tables.run_identity("hvp", paper_tables.parse_model_args(model_args)) == \
        paper_tables.run_identity(config.model, config.model_args)
    assert "run config:" in result.stdout and "air_internvl3.yaml" in result.stdout


def test_table_template_uniform_row_loads_no_clip_and_notes_a_replaced_backbone(table_env):
    env, tmp_path = table_env
    result = run("table.sbatch", env, FAKE_WRITE_RESULTS="1", SLURM_ARRAY_TASK_ID="30",
                 PRETRAINED="Qwen/Qwen2.5-VL-7B-Instruct")
    assert result.returncode == 0, result.stderr
    args = recorded_args(tmp_path)
    assert arg_after(args, "--model") == "air_uniform" and arg_after(args, "--tasks") == "videomme_hvp"
    assert arg_after(args, "--model_args").startswith("pretrained=Efficient-Large-Model/Llama-3-VILA1.5-8B,trace_dir=")
    assert arg_after(args, "--model_args").endswith(",resume=True,num_frames=8")
    assert "PRETRAINED=Qwen/Qwen2.5-VL-7B-Instruct from the environment is replaced" in result.stdout


@pytest.mark.parametrize(("extra", "message"), [
    ({"TABLE": None}, "set TABLE to a table of scripts/paper_tables.py"),
    ({"TABLE": "tab9"}, "invalid choice: 'tab9'"),
    ({"SLURM_ARRAY_TASK_ID": "40"}, "Invalid job index 40 for table tab1. Expected 0..39 (sbatch --array=0-39)."),
    ({"SLURM_ARRAY_TASK_ID": None}, "no job index: submit as an array job"),
    ({"AIR_VENV": None}, "set AIR_VENV to a Python venv or AIR_CONDA_ENV"),
])
def test_table_template_errors_are_explained_before_launching(table_env, extra, message):
    env, tmp_path = table_env
    result = run("table.sbatch", env, **extra)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "args.txt").exists()


def test_table_template_dry_run(table_env):
    env, tmp_path = table_env
    result = run("table.sbatch", env, DRY_RUN="1", TABLE="selectors", TASK_INDEX="20", SLURM_ARRAY_TASK_ID=None)
    assert result.returncode == 0, result.stderr
    assert "--model air_mdp3" in result.stdout and "--tasks videomme_hvp" in result.stdout
    assert not (tmp_path / "args.txt").exists()


@pytest.mark.slow
def test_real_launch_of_hvp_on_the_sample_task_then_collect(tmp_path):
    """run_benchmark.sh for real: venv activation, `accelerate launch -m lmms_eval --model hvp` on the
    offline sample task with tiny random-weight models, the results-file check, then collect_results."""
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file() or shutil.which("accelerate", path=str(venv / "bin")) is None:
        pytest.skip(f"the test interpreter is not in a venv with bin/activate and accelerate ({venv})")
    from air.demo import build_tiny_models
    from air.sample_task import task_dir

    pretrained, clip = build_tiny_models(tmp_path / "tiny")
    env = {
        **base_env(tmp_path, venv),
        "AIR_SAMPLE_VIDEO_DIR": str(tmp_path / "videos"),
        "PRETRAINED": pretrained,
        "CLIP": clip,
        "TASKS": "air_sample",
        "TASK_INDEX": "0",
        "INCLUDE_PATH": str(task_dir()),
        "LIMIT": "2",
        "NUM_PROCESSES": "1",
        "MODEL_ARGS_EXTRA": "max_rounds=2,candidates_per_round=4,analysis_batch_size=4,max_frames=8,min_frames=4",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "WANDB_MODE": "disabled",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    result = subprocess.run(
        ["bash", str(SLURM / "air.sbatch")], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    run_dir = tmp_path / "out" / "air_sample" / "hvp" / Path(pretrained).name
    assert list(run_dir.glob("*/*_results.json")), list(run_dir.rglob("*"))
    records = [json.loads(line) for line in (run_dir / "traces" / "traces_rank0.jsonl").read_text().splitlines()]
    assert sorted(r["doc_id"] for r in records) == [0, 1]
    assert all(not r.get("error") and r["frame_indices"] and r["n_analyzed"] <= 8 for r in records)

    collect = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "collect_results.py"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert collect.returncode == 0, collect.stderr
    rows = [line for line in collect.stdout.splitlines() if line.startswith("| air_sample |")]
    assert len(rows) == 1, collect.stdout
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[1].startswith("A.I.R. (") and cells[2] == Path(pretrained).name
    assert cells[4] == "2" and cells[7] == "2"  # samples, traced
    mean_frames = sum(len(r["frame_indices"]) for r in records) / 2
    mean_analysed = sum(r["n_analyzed"] for r in records) / 2
    assert cells[5] == f"{mean_frames:.1f}" and cells[6] == f"{mean_analysed:.1f}"
