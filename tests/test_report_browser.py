"""`air report` on real lmms-eval runs, loaded in a real headless Chromium.

RUN: `hvp` (tiny random-weight Qwen2.5-VL + open_clip) on 4 docs, one of them with a missing video.
OTHER: `air_uniform` on the first 2 docs of the same task (`--limit 2`): different sample sets.
The browser is Debian's `chromium`, driven over the DevTools pipe (air.testing.browser); these tests
are skipped only when no Chromium is installed (`make install` installs it).
`AIR_UPDATE_SCREENSHOT=1` also writes the README screenshot to assets/report_screenshot.png.
"""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from lmms_helpers import FAST_ARGS, results_of, run_lmms_eval, write_task

from air.report import write_report
from air.testing.browser import Browser, find_chromium

pytestmark = pytest.mark.slow
needs_chromium = pytest.mark.skipif(find_chromium() is None,
                                    reason="no Chromium installed (Debian: apt-get install chromium; make install does it)")
TASK = "air_t_report"
SCREENSHOT = Path(__file__).resolve().parent.parent / "assets" / "report_screenshot.png"


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory):
    from air.demo import build_tiny_models
    from air.testing.videos import write_video

    root = tmp_path_factory.mktemp("report_real")
    pretrained, clip = build_tiny_models(root / "tiny")
    videos = []
    for i, (duration, fps) in enumerate([(12, 5), (20, 4), (9, 6)]):
        video = write_video(root / "videos" / f"v{i}.mp4", duration_s=duration, fps=fps, size=(96, 64),
                            segments=[(0, duration / 2, "red"), (duration / 2, duration, "blue")], seed=i)
        videos.append(str(video.path))
    paths = [videos[0], videos[1], str(root / "videos" / "missing.mp4"), videos[2]]
    docs = [{"id": f"d{i}", "video_path": p, "question": f"Which colour is shown first in clip {i}?",
             "options": ["red", "blue", "green", "gray"], "answer": "A"} for i, p in enumerate(paths)]
    include = write_task(root / "task", TASK, docs)
    runs = {}
    for name, model, model_args, extra in (
        ("hvp", "hvp", f"pretrained={pretrained},clip_model={clip},{FAST_ARGS}", []),
        ("uniform", "air_uniform", f"pretrained={pretrained},max_frames=6,min_frames=2", ["--limit", "2"]),
    ):
        output = root / name
        args = ["--model", model, "--model_args", f"{model_args},trace_dir={output / 'traces'}", "--tasks", TASK,
                "--include_path", str(include), "--batch_size", "1", "--output_path", str(output), "--log_samples",
                *extra]
        proc = run_lmms_eval(args, {"AIR_CLIP_CACHE_DIR": str(root / "clip_cache")})
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "accuracy,none" in results_of(output)["results"][TASK], proc.stderr[-3000:]
        runs[name] = output
    return runs


@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium; make install does it)")
    with Browser(width=1280, height=1000) as b:
        yield b


def _traces(output: Path) -> dict[int, dict]:
    from air.traces import iter_trace_records

    return {r["doc_id"]: r for r in iter_trace_records(output / "traces")}


def _data(path: Path) -> dict:
    html = path.read_text()
    return json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.DOTALL).group(1))


def _open(browser: Browser, path: Path) -> None:
    browser.errors.clear()
    browser.open(path)
    browser.wait_for("document.body.dataset.ready === '1'")


def _cell(browser: Browser, key: str, side: int = 0) -> str:
    return browser.evaluate(f"document.querySelector('.task-card tr[data-k=\"{key}\"] td[data-side=\"{side}\"]').textContent")


def _visible_docs(browser: Browser) -> list[str]:
    return browser.evaluate("Array.from(document.querySelectorAll('#rows .row')).map(r => r.dataset.doc)")


def _select(browser: Browser, control: str, value: str) -> None:
    browser.evaluate(f"(() => {{ const s = document.getElementById('{control}'); s.value = '{value}'; "
                     f"s.dispatchEvent(new Event('change')); }})()")


