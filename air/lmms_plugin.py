"""lmms-eval plugin manifest, exposed through the `lmms_eval.models` entry point in pyproject.toml.

Kept import-light: lmms-eval imports this while it builds its model registry, so it only names
class paths as strings; the model classes (and torch) load when a run asks for them.
"""

from __future__ import annotations

MODELS = {
    "hvp": "air.hvp.HVP",
    "air_uniform": "baselines.uniform.UniformBaseline",
    "air_clip_topk": "baselines.clip_selectors.ClipTopK",
    "air_bolt": "baselines.clip_selectors.ClipInverseTransform",
    "air_aks": "baselines.clip_selectors.AdaptiveKeyframeSampling",
    "air_mdp3": "baselines.clip_selectors.ListwiseDPP",
}


def manifests():
    """The ModelManifest of every model this package provides whose module is installed."""
    import importlib.util

    from lmms_eval.models.registry_v2 import ModelManifest

    out = []
    for model_id, class_path in MODELS.items():
        module = class_path.rsplit(".", 1)[0]
        if importlib.util.find_spec(module.split(".")[0]) is None:
            continue
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            out.append(ModelManifest(model_id=model_id, simple_class_path=class_path))
    return out
