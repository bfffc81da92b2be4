"""Selection-quality figures of QUALITY.md, per video and averaged over videos.

For one video and a set of selected frames:
- hit: 1.0 if every evidence segment holds at least one selected frame, else 0.0;
- precision: selected frames that are evidence frames / selected frames;
- coverage: distinct evidence seconds covered / min(evidence seconds, selected frames), where the
  second of frame f is floor(f / fps) and the evidence seconds are the seconds of the evidence frames;
- redundancy: distinct seconds among the selected frames / selected frames (1.0 = no two frames share
  a second; lower = more near-duplicates);
- frames: number of selected frames.
An empty selection scores 0 everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from .tracks import VideoLayout, segment_mask

PER_VIDEO_KEYS = ("hit", "precision", "coverage", "redundancy", "frames")


class EvidenceIndex:
    """Precomputed evidence facts of one layout, so that many selections are scored cheaply."""

    def __init__(self, layout: VideoLayout):
        self.layout = layout
        self.segment_masks = [segment_mask(layout, (seg,)) for seg in layout.evidence]
        self.mask = np.zeros(layout.n_frames, dtype=bool)
        for m in self.segment_masks:
            self.mask |= m
        self.seconds = set(np.floor(np.flatnonzero(self.mask) / layout.fps).astype(np.int64).tolist())

    def video_metrics(self, frames: Iterable[int]) -> dict[str, float]:
        """The per-video figures (see module docstring) of selected frames (original indices)."""
        sel = np.unique(np.asarray(list(frames), dtype=np.int64))
        if sel.size and (sel[0] < 0 or sel[-1] >= self.layout.n_frames):
            raise ValueError(f"Invalid frames: range {sel[0]}..{sel[-1]}. Expected indices in 0..{self.layout.n_frames - 1}.")
        n = int(sel.size)
        if n == 0:
            return {"hit": 0.0, "precision": 0.0, "coverage": 0.0, "redundancy": 0.0, "frames": 0.0}
        inside = self.mask[sel]
        seconds = np.floor(sel / self.layout.fps).astype(np.int64)
        covered = set(seconds[inside].tolist()) & self.seconds
        hit = all(bool(m[sel].any()) for m in self.segment_masks)
        return {
            "hit": float(hit),
            "precision": float(inside.mean()),
            "coverage": len(covered) / min(len(self.seconds), n),
            "redundancy": len(set(seconds.tolist())) / n,
            "frames": float(n),
        }


def aggregate(rows: list[Mapping[str, float]]) -> dict[str, float]:
    """Mean of each per-video figure over videos; for `analyzed` also its max."""
    if not rows:
        raise ValueError("Invalid rows: empty. Expected the figures of at least one video.")
    out = {k: float(np.mean([r[k] for r in rows])) for k in PER_VIDEO_KEYS}
    out = {"hit_rate": out.pop("hit"), **out}
    out["mean_frames"] = out.pop("frames")
    if "analyzed" in rows[0]:
        values = [r["analyzed"] for r in rows]
        out["analyzed_mean"] = float(np.mean(values))
        out["analyzed_max"] = int(max(values))
    return out
