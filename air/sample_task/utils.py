"""lmms-eval hooks of the `air_sample` task (referenced from air_sample.yaml with !function)."""

from __future__ import annotations

import os

from air.sample_task import video_dir

LETTERS = "ABCDEFGH"


def ensure_video(doc: dict) -> str:
    """Absolute path of the doc's video, generating it from its recipe when it is missing."""
    if doc.get("video_path"):
        return os.path.abspath(doc["video_path"])
    path = video_dir() / doc["video"]
    if not path.exists():
        from air.testing.videos import write_video

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
        recipe = doc["recipe"]
        segments = [(float(s), float(e), str(c)) for s, e, c in recipe["segments"]]
        write_video(tmp, duration_s=float(recipe["duration_s"]), fps=float(recipe["fps"]),
                    size=tuple(recipe.get("size", (160, 120))), segments=segments, seed=int(recipe.get("seed", 0)))
        os.replace(tmp, path)  # atomic: concurrent ranks may generate the same video
    return str(path)


def doc_to_visual(doc: dict) -> list[str]:
    return [ensure_video(doc)]


def doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    kwargs = lmms_eval_specific_kwargs or {}
    options = "\n".join(f"{LETTERS[i]}. {opt}" for i, opt in enumerate(doc["options"]))
    pre = kwargs.get("pre_prompt", "")
    post = kwargs.get("post_prompt", "\nAnswer with the option's letter from the given choices directly.")
    return f"{pre}{doc['question']}\n{options}{post}"


def doc_to_target(doc: dict) -> str:
    return doc["answer"]


def process_results(doc: dict, results: list[str]) -> dict:
    """Accuracy on the first option letter of the answer (exact match after trimming)."""
    text = (results[0] if results else "").strip()
    letter = text[:1].upper() if text else ""
    return {"accuracy": float(letter == doc["answer"])}
