"""Export and replay of frame selections, so selections can move between methods and backbones.

File format (JSON, `"format": "air-selections/1"`):
    {"format": "air-selections/1",
     "selections": [{"task": "videomme", "doc_id": 12, "question_id": "001-1", "video": "/path/a.mp4",
                     "fps": 29.97, "frame_indices": [12, 480, ...], "timestamps_s": [0.4, 16.02, ...],
                     "method": "air"}]}
`frame_indices` are indices in the original video (0-based, decoded order); `timestamps_s` are
informational (index / fps, seconds); `method` names what chose the frames (informational).
Only `frame_indices` is required; other methods' selections can be written in this format by hand.
Entries are matched by (task, doc_id), else by question_id, else by the video's file name when it
is unique in the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

FORMAT = "air-selections/1"


def selection_entry(record: dict) -> dict:
    """The exported form of one trace record (Selection.to_dict() plus task/doc_id)."""
    fps = float(record["fps"]) if record.get("fps") else None
    frames = [int(f) for f in record["frame_indices"]]
    entry = {
        "task": record.get("task"),
        "doc_id": record.get("doc_id"),
        "question_id": record.get("question_id"),
        "video": record.get("video"),
        "fps": fps,
        "frame_indices": frames,
        "timestamps_s": [round(f / fps, 4) for f in frames] if fps else record.get("timestamps_s"),
        "method": record.get("method"),
    }
    return entry


def export_selections(records: Iterable[dict], path: str | os.PathLike) -> int:
    """Write the selections of trace records (skipping failed ones) to `path`; returns the count.

    One selection per line; the file is written to a temp file and renamed (never half-written).
    """
    entries = [selection_entry(r) for r in records if r.get("frame_indices") and not r.get("error")]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{path}.tmp")
    lines = ",\n".join("  " + json.dumps(e, separators=(", ", ": ")) for e in entries)
    body = f"[\n{lines}\n ]" if entries else "[]"
    tmp.write_text(f'{{"format": "{FORMAT}",\n "selections": {body}}}\n', encoding="utf-8")
    os.replace(tmp, path)
    return len(entries)


@dataclass
class SelectionFile:
    """A loaded selection file; `frames_for` finds the frames of one sample."""

    path: str
    entries: list[dict]

    def frames_for(self, *, task: str | None = None, doc_id=None, question_id: str | None = None,
                   video: str | None = None) -> list[int]:
        for entry in self.entries:
            if task is not None and entry.get("task") == task and str(entry.get("doc_id")) == str(doc_id):
                return entry["frame_indices"]
        if question_id is not None:
            for entry in self.entries:
                if entry.get("question_id") == question_id:
                    return entry["frame_indices"]
        if video is not None:
            name = os.path.basename(video)
            hits = [e for e in self.entries if e.get("video") and os.path.basename(e["video"]) == name]
            if len(hits) == 1:
                return hits[0]["frame_indices"]
        raise KeyError(
            f"No selection for task={task!r} doc_id={doc_id!r} video={video!r} in {self.path}. "
            "Expected an entry with that task and doc_id, question_id, or a unique video file name."
        )


def load_selection_file(path: str | os.PathLike) -> SelectionFile:
    """Read and validate a selection file; errors name the file and what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"Invalid selection file {path}: {exc}. Expected JSON in the {FORMAT} format.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("selections"), list):
        raise ValueError(f"Invalid selection file {path}: expected an object with format={FORMAT!r} and a 'selections' list.")
    for i, entry in enumerate(data["selections"]):
        frames = entry.get("frame_indices") if isinstance(entry, dict) else None
        if not isinstance(frames, list) or not frames or not all(
            isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in frames
        ):
            raise ValueError(f"Invalid selection file {path}: entry {i} has frame_indices {frames!r}; expected non-negative ints.")
    return SelectionFile(str(path), data["selections"])
