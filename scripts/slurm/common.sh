#!/bin/bash
# Sourced (not run) by the launchers of this folder: the defaults they share, `die`, and the activation
# of the Python environment named by AIR_VENV (a venv folder) or AIR_CONDA_ENV (a conda env name). Error
# messages start with the name of the script that sourced this file.

# shellcheck disable=SC2034  # used by the scripts that source this file
AIR_DEFAULT_CLIP="open_clip:EVA02-L-14/merged2b_s4b_b131k"
# shellcheck disable=SC2034
AIR_DEFAULT_TASKS="videomme_hvp videomme_w_subtitle_hvp mlvu_dev_hvp mlvu_test_hvp longvideobench_val_v_hvp nextqa_mc_test_hvp nextqa_oe_val_hvp egoschema_subset_hvp"

die() {
    echo "${0##*/}: $*" >&2
    exit 2
}

# activate_air_env COMMAND: activate the environment, then check that COMMAND is on PATH in it.
activate_air_env() {
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
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found after activating the environment. Expected air's requirements to be installed there."
}

# apply_umask: AIR_UMASK (e.g. 002) for every file the job writes, so a group can share the feature cache.
apply_umask() {
    if [ -n "${AIR_UMASK:-}" ]; then
        [[ "$AIR_UMASK" =~ ^0?[0-7]{3}$ ]] || die "Invalid AIR_UMASK: '$AIR_UMASK'. Expected an octal umask such as 002."
        umask "$AIR_UMASK"
    fi
}

# read_task_list: TASK_LIST from TASKS (names separated by spaces or commas); an empty list ends the job.
read_task_list() {
    read -r -a TASK_LIST <<<"${TASKS//,/ }"
    [ "${#TASK_LIST[@]}" -gt 0 ] || die "TASKS is empty. Expected task names separated by spaces or commas."
}

# check_data_folders: HF_HOME (datasets and videos) and INCLUDE_PATH (task configs) must be folders.
check_data_folders() {
    [ -d "$HF_HOME" ] || die "HF_HOME=$HF_HOME is not a directory. Expected the shared Hugging Face home with the benchmark videos."
    [ -d "$INCLUDE_PATH" ] || die "INCLUDE_PATH=$INCLUDE_PATH is not a directory. Expected the A.I.R. task configs (\$AIR_REPO/configs)."
}
