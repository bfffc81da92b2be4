"""CLIP encoders: every backend built tiny and offline, loaded through its real loader, with real tokenizers.

What runs for real: open_clip (custom config registered with add_model_config, weights through
create_model_and_transforms(pretrained=<file>)), OpenAI clip (state dict rebuilt by clip.model.build_model),
Hugging Face CLIPModel / SiglipModel (save_pretrained -> from_pretrained, real CLIP BPE tokenizer and a
SentencePiece SiglipTokenizer), the factory's name parsing and errors.
Long-CLIP: the repository (model/longclip.py) cannot be installed here, so its `longclip.load` /
`longclip.tokenize` never run in these tests. What does run for real is our part of that path: finding
the checkpoint (LONGCLIP_CKPT_DIR / LONGCLIP_PATH / explicit path), reading and checking a tiny checkpoint
in Long-CLIP's format (248 positions + positional_embedding_res) and the errors when the code is missing.
The encoder wrapper used for Long-CLIP (TorchClipEncoder) is the one the OpenAI backend runs here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from air.base_models import clip_model as cm
from air.testing import tiny_clip

LOADABLE = ("open_clip", "openai", "hf_clip", "hf_siglip")
LONG_TEXT = " ".join(["a person walks a small dog along a river while it rains"] * 60)


@pytest.fixture(scope="session")
def tiny_names(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-clip")
    return {kind: build(root / kind) for kind, build in tiny_clip.BUILDERS.items()}


@pytest.fixture(scope="session")
def encoders(tiny_names):
    return {kind: cm.load_clip(tiny_names[kind], device="cpu", batch_size=4) for kind in LOADABLE}


def _frames(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("kind", LOADABLE)
def test_frames_are_unit_norm_float32_of_model_width(encoders, kind):
    enc = encoders[kind]
    feats = enc.encode_frames(_frames(6, enc.image_size))
    assert feats.dtype == np.float32 and feats.shape == (6, enc.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(feats[0], feats[1]), "different frames should not embed identically"
    np.testing.assert_array_equal(feats, enc.encode_frames(_frames(6, enc.image_size)))


@pytest.mark.parametrize("kind", LOADABLE)
def test_long_text_is_truncated_by_the_tokenizer(encoders, kind):
    enc = encoders[kind]
    texts = ["a red car", LONG_TEXT + " cat", LONG_TEXT + " dog"]
    feats = enc.encode_text(texts)
    assert feats.dtype == np.float32 and feats.shape == (3, enc.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    # Both long texts differ only after the context ends: truncation makes them identical.
    np.testing.assert_allclose(feats[1], feats[2], atol=1e-6)
    assert not np.allclose(feats[0], feats[1], atol=1e-3)


@pytest.mark.parametrize("kind", LOADABLE)
def test_batching_does_not_change_features(tiny_names, encoders, kind):
    frames = _frames(5, encoders[kind].image_size, seed=3)
    one_batch = cm.load_clip(tiny_names[kind], batch_size=32)
    np.testing.assert_allclose(one_batch.encode_frames(frames), encoders[kind].encode_frames(frames), atol=1e-5)


def test_other_frame_sizes_are_resized(encoders):
    enc = encoders["open_clip"]
    colour = np.array([200, 40, 90], dtype=np.uint8)
    big = np.broadcast_to(colour, (1, 48, 80, 3)).copy()
    exact = np.broadcast_to(colour, (1, enc.image_size, enc.image_size, 3)).copy()
    np.testing.assert_allclose(enc.encode_frames(big), enc.encode_frames(exact), atol=1e-5)


def test_empty_inputs_give_empty_arrays(encoders):
    enc = encoders["openai"]
    assert enc.encode_frames(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, enc.embed_dim)
    assert enc.encode_text([]).shape == (0, enc.embed_dim)


def test_invalid_inputs_are_rejected(encoders):
    enc = encoders["open_clip"]
    with pytest.raises(ValueError, match="Expected uint8"):
        enc.encode_frames(np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="Expected uint8"):
        enc.encode_frames(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(TypeError, match="list of str"):
        enc.encode_text("a single string")
    with pytest.raises(ValueError, match="batch_size"):
        cm.OpenClipEncoder("x/y", batch_size=0)


def test_progress_bar_reports_frames(encoders, capsys):
    enc = encoders["open_clip"]
    enc.encode_frames(_frames(8, enc.image_size), progress=True)
    err = capsys.readouterr().err
    assert "frame" in err and "CLIP" in err


def test_hf_clip_tokenizer_matches_open_clip_bpe(encoders):
    text = "A photo of a Cat, jumping over 3 fences!"
    hf_ids = encoders["hf_clip"].tokenizer([text])["input_ids"][0]
    oc_ids = encoders["open_clip"].tokenizer([text])[0].tolist()
    assert hf_ids == oc_ids[: len(hf_ids)] and oc_ids[len(hf_ids)] == 0
    assert hf_ids[0] == 49406 and hf_ids[-1] == 49407


def test_siglip_pads_to_max_length(encoders):
    enc = encoders["hf_siglip"]
    batch = enc.tokenizer(["a dog"], padding="max_length", truncation=True, max_length=enc.context_length)
    assert len(batch["input_ids"][0]) == enc.context_length == 16


@pytest.mark.parametrize("kind", LOADABLE)
def test_names_are_stable_and_identify_weights(tiny_names, encoders, kind):
    name = encoders[kind].name
    assert name.startswith(tiny_names[kind].split(":", 1)[0] + ":")
    assert "@" in name, "local weights carry a fingerprint"
    assert cm.load_clip(tiny_names[kind]).name == name


def test_name_changes_when_local_checkpoint_changes(tmp_path):
    name = tiny_clip.build_tiny_openai_clip(tmp_path)
    before = cm.load_clip(name).name
    path = name.split(":", 1)[1]
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert cm.load_clip(name).name != before


@pytest.mark.parametrize(
    "name, pattern",
    [
        ("", "Expected '<backend>:<model>'"),
        ("ViT-L/14", "Expected '<backend>:<model>'"),
        ("foo:bar", "Unknown CLIP backend 'foo'"),
        ("open_clip:", "nothing after"),
        ("open_clip:ViT-B-32", "Expected open_clip:<model>/<pretrained tag or file>"),
        ("longclip:XL", "Expected longclip:L, longclip:B"),
        ("openai:ViT-Z/99", "Unknown OpenAI CLIP model"),
    ],
)
def test_bad_names_raise_value_error_listing_forms(name, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        cm.load_clip(name)
    if "OpenAI" not in pattern:
        assert "Accepted forms" in str(info.value) and "longclip:L" in str(info.value)


def test_unknown_open_clip_model_with_checkpoint_file(tmp_path):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    with pytest.raises(ValueError, match="no config no-such-model.json"):
        cm.load_clip(f"open_clip:no-such-model/{weights}")


@pytest.mark.parametrize("name", ["open_clip:ViT-B-32/no_such_tag", cm.DEFAULT_CLIP_MODEL])
def test_open_clip_tag_offline_fails_with_guidance(name):
    # the paper default (EVA02-L-14) cannot be downloaded in the offline tests: the error says what to do
    with pytest.raises(RuntimeError, match="open_clip:<model>/<file>") as info:
        cm.load_clip(name)
    assert name.split(":", 1)[1].split("/")[0] in str(info.value)


def test_hf_unsupported_model_type(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model_type 'bert'"):
        cm.load_clip(f"hf:{tmp_path}")


def test_hf_missing_folder_is_an_os_error(tmp_path):
    with pytest.raises(OSError, match="Could not load the Hugging Face config"):
        cm.load_clip(f"hf:{tmp_path / 'missing'}")


# ----------------------------------------------------------------------------------------- Long-CLIP


def test_longclip_checkpoint_format_is_read(tiny_names):
    info = cm.inspect_longclip_checkpoint(tiny_names["longclip"].split(":", 1)[1])
    assert (info.context_length, info.embed_dim, info.image_size, info.text_width) == (248, 32, 32, 64)


def test_longclip_legacy_serialization_is_read(tiny_names, tmp_path):
    import torch

    state = torch.load(tiny_names["longclip"].split(":", 1)[1], weights_only=True)
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert cm.inspect_longclip_checkpoint(tmp_path / "legacy.pt").context_length == 248


def test_openai_checkpoint_is_not_taken_for_longclip(tiny_names):
    with pytest.raises(ValueError, match="load it as openai:"):
        cm.inspect_longclip_checkpoint(tiny_names["openai"].split(":", 1)[1])


def test_longclip_checkpoint_is_not_taken_for_openai(tiny_names):
    path = tiny_names["longclip"].split(":", 1)[1]
    with pytest.raises(ValueError, match="is a Long-CLIP checkpoint"):
        cm.load_clip(f"openai:{path}")


def test_corrupt_longclip_checkpoint(tmp_path):
    bad = tmp_path / "longclip-bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Cannot read Long-CLIP checkpoint"):
        cm.inspect_longclip_checkpoint(bad)


def test_longclip_without_repository_says_how_to_get_it(tiny_names, monkeypatch, tmp_path):
    monkeypatch.delenv("LONGCLIP_PATH", raising=False)
    with pytest.raises(ModuleNotFoundError, match="LONGCLIP_PATH is not set"):
        cm.load_clip(tiny_names["longclip"])
    monkeypatch.setenv("LONGCLIP_PATH", str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="model/longclip.py does not exist"):
        cm.load_clip(tiny_names["longclip"])


def test_longclip_variant_checkpoint_lookup(monkeypatch, tmp_path, tiny_names):
    monkeypatch.delenv("LONGCLIP_PATH", raising=False)
    monkeypatch.delenv("LONGCLIP_CKPT_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="set LONGCLIP_CKPT_DIR"):
        cm.load_clip("longclip:L")
    monkeypatch.setenv("LONGCLIP_CKPT_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="longclip-B.pt"):
        cm.load_clip("longclip:B")
    monkeypatch.delenv("LONGCLIP_CKPT_DIR")
    monkeypatch.setenv("LONGCLIP_PATH", str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    os.link(tiny_names["longclip"].split(":", 1)[1], tmp_path / "checkpoints" / "longclip-L.pt")
    assert cm.longclip_checkpoint_path("L") == tmp_path / "checkpoints" / "longclip-L.pt"
    # checkpoint found and valid; the repository code is what is missing now
    with pytest.raises(ModuleNotFoundError, match="model/longclip.py"):
        cm.load_clip("longclip:L")


def test_openai_torchscript_checkpoint_is_rebuilt_from_its_weights(tmp_path, encoders):
    """Released OpenAI checkpoints are TorchScript archives: read with torch.jit.load, rebuilt from the weights."""
    import warnings

    import torch

    model = tiny_clip._openai_clip_model(77)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (torch.zeros(1, 3, 32, 32), torch.zeros(1, 77, dtype=torch.long)),
                                 check_trace=False)
    traced.save(str(tmp_path / "ViT-tiny.pt"))
    enc = cm.load_clip(f"openai:{tmp_path / 'ViT-tiny.pt'}")
    frames = _frames(3, 32, seed=5)
    np.testing.assert_allclose(enc.encode_frames(frames), encoders["openai"].encode_frames(frames), atol=1e-5)
    np.testing.assert_allclose(enc.encode_text(["a cat"]), encoders["openai"].encode_text(["a cat"]), atol=1e-5)


def test_open_clip_local_dir_layout(tmp_path, tiny_names, encoders):
    import json
    import shutil

    weights = tiny_names["open_clip"].split("/", 1)[1]
    config = json.loads(Path(weights).with_suffix(".json").read_text())
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": config, "preprocess_cfg": {}}))
    shutil.copy(weights, tmp_path / "open_clip_model.safetensors")
    enc = cm.load_clip(f"open_clip:local-dir:{tmp_path}")
    assert enc.name.startswith(f"open_clip:local-dir:{tmp_path}@") and enc.image_size == 32
    frames = _frames(3, 32, seed=6)
    np.testing.assert_allclose(enc.encode_frames(frames), encoders["open_clip"].encode_frames(frames), atol=1e-6)
    np.testing.assert_allclose(enc.encode_text([LONG_TEXT]), encoders["open_clip"].encode_text([LONG_TEXT]), atol=1e-6)


# ------------------------------------------------------------------- preprocessing and query truncation


def test_own_resize_is_each_encoders_own_preprocessing(encoders):
    """open_clip (resize_mode 'shortest'), OpenAI clip and HF CLIPImageProcessor centre-crop; SigLIP squashes."""
    assert {kind: encoders[kind].own_resize for kind in LOADABLE} == {
        "open_clip": "crop", "openai": "crop", "hf_clip": "crop", "hf_siglip": "squash"}


def test_open_clip_squash_models_are_recognised(encoders):
    import open_clip

    model = open_clip.create_model("ViT-B-32", pretrained=None)
    model.visual.preprocess_cfg = {**model.visual.preprocess_cfg, "resize_mode": "squash"}
    enc = cm.OpenClipEncoder.from_model(model, open_clip.get_tokenizer("ViT-B-32"), name="open_clip:ViT-B-32/random")
    assert (enc.own_resize, enc.image_size, enc.context_length, enc.name) == ("squash", 224, 77, "open_clip:ViT-B-32/random")
    feats = enc.encode_frames(_frames(2, 224))
    assert feats.shape == (2, 512) and np.allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", LOADABLE)
def test_query_tokens_find_the_truncation_boundary(encoders, kind):
    """Exactly the texts the tokenizer cuts are reported as truncated, with their full token count."""
    enc = encoders[kind]
    context = enc.context_length
    counts = {}
    for words in range(1, 2 * context):
        tokens = enc.query_tokens(" ".join(["dog"] * words))
        assert tokens.context_length == context
        counts[words] = tokens
    fitting = [w for w, t in counts.items() if not t.truncated]
    cut = [w for w, t in counts.items() if t.truncated]
    assert fitting and cut and max(fitting) < min(cut), "truncation starts at one length and stays"
    assert all(counts[w].n_tokens <= context for w in fitting)
    assert all(counts[w].n_tokens > context for w in cut)
    assert counts[max(fitting)].n_tokens >= context - 1, "the longest text read in full fills the context"
    # A text the model reads in full is encoded like itself with more words after it only once it is cut.
    first_cut = min(cut)
    longer = " ".join(["dog"] * first_cut) + " cat"
    np.testing.assert_allclose(enc.encode_text([longer]), enc.encode_text([" ".join(["dog"] * first_cut)]), atol=1e-6)


# -- unsafe files never unpickled (issue 15 item 2) ---------------------------------------------------
class _RunsCode:
    """Unpickling this object calls open(marker, "w"): proof that a loader executed code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _torch_save_pickle(path, marker):
    import torch

    torch.save({"text_projection": _RunsCode(marker)}, path)


