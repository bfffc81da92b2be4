#!/bin/bash
# Run ONE lmms-eval benchmark task with one `accelerate launch`, for A.I.R. (MODEL=hvp) or a baseline
# (MODEL=air_uniform, ...). Called by the *.sbatch templates in this folder; can also be run by hand.
# Every site-specific value comes from a variable; see scripts/slurm/README.md for the full list.
set -euo pipefail

die() {
    echo "run_benchmark.sh: $*" >&2
    exit 2
}

# ---------------------------------------------------------------- required settings
: "${MODEL:?set MODEL to the lmms-eval model name, e.g. hvp (A.I.R.) or air_uniform (uniform baseline)}"
: "${AIR_REPO:?set AIR_REPO to the A.I.R. checkout on shared storage (it holds configs/ and scripts/)}"
: "${HF_HOME:?set HF_HOME to the shared Hugging Face home that holds the benchmark datasets and videos}"
: "${AIR_CLIP_CACHE_DIR:?set AIR_CLIP_CACHE_DIR to a shared folder for the CLIP feature cache}"
: "${PRETRAINED:?set PRETRAINED to the backbone checkpoint (Hugging Face id or path), e.g. Qwen/Qwen2.5-VL-7B-Instruct}"
: "${OUTPUT_DIR:?set OUTPUT_DIR to the folder where lmms-eval results, samples and traces are written}"

# ---------------------------------------------------------------- optional settings
CLIP="${CLIP:-open_clip:EVA02-L-14/merged2b_s4b_b131k}"
DEFAULT_TASKS="videomme_hvp videomme_w_subtitle_hvp mlvu_dev_hvp mlvu_test_hvp longvideobench_val_v_hvp nextqa_mc_test_hvp nextqa_oe_val_hvp egoschema_subset_hvp"
TASKS="${TASKS:-$DEFAULT_TASKS}"
INCLUDE_PATH="${INCLUDE_PATH:-$AIR_REPO/configs}"
BATCH_SIZE="${BATCH_SIZE:-1}"
RESUME="${RESUME:-True}"
VERBOSITY="${VERBOSITY:-INFO}"
MODEL_ARGS_EXTRA="${MODEL_ARGS_EXTRA:-}"
LIMIT="${LIMIT:-}"
DRY_RUN="${DRY_RUN:-0}"

# ---------------------------------------------------------------- which task this job runs
read -r -a TASK_LIST <<<"${TASKS//,/ }"
[ "${#TASK_LIST[@]}" -gt 0 ] || die "TASKS is empty. Expected task names separated by spaces or commas."
TASK_INDEX="${TASK_INDEX:-${SLURM_ARRAY_TASK_ID:-}}"
[ -n "$TASK_INDEX" ] || die "no task index: submit as an array job (sbatch --array=0-$((${#TASK_LIST[@]} - 1))) or set TASK_INDEX. Tasks: ${TASK_LIST[*]}"
[[ "$TASK_INDEX" =~ ^[0-9]+$ ]] || die "Invalid task index: '$TASK_INDEX'. Expected an integer in 0..$((${#TASK_LIST[@]} - 1))."
[ "$TASK_INDEX" -lt "${#TASK_LIST[@]}" ] || die "Invalid task index: $TASK_INDEX. Expected 0..$((${#TASK_LIST[@]} - 1)) for TASKS: ${TASK_LIST[*]}"
TASK="${TASK_LIST[$TASK_INDEX]}"

# ---------------------------------------------------------------- checks on values
case "$PRETRAINED$CLIP$OUTPUT_DIR" in
    *,*) die "PRETRAINED, CLIP and OUTPUT_DIR must not contain a comma (lmms-eval splits --model_args on commas)." ;;
esac
[ -d "$HF_HOME" ] || die "HF_HOME=$HF_HOME is not a directory. Expected the shared Hugging Face home with the benchmark videos."
[ -d "$INCLUDE_PATH" ] || die "INCLUDE_PATH=$INCLUDE_PATH is not a directory. Expected the A.I.R. task configs (\$AIR_REPO/configs)."
case "$RESUME" in
    True | False) ;;
    *) die "Invalid RESUME: '$RESUME'. Expected True or False." ;;
esac
[[ "$BATCH_SIZE" =~ ^[0-9]+$ ]] || die "Invalid BATCH_SIZE: '$BATCH_SIZE'. Expected an integer >= 1."

# ---------------------------------------------------------------- software environment
if [ -n "${AIR_VENV:-}" ]; then
    [ -f "$AIR_VENV/bin/activate" ] || die "AIR_VENV=$AIR_VENV has no bin/activate. Expected a Python virtual environment."
    set +u
    # shellcheck disable=SC1091
    source "$AIR_VENV/bin/activate"
    set -u
