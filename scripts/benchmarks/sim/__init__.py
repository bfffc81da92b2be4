"""Pieces of the selection-quality simulation (QUALITY.md): synthetic videos, scorers, baselines, metrics.

`tracks` draws a video's layout (evidence, distractor segments) and its CLIP similarity track,
`scorers` turns a layout into the two callables `air.model.select_frames` takes,
`baselines` holds uniform sampling and CLIP top-k, `metrics` the per-video and aggregate figures,
`runner` runs every method on every simulated video (optionally over several processes).
Everything is seeded and deterministic; nothing here imports torch.
"""