def _plain_pickle(path, marker):
    import pickle

    path.write_bytes(pickle.dumps({"text_projection": _RunsCode(marker)}))


def _fake_torchscript(path, marker):
    """A zip laid out like a TorchScript archive whose data.pkl is the crafted pickle."""
    import pickle
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("m/code/__torch__.py", "def f(): pass\n")
        archive.writestr("m/constants.pkl", pickle.dumps(()))
        archive.writestr("m/data.pkl", pickle.dumps(_RunsCode(marker)))


@pytest.mark.parametrize("write, message", [
    (_torch_save_pickle, "neither a TorchScript archive nor a state dict of weights"),
    (_plain_pickle, "neither a TorchScript archive nor a state dict of weights"),
    (_fake_torchscript, "a TorchScript archive that torch.jit.load cannot read"),
    (lambda p, m: p.write_bytes(os.urandom(4096)), "neither a TorchScript archive"),
    (lambda p, m: p.write_text("not a model"), "neither a TorchScript archive"),
], ids=["torch.save pickle", "plain pickle", "fake TorchScript", "random bytes", "text"])
def test_openai_file_that_is_not_a_model_is_refused_without_running_its_code(tmp_path, monkeypatch, write, message):
    # even where the environment turns torch.load's safe default off (clip.load's fallback relies on it)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "code-ran"
    checkpoint = tmp_path / "evil.pt"
    write(checkpoint, marker)
    with pytest.raises(ValueError, match=message) as info:
        cm.load_clip(f"openai:{checkpoint}")
    assert str(checkpoint) in str(info.value)
    assert not marker.exists(), "unpickling executed code from the checkpoint"
    with pytest.raises(ValueError, match=message):
        cm.openai_checkpoint_state(checkpoint)
    assert not marker.exists()


def test_longclip_crafted_pickle_is_refused_without_running_its_code(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "code-ran"
    checkpoint = tmp_path / "longclip-evil.pt"
    _torch_save_pickle(checkpoint, marker)
    with pytest.raises(ValueError, match="Cannot read Long-CLIP checkpoint"):
        cm.inspect_longclip_checkpoint(checkpoint)
    assert not marker.exists()


def test_torch_requirement_is_the_safe_load_default():
    """torch >= 2.6 loads with weights_only=True by default; the package requires it everywhere it pins torch."""
    import re
    from pathlib import Path

    import torch

    root = Path(__file__).resolve().parents[1]
    assert re.search(r'"torch>=2\.6[",]', (root / "pyproject.toml").read_text())
    assert re.search(r"^torch>=2\.6\b", (root / "requirements.txt").read_text(), re.MULTILINE)
    major, minor = (int(x) for x in torch.__version__.split(".")[:2])
    assert (major, minor) >= (2, 6)