def test_real_run_rows_and_summary_numbers(real_runs, tmp_path):
    out = tmp_path / "r.html"
    write_report(real_runs["hvp"], None, out, figures=None, jobs=1)
    data = _data(out)
    traces = _traces(real_runs["hvp"])
    assert [r["doc_id"] for r in data["rows"]] == ["0", "1", "2", "3"]
    (task,) = data["tasks"]
    side = task["sides"][0]
    good = [t for t in traces.values() if not t.get("error")]
    assert side["samples"] == 4 and side["errors"] == 1 and side["known"] == 4
    assert side["frames_mean"] == round(sum(len(t["frame_indices"]) for t in good) / 3, 4)
    assert side["analysed_mean"] == round(sum(t["n_analyzed"] for t in good) / 3, 4)
    accuracy = results_of(real_runs["hvp"])["results"][TASK]["accuracy,none"]
    assert side["metrics"][0] == ["accuracy", round(accuracy, 4)]
    assert side["correct"] == round(accuracy * 4)
    errored = data["rows"][2]["sides"][0]
    assert "missing.mp4" in errored["error"] and errored["figure"] is None and errored["answer"] == ""
    for row in (data["rows"][0], data["rows"][1], data["rows"][3]):
        s = row["sides"][0]
        trace = traces[int(row["doc_id"])]
        assert [f[0] for f in s["frames"]] == trace["frame_indices"]
        assert len(s["ratings"]) == trace["n_analyzed"] and s["figure"] and s["thumbs"]
        assert row["question"] == f"Which colour is shown first in clip {row['doc_id']}?"
        assert row["options"] == ["A. red", "B. blue", "C. green", "D. gray"] and row["gold"] == "A"


@needs_chromium
def test_page_renders_filters_and_opens_a_figure(real_runs, tmp_path, browser):
    out = tmp_path / "r.html"
    write_report(real_runs["hvp"], None, out, figures=None, jobs=1)
    data = _data(out)
    _open(browser, out)
    assert _visible_docs(browser) == ["0", "1", "2", "3"]
    assert _cell(browser, "samples") == "4" and _cell(browser, "errors") == "1"
    frames_mean = data["tasks"][0]["sides"][0]["frames_mean"]
    assert _cell(browser, "frames_mean") == f"{frames_mean:.2f}".rstrip("0").rstrip(".")
    assert browser.evaluate("document.getElementById('count').textContent") == "4 of 4 samples"
    thumbs = browser.wait_for("(() => { const imgs = Array.from(document.querySelectorAll('.frames img'));"
                              " return imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0) && imgs.length; })()")
    assert thumbs == sum(len(r["sides"][0]["frames"]) for r in data["rows"])
    assert browser.evaluate("document.querySelectorAll('svg.track').length") == 3
    _select(browser, "f-error", "yes")
    assert _visible_docs(browser) == ["2"]
    assert "missing.mp4" in browser.evaluate("document.querySelector('.row .error-text').textContent")
    _select(browser, "f-error", "no")
    assert _visible_docs(browser) == ["0", "1", "3"]
    browser.evaluate("document.getElementById('f-reset').click()")
    browser.evaluate("(() => { const q = document.getElementById('q'); q.value = 'CLIP 3?'; "
                     "q.dispatchEvent(new Event('input')); })()")
    browser.wait_for("document.getElementById('count').textContent === '1 of 4 samples'")
    assert _visible_docs(browser) == ["3"]
    browser.evaluate("document.querySelector('.row .open').click()")
    width = browser.wait_for("(() => { const i = document.querySelector('.details img.figure');"
                             " return i && i.complete && i.naturalWidth; })()")
    assert width == 1300, "the air plot figure, 13 in at 100 dpi"
    n_ratings = browser.evaluate("document.querySelectorAll('.details table.ratings tr').length - 1")
    assert n_ratings == _traces(real_runs["hvp"])[3]["n_analyzed"]
    assert browser.errors == []


