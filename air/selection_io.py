"""Export and replay of frame selections, so selections can move between methods and backbones.

File format (JSON, `"format": "air-selections/1"`):
    {"format": "air-selections/1",
     "selections": [{"task": "videomme", "doc_id": 12, "question_id": "001-1", "video": "/path/a.mp4",
                     "fps": 29.97, "frame_indices": [12, 480, ...], "timestamps_s": [0.4, 16.02, ...],
                     "method": "air"}]}
`frame_indices` are indices in the original video (0-based, decoded order); `timestamps_s` are
informational (index / fps, seconds); `method` names what chose the frames (informational).
`frame_indices` and one way to match a sample are required; other methods' selections can be written
in this format by hand. Entries are matched by (task, doc_id), else by question_id (the dataset's own
id: Video-MME/MLVU question_id, LongVideoBench id, EgoSchema question_idx, NExT-QA "<video>_<qid>"),
else by the video's file name when it is unique in the file. Files are strict JSON both ways: the
export writes no NaN/Infinity (a non-finite fps is written as null) and the loader rejects them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from air.traces import dumps_strict

FORMAT = "air-selections/1"


def selection_entry(record: dict) -> dict:
    """The exported form of one trace record (Selection.to_dict() plus task/doc_id)."""
    fps = _finite_positive(record.get("fps"))
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
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = ",\n".join("  " + dumps_strict(e, separators=(", ", ": ")) for e in entries)
    body = f"[\n{lines}\n ]" if entries else "[]"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)  # O_EXCL
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f'{{"format": "{FORMAT}",\n "selections": {body}}}\n')
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(entries)


def _finite_positive(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


@dataclass
class SelectionFile:
    """A loaded selection file; `frames_for` finds the frames of one sample."""

    path: str
    entries: list[dict]
    sha256: str = ""  # of the file's bytes, for run fingerprints

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
    """Read and validate a selection file; errors name the file and what is wrong (ValueError)."""
    def reject_constant(name: str):
        raise ValueError(f"{name} is not valid JSON")

    if not Path(path).is_file():
        raise ValueError(f"Invalid selection file {path}: no such file. Expected a JSON file in the {FORMAT} "
                         "format (write one with `python -m air export`).")
    try:
        raw = Path(path).read_bytes()
        data = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"Invalid selection file {path}: {exc}. Expected strict JSON in the {FORMAT} format.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("selections"), list):
        raise ValueError(f"Invalid selection file {path}: expected an object with format={FORMAT!r} and a 'selections' list.")
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(data["selections"]):
        _check_entry(path, i, entry)
        if entry.get("task") is not None and entry.get("doc_id") is not None:
            key = (str(entry["task"]), str(entry["doc_id"]))
            if key in seen and data["selections"][seen[key]]["frame_indices"] != entry["frame_indices"]:
                raise ValueError(f"Invalid selection file {path}: entries {seen[key]} and {i} both select for task="
                                 f"{key[0]!r} doc_id={key[1]!r} with different frames. Expected one selection per sample.")
            seen.setdefault(key, i)
    return SelectionFile(str(path), data["selections"], hashlib.sha256(raw).hexdigest())


def _check_entry(path, i: int, entry) -> None:
    frames = entry.get("frame_indices") if isinstance(entry, dict) else None
    if not isinstance(frames, list) or not frames or not all(
        isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in frames
    ):
        raise ValueError(f"Invalid selection file {path}: entry {i} has frame_indices {frames!r}; expected non-negative ints.")
    keyed = (entry.get("task") is not None and entry.get("doc_id") is not None) or entry.get("question_id") or entry.get("video")
    if not keyed:
        raise ValueError(f"Invalid selection file {path}: entry {i} has no task and doc_id, question_id or video; "
                         f"expected at least one of them to match a sample by (entry keys: {sorted(entry)}).")
    fps = entry.get("fps")
    if fps is not None and _finite_positive(fps) is None:
        raise ValueError(f"Invalid selection file {path}: entry {i} has fps {fps!r}; expected a number > 0 or null.")