elif [ -n "${AIR_CONDA_ENV:-}" ]; then
    command -v conda >/dev/null 2>&1 || die "AIR_CONDA_ENV is set but 'conda' is not on PATH. Load your conda module first."
    set +u
    eval "$(conda shell.bash hook)"
    conda activate "$AIR_CONDA_ENV"
    set -u
else
    die "set AIR_VENV to a Python venv or AIR_CONDA_ENV to a conda env that has air and lmms-eval installed"
fi
command -v accelerate >/dev/null 2>&1 || die "'accelerate' not found after activating the environment. Expected air's requirements to be installed there."

# ---------------------------------------------------------------- shared storage and run folder
export HF_HOME AIR_CLIP_CACHE_DIR
export TOKENIZERS_PARALLELISM="${TOKENIZERS_PARALLELISM:-false}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-4}}"
mkdir -p "$AIR_CLIP_CACHE_DIR"

RUN_TAG="${RUN_TAG:-$(basename "$PRETRAINED")}"
RUN_DIR="$OUTPUT_DIR/$TASK/$MODEL/$RUN_TAG"
TRACE_DIR="$RUN_DIR/traces"
mkdir -p "$TRACE_DIR"

# ---------------------------------------------------------------- processes (one per GPU) and port
if [ -z "${NUM_PROCESSES:-}" ]; then
    if [ -n "${SLURM_GPUS_ON_NODE:-}" ]; then
        NUM_PROCESSES="$SLURM_GPUS_ON_NODE"
    elif [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
        IFS=, read -r -a visible <<<"$CUDA_VISIBLE_DEVICES"
        NUM_PROCESSES="${#visible[@]}"
    else
        NUM_PROCESSES=1
    fi
fi
[[ "$NUM_PROCESSES" =~ ^[1-9][0-9]*$ ]] || die "Invalid NUM_PROCESSES: '$NUM_PROCESSES'. Expected an integer >= 1."
MAIN_PROCESS_PORT="${MAIN_PROCESS_PORT:-$((20000 + ${SLURM_JOB_ID:-$$} % 20000))}"

# ---------------------------------------------------------------- the command
MODEL_ARGS="pretrained=$PRETRAINED"
if [ "$CLIP" != none ]; then
    MODEL_ARGS="$MODEL_ARGS,clip_model=$CLIP"
fi
MODEL_ARGS="$MODEL_ARGS,trace_dir=$TRACE_DIR,resume=$RESUME"
if [ -n "$MODEL_ARGS_EXTRA" ]; then
    MODEL_ARGS="$MODEL_ARGS,$MODEL_ARGS_EXTRA"
fi
CMD=(
    accelerate launch
    --num_processes "$NUM_PROCESSES"
    --main_process_port "$MAIN_PROCESS_PORT"
    -m lmms_eval
    --model "$MODEL"
    --model_args "$MODEL_ARGS"
    --tasks "$TASK"
    --include_path "$INCLUDE_PATH"
    --batch_size "$BATCH_SIZE"
    --output_path "$RUN_DIR"
    --log_samples
    --log_samples_suffix "$MODEL"
    --verbosity "$VERBOSITY"
)
if [ -n "$LIMIT" ]; then
    CMD+=(--limit "$LIMIT")
fi

echo "task=$TASK model=$MODEL backbone=$PRETRAINED clip=$CLIP processes=$NUM_PROCESSES"
echo "run folder: $RUN_DIR"
printf 'command:'
printf ' %q' "${CMD[@]}"
printf '\n'
if [ "$DRY_RUN" = 1 ]; then
    exit 0
fi

# lmms-eval can exit 0 although the evaluation failed: trust only a results file written by this run.
STAMP="$RUN_DIR/.started_${SLURM_JOB_ID:-manual}_${TASK_INDEX}"
touch -d "@$(($(date +%s) - 1))" "$STAMP"
status=0
"${CMD[@]}" || status=$?
if [ "$status" -ne 0 ]; then
    echo "run_benchmark.sh: accelerate/lmms-eval exited with status $status for task $TASK (run folder $RUN_DIR)." >&2
    exit "$status"
fi
RESULTS="$(find "$RUN_DIR" -name '*_results.json' -newer "$STAMP" -print -quit)"
if [ -z "$RESULTS" ]; then
    echo "run_benchmark.sh: lmms-eval finished but wrote no *_results.json under $RUN_DIR for task $TASK; see the log above (rerun with VERBOSITY=DEBUG)." >&2
    exit 1
fi
rm -f "$STAMP"
echo "results: $RESULTS"