@needs_chromium
def test_two_runs_with_different_samples_side_by_side(real_runs, tmp_path, browser):
    out = tmp_path / "compare.html"
    write_report(real_runs["hvp"], real_runs["uniform"], out, figures=None, jobs=1)
    data = _data(out)
    diff = data["tasks"][0]["diff"]
    assert diff["only_a"] == 2 and diff["only_b"] == 0
    assert diff["fixed"] + diff["broken"] + diff["both_right"] + diff["both_wrong"] == 2
    _open(browser, out)
    assert _visible_docs(browser) == ["0", "1", "2", "3"]
    assert _cell(browser, "samples", 0) == "4" and _cell(browser, "samples", 1) == "2"
    assert browser.evaluate("document.querySelectorAll('.side.missing').length") == 2
    _select(browser, "f-cmp", "only_a")
    assert _visible_docs(browser) == ["2", "3"]
    _select(browser, "f-cmp", "changed")
    assert len(_visible_docs(browser)) == diff["fixed"] + diff["broken"]
    browser.evaluate("document.querySelector('.diff button[data-cmp=\"both_wrong\"]').click()")
    assert browser.evaluate("document.getElementById('f-cmp').value") == "both_wrong"
    assert len(_visible_docs(browser)) == diff["both_wrong"]
    browser.evaluate("document.getElementById('f-reset').click()")
    browser.evaluate("window.scrollTo(0, 0)")
    png = browser.screenshot(tmp_path / "shot.png")
    from PIL import Image

    with Image.open(tmp_path / "shot.png") as image:
        assert image.size == (1280, 1000) and len(image.getcolors(1 << 16) or range(300)) > 20, "not blank"
        if os.environ.get("AIR_UPDATE_SCREENSHOT") == "1":
            image.convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(SCREENSHOT, optimize=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert browser.errors == []
    reverse = tmp_path / "reverse.html"
    write_report(real_runs["uniform"], real_runs["hvp"], reverse, figures=0, thumbnails=False)
    _open(browser, reverse)
    _select(browser, "f-cmp", "only_b")
    assert _visible_docs(browser) == ["2", "3"] and browser.errors == []


@needs_chromium
def test_run_without_videos_on_disk(real_runs, tmp_path, browser):
    copy = tmp_path / "moved"
    shutil.copytree(real_runs["hvp"], copy, ignore=shutil.ignore_patterns("*.png"))
    for path in (copy / "traces").glob("*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for record in records:
            record["video"] = "/elsewhere/on/the/cluster/" + Path(record.get("video") or "x.mp4").name
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    results = next(copy.glob("*/*_results.json"))
    results.write_text(results.read_text().replace(str(real_runs["hvp"]), str(copy)))
    out = tmp_path / "r.html"
    write_report(copy, None, out, figures=None, jobs=1)
    data = _data(out)
    assert all(s["thumbs"] is None and "video not found" in s["thumbs_note"]
               for r in data["rows"] for s in r["sides"] if s["frames"])
    _open(browser, out)
    assert browser.evaluate("document.querySelectorAll('.frames img').length") == 0
    n_frames = sum(len(r["sides"][0]["frames"]) for r in data["rows"])
    assert browser.evaluate("document.querySelectorAll('.frames .chip').length") == n_frames
    browser.evaluate("document.querySelector('.row .open').click()")
    assert browser.wait_for("(() => { const i = document.querySelector('.details img.figure');"
                            " return i && i.complete && i.naturalWidth; })()") == 1300, "figure without contact sheet"
    assert browser.errors == []


@needs_chromium
def test_trace_content_is_never_executed(tmp_path, browser):
    from air.testing.report_runs import Doc, write_run

    evil = '<img src=x onerror="window.__pwned=1"></script><script>window.__pwned=2</script>'
    docs = [Doc(task="t", doc_id=i, video="/nowhere.mp4", n_frames=200, fps=10.0, question=evil + str(i),
                options=[evil, "b"], gold="A", extra={"fingerprint": evil}) for i in range(3)]
    write_run(tmp_path / "run", docs, errors={("t", 1): evil})
    out = tmp_path / "r.html"
    write_report(tmp_path / "run", None, out, figures=0)
    _open(browser, out)
    browser.evaluate("document.querySelectorAll('.row .open').forEach(b => b.click())")
    assert browser.evaluate("window.__pwned === undefined")
    assert browser.evaluate("document.querySelector('.row .question').textContent") == evil + "0"
    assert browser.evaluate("document.querySelectorAll('#rows img').length") == 0, "no element made from trace text"
    assert browser.errors == []


@needs_chromium
def test_thousand_rows_render_lazily(tmp_path, browser):
    from air.testing.report_runs import make_docs, write_run

    docs = make_docs([(f"/nowhere/v{i}.mp4", 600, 10.0) for i in range(250)], 4)
    write_run(tmp_path / "run", docs, method="uniform", model="air_uniform")  # cheap traces: the rows matter here
    out = tmp_path / "r.html"
    write_report(tmp_path / "run", None, out, figures=0)
    _open(browser, out)
    first = len(_visible_docs(browser))
    assert 40 <= first < 200, "only the first chunks are rendered at load"
    assert browser.evaluate("document.getElementById('count').textContent") == "1000 of 1000 samples"
    for _ in range(5):
        browser.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        browser.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert len(_visible_docs(browser)) > first
    _select(browser, "f-correct", "wrong")
    wrong = sum(1 for r in _data(out)["rows"] if r["sides"][0]["correct"] is False)
    assert browser.evaluate("document.getElementById('count').textContent") == f"{wrong} of 1000 samples"
    assert browser.errors == []
