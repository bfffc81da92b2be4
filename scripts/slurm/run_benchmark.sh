#!/bin/bash
# Run ONE lmms-eval benchmark task with one `accelerate launch`, for A.I.R. (MODEL=hvp) or a baseline
# (MODEL=air_uniform, ...). Called by the *.sbatch templates in this folder; can also be run by hand.
# Every site-specific value comes from a variable; see scripts/slurm/README.md for the full list.
# Several nodes: multinode.sbatch runs this script once per node (srun, one task per node) with
# NUM_MACHINES set; each copy starts `accelerate launch` for its node's GPUs (see README.md).
set -euo pipefail

# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ---------------------------------------------------------------- required settings
: "${MODEL:?set MODEL to the lmms-eval model name, e.g. hvp (A.I.R.) or air_uniform (uniform baseline)}"
: "${AIR_REPO:?set AIR_REPO to the A.I.R. checkout on shared storage (it holds configs/ and scripts/)}"
: "${HF_HOME:?set HF_HOME to the shared Hugging Face home that holds the benchmark datasets and videos}"
: "${AIR_CLIP_CACHE_DIR:?set AIR_CLIP_CACHE_DIR to a shared folder for the CLIP feature cache}"
: "${PRETRAINED:?set PRETRAINED to the backbone checkpoint (Hugging Face id or path), e.g. Qwen/Qwen2.5-VL-7B-Instruct}"
: "${OUTPUT_DIR:?set OUTPUT_DIR to the folder where lmms-eval results, samples and traces are written}"

# ---------------------------------------------------------------- optional settings
CLIP="${CLIP:-$AIR_DEFAULT_CLIP}"
TASKS="${TASKS:-$AIR_DEFAULT_TASKS}"
INCLUDE_PATH="${INCLUDE_PATH:-$AIR_REPO/configs}"
BATCH_SIZE="${BATCH_SIZE:-1}"
RESUME="${RESUME:-True}"
VERBOSITY="${VERBOSITY:-INFO}"
MODEL_ARGS_EXTRA="${MODEL_ARGS_EXTRA:-}"
LIMIT="${LIMIT:-}"
DRY_RUN="${DRY_RUN:-0}"

# ---------------------------------------------------------------- which task this job runs
read_task_list
TASK_INDEX="${TASK_INDEX:-${SLURM_ARRAY_TASK_ID:-}}"
[ -n "$TASK_INDEX" ] || die "no task index: submit as an array job (sbatch --array=0-$((${#TASK_LIST[@]} - 1))) or set TASK_INDEX. Tasks: ${TASK_LIST[*]}"
[[ "$TASK_INDEX" =~ ^[0-9]+$ ]] || die "Invalid task index: '$TASK_INDEX'. Expected an integer in 0..$((${#TASK_LIST[@]} - 1))."
[ "$TASK_INDEX" -lt "${#TASK_LIST[@]}" ] || die "Invalid task index: $TASK_INDEX. Expected 0..$((${#TASK_LIST[@]} - 1)) for TASKS: ${TASK_LIST[*]}"
TASK="${TASK_LIST[$TASK_INDEX]}"

# ---------------------------------------------------------------- checks on values
RUN_TAG="${RUN_TAG:-$(basename "$PRETRAINED")}"
# Every value joined into --model_args (trace_dir holds OUTPUT_DIR, MODEL and RUN_TAG); TASK cannot hold one.
for name in PRETRAINED CLIP OUTPUT_DIR MODEL RUN_TAG; do
    case "${!name}" in
        *,*) die "Invalid $name: '${!name}'. It must not contain a comma: it is joined into --model_args, which lmms-eval splits on commas." ;;
    esac
done
check_data_folders
case "$RESUME" in
    True | False) ;;
    *) die "Invalid RESUME: '$RESUME'. Expected True or False." ;;
esac
[[ "$BATCH_SIZE" =~ ^[0-9]+$ ]] || die "Invalid BATCH_SIZE: '$BATCH_SIZE'. Expected an integer >= 1."

# ---------------------------------------------------------------- machines (nodes) of the run
NUM_MACHINES="${NUM_MACHINES:-1}"
[[ "$NUM_MACHINES" =~ ^[1-9][0-9]*$ ]] || die "Invalid NUM_MACHINES: '$NUM_MACHINES'. Expected an integer >= 1 (the nodes of the run)."
if [ "$NUM_MACHINES" -eq 1 ]; then
    if [ "${SLURM_NNODES:-1}" -gt 1 ]; then
        die "this job holds $SLURM_NNODES nodes, but NUM_MACHINES is 1: accelerate would run on one node only. Submit multinode.sbatch (one launcher per node) or ask for --nodes=1."
    fi
    MACHINE_RANK=0
