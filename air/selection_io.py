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
else by the video's file name when that is unambiguous (see `SelectionFile.frames_for`). Files are
strict JSON both ways: the export writes no NaN/Infinity and the loader rejects them, and numbers that
overflow a float (1e400).

Replay is bounded: a file is read only when it is a regular file of at most MAX_FILE_BYTES, and an entry
listing more than `max_frames` frames (`replay_max_frames`, default DEFAULT_REPLAY_MAX_FRAMES, 8 times
the paper's largest budget of 32) is refused when the file is loaded, since every replayed frame is
decoded at the answering model's size; raise the cap to replay such a file as it is. The export refuses
records it could not replay: frame indices that are not non-negative ints, an fps that is not a finite
number > 0 (null is allowed: fps is informational).
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from air.safe_files import MIB, FileCheckError, atomic_writer, read_limited
from air.strict_json import dumps_strict, loads_strict

FORMAT = "air-selections/1"
#: Frames replayed per sample unless `replay_max_frames` says otherwise (8 x the paper's largest budget, 32).
DEFAULT_REPLAY_MAX_FRAMES = 256
#: Largest selection file read (a full Video-MME export is about 1 MiB).
MAX_FILE_BYTES = 256 * MIB


def _is_frame_index(value) -> bool:
    """A non-negative int (numpy integers too, bools not)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _record_name(record: dict) -> str:
    return f"task {record.get('task')!r} doc_id {record.get('doc_id')!r}"


def selection_entry(record: dict) -> dict:
    """The exported form of one trace record (Selection.to_dict() plus task/doc_id).

    Raises ValueError naming the record when it could not be replayed: frame_indices not a non-empty
    list of non-negative ints, or an fps that is present but not a finite number > 0.
    """
    frames = record.get("frame_indices")
    if not isinstance(frames, (list, tuple)) or not frames or not all(_is_frame_index(f) for f in frames):
        raise ValueError(f"Invalid record ({_record_name(record)}): frame_indices {str(frames)[:200]}. Expected a "
                         "non-empty list of non-negative ints (indices in the original video).")
    fps = record.get("fps")
    if fps is not None or "fps" in (record.get("non_finite_replaced") or ()):
        fps = _finite_positive(fps)
        if fps is None:
            raise ValueError(f"Invalid record ({_record_name(record)}): fps {record.get('fps')!r}"
                             + (" (a non-finite value in the trace)" if record.get("fps") is None else "")
                             + ". Expected a finite number > 0 (frames per second).")
    frames = [int(f) for f in frames]
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

    Failed records (an error, or no frames) are skipped; a record that could not be replayed raises
    ValueError (see selection_entry) before anything is written.
    """
    entries = [selection_entry(r) for r in records if r.get("frame_indices") and not r.get("error")]
    write_selections(entries, path)
    return len(entries)


def write_selections(entries: list[dict], path: str | os.PathLike) -> Path:
    """Write selection entries (from selection_entry) as a selection file: one entry per line, strict JSON,
    through an exclusive temp file renamed over `path` (never half-written, never through a planted link)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = ",\n".join("  " + dumps_strict(e, separators=(", ", ": ")) for e in entries)
    body = f"[\n{lines}\n ]" if entries else "[]"
    with atomic_writer(target) as handle:
        handle.write(f'{{"format": "{FORMAT}",\n "selections": {body}}}\n')
    return target


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
        """The frames of one sample: by (task, doc_id), else question_id, else the video (see `match`)."""
        return self.match(task=task, doc_id=doc_id, question_id=question_id, video=video)[0]["frame_indices"]

    def match(self, *, task: str | None = None, doc_id=None, question_id: str | None = None,
              video: str | None = None) -> tuple[dict, str]:
        """(entry, how it matched: "task_doc_id", "question_id" or "video") for one sample; KeyError if none.

        By video only when unambiguous: among the entries whose video has the sample's file name and that
        do not belong to another sample (same task but another doc_id, or another question_id), the one
        with the same path, else the only one; several with different frames raise KeyError.
        """
        for entry in self.entries:
            if task is not None and entry.get("task") == task and str(entry.get("doc_id")) == str(doc_id):
                return entry, "task_doc_id"
        if question_id is not None:
            for entry in self.entries:
                if entry.get("question_id") == question_id:
                    return entry, "question_id"
        if video is not None:
            hits = [e for e in self.entries if isinstance(e.get("video"), str)
                    and os.path.basename(e["video"]) == os.path.basename(video)
                    and not self._belongs_elsewhere(e, task, doc_id, question_id)]
            same_path = [e for e in hits if os.path.normpath(e["video"]) == os.path.normpath(video)]
            hits = same_path or hits
            if len({tuple(e["frame_indices"]) for e in hits}) == 1:
                return hits[0], "video"
            if hits:
                raise KeyError(
                    f"Ambiguous selection for task={task!r} doc_id={doc_id!r} video={video!r} in {self.path}: "
                    f"{len(hits)} entries with different frames name a video {os.path.basename(video)!r}. Expected "
                    "entries with task and doc_id or question_id, or one entry per video file name."
                )
        raise KeyError(
            f"No selection for task={task!r} doc_id={doc_id!r} video={video!r} in {self.path}. "
            "Expected an entry with that task and doc_id, question_id, or an unambiguous video file name."
        )

    @staticmethod
    def _belongs_elsewhere(entry: dict, task, doc_id, question_id) -> bool:
        """Whether an entry names another sample (a video holds several questions, e.g. Video-MME's three)."""
        if task is not None and entry.get("task") == task and entry.get("doc_id") is not None \
                and str(entry.get("doc_id")) != str(doc_id):
            return True
        theirs = entry.get("question_id")
        return question_id is not None and theirs is not None and theirs != question_id


def load_selection_file(path: str | os.PathLike, *, max_frames: int = DEFAULT_REPLAY_MAX_FRAMES) -> SelectionFile:
    """Read and validate a selection file; errors name the file and what is wrong (ValueError).

    max_frames: most frames one entry may list (`replay_max_frames`); a longer entry is refused.
    """
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise ValueError(f"Invalid replay_max_frames: {max_frames!r}. Expected an int >= 1.")
    if not os.path.exists(path):
        raise ValueError(f"Invalid selection file {path}: no such file. Expected a JSON file in the {FORMAT} "
                         "format (write one with `python -m air export`).")
    try:
        raw = read_limited(path, max_bytes=MAX_FILE_BYTES, what="selection file")  # regular files only
    except FileCheckError:
        raise
    except OSError as exc:
        raise ValueError(f"Invalid selection file {path}: cannot read it ({exc.strerror or exc}).") from exc
    try:
        data = loads_strict(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"Invalid selection file {path}: {exc}. Expected strict JSON in the {FORMAT} format.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("selections"), list):
        raise ValueError(f"Invalid selection file {path}: expected an object with format={FORMAT!r} and a 'selections' list.")
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(data["selections"]):
        _check_entry(path, i, entry, max_frames)
        if entry.get("task") is not None and entry.get("doc_id") is not None:
            key = (str(entry["task"]), str(entry["doc_id"]))
            if key in seen and data["selections"][seen[key]]["frame_indices"] != entry["frame_indices"]:
                raise ValueError(f"Invalid selection file {path}: entries {seen[key]} and {i} both select for task="
                                 f"{key[0]!r} doc_id={key[1]!r} with different frames. Expected one selection per sample.")
            seen.setdefault(key, i)
    return SelectionFile(str(path), data["selections"], hashlib.sha256(raw).hexdigest())


def _check_entry(path, i: int, entry, max_frames: int) -> None:
    frames = entry.get("frame_indices") if isinstance(entry, dict) else None
    if not isinstance(frames, list) or not frames or not all(
        isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in frames
    ):
        raise ValueError(f"Invalid selection file {path}: entry {i} has frame_indices {str(frames)[:200]}; "
                         "expected non-negative ints.")
    if len(frames) > max_frames:
        raise ValueError(
            f"Invalid selection file {path}: entry {i} (task {entry.get('task')!r} doc_id {entry.get('doc_id')!r}) "
            f"lists {len(frames)} frames, above replay_max_frames={max_frames} (every replayed frame is decoded at "
            f"the answering model's size). Expected at most {max_frames} frames per entry, or pass "
            f"replay_max_frames={len(frames)} (or more) in --model_args to replay the file as it is.")
    keyed = (entry.get("task") is not None and entry.get("doc_id") is not None) or entry.get("question_id") or entry.get("video")
    if not keyed:
        raise ValueError(f"Invalid selection file {path}: entry {i} has no task and doc_id, question_id or video; "
                         f"expected at least one of them to match a sample by (entry keys: {sorted(entry)}).")
    fps = entry.get("fps")
    if fps is not None and _finite_positive(fps) is None:
        raise ValueError(f"Invalid selection file {path}: entry {i} has fps {fps!r}; expected a number > 0 or null.")
