"""Test-session settings: fully offline, temporary HF_HOME and feature cache, no telemetry."""

import os
import tempfile

_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # Tiny models on 2 cores: one thread per process is several times faster than two that thrash,
    # and subprocesses (lmms-eval runs) inherit it.
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
for _key, _value in _OFFLINE.items():
    os.environ.setdefault(_key, _value)
if "HF_HOME" not in os.environ:
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="air-hf-home-")
os.environ.setdefault("AIR_CLIP_CACHE_DIR", tempfile.mkdtemp(prefix="air-clip-cache-"))
