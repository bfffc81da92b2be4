#!/bin/bash
# Precompute the CLIP image features of every video of the benchmarks with `air cache build`: one shard of
# the videos of all TASKS per array element (a video shared by several questions or tasks is encoded once).
# Called by cache.sbatch; can also be run by hand (SHARD_INDEX/NUM_SHARDS, or the whole build in one go).
# The features land in AIR_CLIP_CACHE_DIR under the key the benchmark runs compute, so give CLIP and
# CACHE_SETTINGS the values of the runs (see scripts/slurm/README.md).
set -euo pipefail

# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ---------------------------------------------------------------- settings
: "${AIR_REPO:?set AIR_REPO to the A.I.R. checkout on shared storage (it holds configs/ and scripts/)}"
: "${HF_HOME:?set HF_HOME to the shared Hugging Face home that holds the benchmark datasets and videos}"
: "${AIR_CLIP_CACHE_DIR:?set AIR_CLIP_CACHE_DIR to the shared folder of the CLIP feature cache that the runs read}"
CLIP="${CLIP:-$AIR_DEFAULT_CLIP}"
TASKS="${TASKS:-$AIR_DEFAULT_TASKS}"
INCLUDE_PATH="${INCLUDE_PATH:-$AIR_REPO/configs}"
CACHE_SETTINGS="${CACHE_SETTINGS:-}"
CLIP_DEVICE="${CLIP_DEVICE:-}"
STRICT="${STRICT:-0}"
DRY_RUN="${DRY_RUN:-0}"

read_task_list
check_data_folders
[ "$CLIP" != none ] || die "CLIP=none: a build needs the CLIP model of the runs it prepares."
case "$STRICT" in
    0 | 1) ;;
    *) die "Invalid STRICT: '$STRICT'. Expected 0 or 1." ;;
esac

# ---------------------------------------------------------------- which shard this job builds
# Array element k of --array=MIN-MAX builds shard k - MIN of MAX - MIN + 1; a job outside an array builds all.
if [ -z "${SHARD_INDEX:-}" ] && [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    : "${SLURM_ARRAY_TASK_MIN:?SLURM_ARRAY_TASK_MIN missing in an array job}"
    : "${SLURM_ARRAY_TASK_MAX:?SLURM_ARRAY_TASK_MAX missing in an array job}"
    : "${SLURM_ARRAY_TASK_COUNT:?SLURM_ARRAY_TASK_COUNT missing in an array job}"
    [ "$((SLURM_ARRAY_TASK_MAX - SLURM_ARRAY_TASK_MIN + 1))" -eq "$SLURM_ARRAY_TASK_COUNT" ] ||
        die "the array ${SLURM_ARRAY_TASK_MIN}-${SLURM_ARRAY_TASK_MAX} has gaps or steps ($SLURM_ARRAY_TASK_COUNT elements). Expected a contiguous range such as --array=0-7."
    SHARD_INDEX=$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN))
    NUM_SHARDS="${NUM_SHARDS:-$SLURM_ARRAY_TASK_COUNT}"
fi
SHARD_INDEX="${SHARD_INDEX:-0}"
NUM_SHARDS="${NUM_SHARDS:-1}"
[[ "$NUM_SHARDS" =~ ^[1-9][0-9]*$ ]] || die "Invalid NUM_SHARDS: '$NUM_SHARDS'. Expected an integer >= 1."
if ! [[ "$SHARD_INDEX" =~ ^[0-9]+$ ]] || [ "$SHARD_INDEX" -ge "$NUM_SHARDS" ]; then
    die "Invalid SHARD_INDEX: '$SHARD_INDEX'. Expected an integer in 0..$((NUM_SHARDS - 1))."
fi

# ---------------------------------------------------------------- environment and command
activate_air_env python
apply_umask
export HF_HOME AIR_CLIP_CACHE_DIR
export TOKENIZERS_PARALLELISM="${TOKENIZERS_PARALLELISM:-false}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-4}}"

CMD=(python -m air cache build --dir "$AIR_CLIP_CACHE_DIR" --clip "$CLIP" --shard "$SHARD_INDEX/$NUM_SHARDS"
    --include_path "$INCLUDE_PATH")
for task in "${TASK_LIST[@]}"; do
    CMD+=(--task "$task")
done
read -r -a SETTINGS <<<"$CACHE_SETTINGS"
for setting in "${SETTINGS[@]}"; do
    [[ "$setting" == ?*=* ]] || die "Invalid CACHE_SETTINGS item: '$setting'. Expected KEY=VALUE items separated by spaces, e.g. 'decoder=pyav clip_resize=crop'."
    CMD+=(--set "$setting")
done
if [ -n "$CLIP_DEVICE" ]; then
    CMD+=(--device "$CLIP_DEVICE")
fi
if [ "$STRICT" = 1 ]; then
    CMD+=(--strict)
fi

echo "shard $SHARD_INDEX of $NUM_SHARDS, tasks: ${TASK_LIST[*]}, clip=$CLIP, cache: $AIR_CLIP_CACHE_DIR"
printf 'command:'
printf ' %q' "${CMD[@]}"
printf '\n'
if [ "$DRY_RUN" = 1 ]; then
    exit 0
fi
exec "${CMD[@]}"
