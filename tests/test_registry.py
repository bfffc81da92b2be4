"""Tests of the backbone registry air.base_models: name patterns, local config.json, overrides, errors.

Resolution is checked through `backbone_key`, which never imports an adapter module, so these tests do
not depend on the adapters (written separately). One test imports each adapter class; it skips a family
only when that adapter's module file does not exist yet.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import air.base_models as registry
from air.base_models import BACKBONES, backbone_key, resolve_backbone

# (checkpoint name, expected family key)
HUB_NAMES = [
    ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl"),
    ("Qwen/Qwen2.5-VL-72B-Instruct-AWQ", "qwen2_5_vl"),
    ("Qwen/Qwen2-VL-7B-Instruct", "qwen2_vl"),
    ("Qwen/Qwen2-VL-2B", "qwen2_vl"),
    ("Qwen/Qwen3-VL-8B-Instruct", "qwen3_vl"),
    ("Qwen/Qwen3-VL-30B-A3B-Instruct", "qwen3_vl"),
    ("OpenGVLab/InternVL3-8B", "internvl3"),
    ("OpenGVLab/InternVL3-8B-hf", "internvl3"),
    ("OpenGVLab/InternVL3_5-8B", "internvl3"),  # decision: InternVL3.5 uses the InternVL3 adapter
    ("OpenGVLab/InternVL3_5-8B-HF", "internvl3"),
    ("lmms-lab/llava-onevision-qwen2-7b-ov", "llava_onevision"),  # trap: contains "qwen2"
    ("llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava_onevision"),
    ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "llava_onevision"),
    ("Efficient-Large-Model/Llama-3-VILA1.5-8B", "vila1_5"),
    ("Efficient-Large-Model/VILA1.5-3b", "vila1_5"),
    ("Efficient-Large-Model/VILA1.5-40b", "vila1_5"),
    # case, separators and local paths whose last components carry the name
    ("QWEN/QWEN2.5-VL-7B-INSTRUCT", "qwen2_5_vl"),
    ("/data/models/qwen2_5_vl_7b", "qwen2_5_vl"),
    ("/data/runs/qwen2-vl-sft/checkpoint-500", "qwen2_vl"),
    ("~/ckpt/InternVL3-2B/", "internvl3"),
    ("C:\\models\\llava-onevision-qwen2-7b-ov-hf", "llava_onevision"),
]


@pytest.mark.parametrize(("name", "key"), HUB_NAMES)
def test_hub_and_path_names(name, key):
    assert backbone_key(name) == key


@pytest.mark.parametrize(
    "name",
    [
        "Efficient-Large-Model/LongVILA-8B-1024Frames",
        "Efficient-Large-Model/Llama-3-LongVILA-8B-128Frames",
        "Efficient-Large-Model/NVILA-8B",
    ],
)
def test_longvila_and_nvila_are_rejected_with_a_reason(name):
    with pytest.raises(ValueError, match=r"not VILA-1\.5") as info:
        backbone_key(name)
    assert name in str(info.value)


@pytest.mark.parametrize(
    "name",
    ["meta-llama/Llama-3-8B-Instruct", "OpenGVLab/InternVL2_5-8B", "liuhaotian/llava-v1.5-7b", "Qwen/Qwen2-7B", "x"],
)
def test_unknown_names_list_patterns_and_suggest_override(name):
    with pytest.raises(ValueError) as info:
        backbone_key(name)
    message = str(info.value)
    assert name in message and "backbone=" in message
    for pattern in registry.NAME_PATTERNS:
        assert repr(pattern) in message


def test_tie_between_families_raises():
    with pytest.raises(ValueError, match="Ambiguous backbone"):
        backbone_key("merges/qwen2-vl-and-qwen3-vl")


def test_longest_pattern_wins_over_shorter_one():
    # "internvl35" (10) and "internvl3" (9) both match; same family, no ambiguity.
    assert backbone_key("OpenGVLab/InternVL3_5-1B") == "internvl3"
    # a rejection pattern longer than the VILA-1.5 one wins
    with pytest.raises(ValueError, match="LongVILA"):
        backbone_key("someone/LongVILA1.5-8B")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("qwen2_5_vl", "qwen2_5_vl"),
        ("Qwen2.5-VL", "qwen2_5_vl"),
        ("qwen2_vl", "qwen2_vl"),
        ("qwen3_vl", "qwen3_vl"),
        ("internvl3", "internvl3"),
        ("InternVL", "internvl3"),
        ("llava_onevision", "llava_onevision"),
        ("llava-ov", "llava_onevision"),
        ("vila1_5", "vila1_5"),
        ("VILA", "vila1_5"),
    ],
)
def test_backbone_override(override, key):
    # the override wins even over a name that would resolve differently or not at all
    assert backbone_key("/some/where/model", backbone=override) == key
    assert backbone_key("Qwen/Qwen2-VL-7B-Instruct", backbone=override) == key


@pytest.mark.parametrize("override", [None, "", "None"])
def test_empty_override_means_by_name(override):
    assert backbone_key("Qwen/Qwen2-VL-7B-Instruct", backbone=override) == "qwen2_vl"


def test_invalid_override_lists_keys():
    with pytest.raises(ValueError, match="Invalid backbone: 'gpt4'") as info:
        backbone_key("Qwen/Qwen2-VL-7B-Instruct", backbone="gpt4")
    for key in BACKBONES:
        assert key in str(info.value)


@pytest.mark.parametrize("pretrained", ["", "   ", None, 3])
def test_invalid_pretrained(pretrained):
    with pytest.raises(ValueError, match="Invalid pretrained"):
        backbone_key(pretrained)


def _checkpoint(root: Path, name: str, config) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    text = config if isinstance(config, str) else json.dumps(config)
    (directory / "config.json").write_text(text, encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"model_type": "qwen2_5_vl", "architectures": ["Qwen2_5_VLForConditionalGeneration"]}, "qwen2_5_vl"),
        ({"model_type": "qwen2_vl"}, "qwen2_vl"),
        ({"model_type": "qwen3_vl"}, "qwen3_vl"),
        ({"model_type": "qwen3_vl_moe"}, "qwen3_vl"),
        ({"architectures": ["Qwen3VLMoeForConditionalGeneration"]}, "qwen3_vl"),
        ({"model_type": "internvl", "architectures": ["InternVLForConditionalGeneration"]}, "internvl3"),
        ({"model_type": "internvl_chat", "architectures": ["InternVLChatModel"]}, "internvl3"),
        ({"model_type": "llava_onevision"}, "llava_onevision"),
        ({"model_type": "llava_llama", "architectures": ["LlavaLlamaModel"]}, "vila1_5"),
        # architectures as the second clue
        ({"model_type": "llava", "architectures": ["LlavaQwenForCausalLM"]}, "llava_onevision"),
        ({"architectures": ["Qwen3VLForConditionalGeneration"]}, "qwen3_vl"),
        ({"model_type": "custom", "architectures": "LlavaLlamaModel"}, "vila1_5"),
    ],
)
def test_local_directory_resolves_through_config(tmp_path, config, key):
    directory = _checkpoint(tmp_path, "final", config)
    assert backbone_key(str(directory)) == key
    # a name-less parent too: only the config speaks
    assert backbone_key(str(directory) + "/") == key


def test_local_directory_name_and_config_agree(tmp_path):
    directory = _checkpoint(tmp_path, "qwen2.5-vl-sft", {"model_type": "qwen2_5_vl"})
    assert backbone_key(str(directory)) == "qwen2_5_vl"


def test_local_directory_name_and_config_conflict(tmp_path):
    directory = _checkpoint(tmp_path, "qwen2-vl-sft", {"model_type": "qwen2_5_vl"})
    with pytest.raises(ValueError, match="Conflicting backbone") as info:
        backbone_key(str(directory))
    assert "qwen2_vl" in str(info.value) and "qwen2_5_vl" in str(info.value)
    assert backbone_key(str(directory), backbone="qwen2_5_vl") == "qwen2_5_vl"


def test_local_lmms_lab_onevision_copy_resolves_by_name(tmp_path):
    # lmms-lab's checkpoints declare model_type "llava" (unknown here): the name decides.
    directory = _checkpoint(tmp_path, "llava-onevision-qwen2-7b-ov", {"model_type": "llava"})
    assert backbone_key(str(directory)) == "llava_onevision"


def test_local_longvila_copy_is_still_rejected(tmp_path):
    # LongVILA also declares llava_llama; its name must keep it from loading as VILA-1.5.
    directory = _checkpoint(tmp_path, "LongVILA-8B", {"model_type": "llava_llama"})
    with pytest.raises(ValueError, match="not VILA-1.5"):
        backbone_key(str(directory))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}, "no known model_type"),
        ("{not json", "Cannot read"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_local_directory_bad_or_unknown_config(tmp_path, config, match):
    directory = _checkpoint(tmp_path, "final", config)
    with pytest.raises(ValueError, match=match) as info:
        backbone_key(str(directory))
    assert "config.json" in str(info.value)


def test_local_directory_without_config_and_meaningless_name(tmp_path):
    (tmp_path / "weights").mkdir()
    with pytest.raises(ValueError, match="No backbone adapter matches"):
        backbone_key(str(tmp_path / "weights"))


def test_tables_are_consistent():
    assert set(BACKBONES) == set(registry.ADAPTER_PATHS)
    for table in (registry.NAME_PATTERNS, registry.MODEL_TYPES, registry.ARCHITECTURES, registry.BACKBONE_ALIASES):
        assert set(table.values()) <= set(BACKBONES)
    assert set(registry.NAME_PATTERNS.values()) == set(BACKBONES)
    assert not set(registry.NAME_PATTERNS) & set(registry.REJECTED_PATTERNS)
    assert registry.ADAPTER_PATHS == {
        "qwen2_5_vl": "air.base_models.Qwen2_5VL:Qwen2_5VL",
        "qwen2_vl": "air.base_models.Qwen2_VL:Qwen2VL",
        "qwen3_vl": "air.base_models.Qwen3_VL:Qwen3VL",
        "internvl3": "air.base_models.InternVL3:InternVL3",
        "llava_onevision": "air.base_models.Llava_OV:LlavaOneVision",
        "vila1_5": "air.base_models.VILA1_5:VILA1_5",
    }


def test_import_and_key_lookup_stay_light():
    code = (
        "import sys, air.base_models as r\n"
        "assert r.backbone_key('Qwen/Qwen2.5-VL-7B-Instruct') == 'qwen2_5_vl'\n"
        "heavy = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]\n"
        "adapters = [m for m in sys.modules if m.startswith('air.base_models.') and m != 'air.base_models']\n"
        "print(heavy, adapters)\n"
        "assert not heavy and not adapters\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_resolve_reports_missing_adapter_module(monkeypatch):
    monkeypatch.setitem(registry.ADAPTER_PATHS, "qwen2_vl", "air.base_models.DoesNotExist:Qwen2VL")
    with pytest.raises(ImportError, match="Cannot import the qwen2_vl adapter") as info:
        resolve_backbone("Qwen/Qwen2-VL-7B-Instruct")
    assert "Qwen/Qwen2-VL-7B-Instruct" in str(info.value)


def test_resolve_reports_missing_class(monkeypatch):
    monkeypatch.setitem(registry.ADAPTER_PATHS, "qwen2_vl", "air.base_models.utils.generation:NoSuchClass")
    with pytest.raises(ImportError, match="defines no class NoSuchClass"):
        resolve_backbone("Qwen/Qwen2-VL-7B-Instruct")


@pytest.mark.parametrize("key", BACKBONES)
def test_resolve_imports_each_adapter_class(key):
    module_name, class_name = registry.ADAPTER_PATHS[key].split(":")
    module_file = Path(registry.__file__).parent / (module_name.rsplit(".", 1)[1] + ".py")
    if not module_file.exists():
        pytest.skip(f"{module_file.name} not written yet (adapters are developed separately)")
    from air.base_models.base import Backbone

    cls = resolve_backbone("anything", backbone=key)
    assert cls.__name__ == class_name and cls.__module__ == module_name
    assert issubclass(cls, Backbone)
