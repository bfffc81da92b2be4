"""Helpers shared by the backbone adapter tests (tests/test_backbone_*.py): frames, options, generate spy.

Torch runs on one thread in these tests through tests/conftest.py (OMP_NUM_THREADS=1, MKL_NUM_THREADS=1
set before torch is imported), so no per-module thread fixture is needed.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def make_frames(n: int, height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """Distinct random RGB frames, uint8 (n, height, width, 3), seeded."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, height, width, 3), dtype=np.uint8)


def shaded_frames(n: int, height: int = 48, width: int = 64, seed: int = 7) -> np.ndarray:
    """Random frames half-blended with a brightness ramp over time: uint8 (n, height, width, 3).

    Frame i is brighter than frame i-1 on average, so frames stay visibly different after resizing.
    """
    base = make_frames(n, height, width, seed)
    shade = np.linspace(0, 255, n, dtype=np.float64)[:, None, None, None]
    return (base.astype(np.float64) * 0.5 + shade * 0.5).astype(np.uint8)


def with_options(backbone, **changes):
    """The same loaded model and processor behind changed LoadOptions (no reload)."""
    options = dataclasses.replace(backbone.options, **changes)
    return type(backbone)(backbone.model, backbone.processor, options, backbone.pretrained)


class GenerateSpy:
    """Wraps model.generate: records the batch size, keyword arguments and new-token count of each call."""

    def __init__(self, generate):
        self.generate = generate
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        out = self.generate(**kwargs)
        prompt_len = kwargs["input_ids"].shape[1]
        self.calls.append({"batch": int(kwargs["input_ids"].shape[0]), "kwargs": kwargs,
                           "new_tokens": int(out.shape[1] - prompt_len)})
        return out


def spy_generate(monkeypatch, backbone) -> GenerateSpy:
    """Replace backbone.model.generate with a GenerateSpy for the test's duration."""
    spy = GenerateSpy(backbone.model.generate)
    monkeypatch.setattr(backbone.model, "generate", spy)
    return spy


def pixels_sent(generate_kwargs: dict):
    """The pixel tensor a generate call received: pixel_values_videos if present, else pixel_values."""
    return generate_kwargs.get("pixel_values_videos", generate_kwargs.get("pixel_values"))
