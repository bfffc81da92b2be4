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


# ------------------------------------------------------------------ tiny checkpoints shared by test modules
import pytest  # noqa: E402  (after the environment above, which must precede any torch import)


@pytest.fixture(scope="session")
def tiny_qwen_dirs(tmp_path_factory) -> dict:
    """Qwen family name -> directory of its tiny random checkpoint, built once per test session."""
    from air.testing.tiny_qwen import (
        build_tiny_qwen2_5_vl,
        build_tiny_qwen2_vl,
        build_tiny_qwen3_vl,
        build_tiny_qwen3_vl_moe,
    )

    builders = {"qwen2_5_vl": build_tiny_qwen2_5_vl, "qwen2_vl": build_tiny_qwen2_vl,
                "qwen3_vl": build_tiny_qwen3_vl, "qwen3_vl_moe": build_tiny_qwen3_vl_moe}
    root = tmp_path_factory.mktemp("tiny_qwen")
    return {family: str(build(root / family)) for family, build in builders.items()}


@pytest.fixture(scope="session")
def tiny_internvl_dir(tmp_path_factory):
    """Directory of a tiny native InternVL checkpoint, built once per test session."""
    from air.testing.tiny_vlms import build_tiny_internvl

    return build_tiny_internvl(tmp_path_factory.mktemp("tiny-internvl"))


@pytest.fixture(scope="session")
def tiny_llava_ov_dir(tmp_path_factory):
    """Directory of a tiny native LLaVA-OneVision checkpoint, built once per test session."""
    from air.testing.tiny_vlms import build_tiny_llava_onevision

    return build_tiny_llava_onevision(tmp_path_factory.mktemp("tiny-llava-ov"))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> tuple[str, str]:
    """(checkpoint folder, CLIP name) of the tiny random-weight Qwen2.5-VL and open_clip of `make demo`, built once."""
    from air.demo import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny"))