else
    MACHINE_RANK="${MACHINE_RANK:-${SLURM_NODEID:-}}"
    [ -n "$MACHINE_RANK" ] || die "NUM_MACHINES=$NUM_MACHINES but no machine rank: start one launcher per node with srun (multinode.sbatch), which sets SLURM_NODEID, or set MACHINE_RANK."
    if ! [[ "$MACHINE_RANK" =~ ^[0-9]+$ ]] || [ "$MACHINE_RANK" -ge "$NUM_MACHINES" ]; then
        die "Invalid MACHINE_RANK: '$MACHINE_RANK'. Expected an integer in 0..$((NUM_MACHINES - 1))."
    fi
    [ "${SLURM_LOCALID:-0}" = 0 ] ||
        die "more than one launcher on node ${SLURMD_NODENAME:-?} (SLURM_LOCALID=$SLURM_LOCALID). Expected one task per node (srun --ntasks-per-node=1): accelerate starts the processes of a node."
    if [ -z "${MAIN_PROCESS_IP:-}" ]; then
        [ -n "${SLURM_JOB_NODELIST:-}" ] || die "NUM_MACHINES=$NUM_MACHINES outside a SLURM allocation: set MAIN_PROCESS_IP to the address of machine 0."
        command -v scontrol >/dev/null 2>&1 || die "'scontrol' not found: it names the first node of the allocation. Set MAIN_PROCESS_IP instead."
        HOSTS="$(scontrol show hostnames "$SLURM_JOB_NODELIST")" || die "scontrol show hostnames $SLURM_JOB_NODELIST failed."
        mapfile -t HOST_LIST <<<"$HOSTS"
        [ "${#HOST_LIST[@]}" -ge "$NUM_MACHINES" ] ||
            die "the allocation $SLURM_JOB_NODELIST has ${#HOST_LIST[@]} nodes. Expected at least NUM_MACHINES=$NUM_MACHINES."
        MAIN_PROCESS_IP="${HOST_LIST[0]}"  # SLURM_NODEID 0 runs on the first node of the list
    fi
fi

# ---------------------------------------------------------------- software environment
activate_air_env accelerate
apply_umask

# ---------------------------------------------------------------- shared storage and run folder
export HF_HOME AIR_CLIP_CACHE_DIR
export TOKENIZERS_PARALLELISM="${TOKENIZERS_PARALLELISM:-false}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-4}}"
mkdir -p "$AIR_CLIP_CACHE_DIR"

RUN_DIR="$OUTPUT_DIR/$TASK/$MODEL/$RUN_TAG"
TRACE_DIR="$RUN_DIR/traces"
mkdir -p "$TRACE_DIR"

# ---------------------------------------------------------------- processes (one per GPU) and port
# NUM_PROCESSES counts the processes of one node; accelerate's --num_processes is the total over all nodes.
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
[[ "$NUM_PROCESSES" =~ ^[1-9][0-9]*$ ]] || die "Invalid NUM_PROCESSES: '$NUM_PROCESSES'. Expected an integer >= 1 (processes per node)."
TOTAL_PROCESSES=$((NUM_PROCESSES * NUM_MACHINES))
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
CMD=(accelerate launch)
if [ "$NUM_MACHINES" -gt 1 ]; then
    # --multi_gpu: without it accelerate starts a lone process on a node with a single GPU.
    CMD+=(--multi_gpu --num_machines "$NUM_MACHINES" --machine_rank "$MACHINE_RANK" --main_process_ip "$MAIN_PROCESS_IP")
fi
CMD+=(
    --num_processes "$TOTAL_PROCESSES"
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

echo "task=$TASK model=$MODEL backbone=$PRETRAINED clip=$CLIP processes=$TOTAL_PROCESSES ($NUM_PROCESSES per node, machine $MACHINE_RANK of $NUM_MACHINES)"
echo "run folder: $RUN_DIR"
printf 'command:'
printf ' %q' "${CMD[@]}"
printf '\n'
if [ "$DRY_RUN" = 1 ]; then
    exit 0
fi

# lmms-eval can exit 0 although the evaluation failed: trust only a results file written by this run.
# Only machine 0 writes results (its rank 0 gathers every rank's answers), so only machine 0 checks.
STAMP="$RUN_DIR/.started_${SLURM_JOB_ID:-manual}_${TASK_INDEX}"
if [ "$MACHINE_RANK" -eq 0 ]; then
    touch -d "@$(($(date +%s) - 1))" "$STAMP"
fi
status=0
"${CMD[@]}" || status=$?
if [ "$status" -ne 0 ]; then
    echo "run_benchmark.sh: accelerate/lmms-eval exited with status $status for task $TASK on machine $MACHINE_RANK (run folder $RUN_DIR)." >&2
    exit "$status"
fi
if [ "$MACHINE_RANK" -ne 0 ]; then
    echo "machine $MACHINE_RANK done; machine 0 writes and checks the results."
    exit 0
fi
RESULTS="$(find "$RUN_DIR" -name '*_results.json' -newer "$STAMP" -print -quit)"
if [ -z "$RESULTS" ]; then
    echo "run_benchmark.sh: lmms-eval finished but wrote no *_results.json under $RUN_DIR for task $TASK; see the log above (rerun with VERBOSITY=DEBUG)." >&2
    exit 1
fi
rm -f "$STAMP"
echo "results: $RESULTS"
