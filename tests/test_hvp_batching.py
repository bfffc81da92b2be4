"""Several videos at once on tiny real models: H_VPModel.select_many / answer_many, and hvp with batch_size > 1.

Everything here compares a batched run with the one-video-at-a-time run of the same inputs: the same
Selections and answers (timings aside), the same trace records in the same order, the same per-sample
errors, with fewer analysis calls. The lmms-eval command line with --batch_size 3 is in
test_hvp_lmms_eval.py; here the HVP object is driven in-process with lmms-eval's own Instance requests.
"""

import json

import pytest

from air.model import H_VPModel
from air.testing.videos import write_video
from air.traces import iter_trace_records

LOOP = dict(max_rounds=2, candidates_per_round=4, analysis_batch_size=12, analysis_max_new_tokens=6, max_frames=8,
            min_frames=4)
QUESTION, OPTIONS = "Which colour is shown first?", ["red", "blue", "green", "gray"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    paths = []
    for i, (dur, fps, size) in enumerate([(12, 5, (96, 64)), (20, 4, (128, 96)), (9, 6, (96, 64))]):
        g = write_video(root / f"v{i}.mp4", duration_s=dur, fps=fps, size=size,
                        segments=[(0, dur / 2, "red"), (dur / 2, dur, "blue")], seed=i)
        paths.append(str(g.path))
    broken = root / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    return paths, str(broken)


@pytest.fixture(scope="module")
def model(tiny):
    pretrained, clip = tiny
    return H_VPModel.from_pretrained(pretrained, clip_model=clip, cache=None, **LOOP)


class CallCounter:
    """Counts the analysis backbone's calls (analyze and analyze_many alike), passing them through."""

    def __init__(self, backbone, monkeypatch):
        self.calls = 0
        for name in ("analyze", "analyze_many"):
            real = getattr(backbone, name)

            def counted(*args, _real=real, **kwargs):
                self.calls += 1
                return _real(*args, **kwargs)

            monkeypatch.setattr(backbone, name, counted)


def _plain(selection_dict):
    data = dict(selection_dict)
    data.pop("timings_s")
    return data


def test_select_many_gives_each_video_its_own_selection_with_fewer_analysis_calls(model, videos, monkeypatch):
    good, broken = videos
    paths = [good[0], broken, good[1], good[0], "/nonexistent/nope.mp4", good[2]]
    questions = [QUESTION, QUESTION, "Is anything blue?", "Is anything blue?", QUESTION, QUESTION]
    options = [OPTIONS, OPTIONS, None, ["yes", "no"], None, OPTIONS]
    counter = CallCounter(model.analysis_backbone, monkeypatch)
    alone = []
    for path, question, opts in zip(paths, questions, options):
        try:
            alone.append(model.select(path, question, opts))
        except Exception as exc:
            alone.append(exc)
    calls_alone, counter.calls = counter.calls, 0
    together = model.select_many(paths, questions, options, return_exceptions=True)
    assert counter.calls < calls_alone
    for one, many in zip(alone, together):
        if isinstance(one, Exception):
            assert type(many) is type(one) and str(many) == str(one)
        else:
            assert _plain(many.to_dict()) == _plain(one.to_dict())
            assert {"vlm_analysis", "decode_vlm", "clip_encode_frames"} <= set(many.timings_s)
    assert "broken.mp4" in str(together[1]) and "nope.mp4" in str(together[4])

    with pytest.raises(type(alone[1]), match="broken.mp4"):
        model.select_many(paths[:3], questions[:3], options[:3])  # the first error, once all are done


def test_a_shared_call_that_runs_out_of_memory_is_logged_and_changes_nothing(model, videos, monkeypatch, caplog):
    good, _ = videos
    alone = [model.select(path, QUESTION, OPTIONS) for path in good]
    real = model.analysis_backbone.analyze_many

    def small_batches_only(items):
        if len(items) > 4:  # one video's round fits, a step of three videos does not
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(items)

    monkeypatch.setattr(model.analysis_backbone, "analyze_many", small_batches_only)
    with caplog.at_level("WARNING", logger="air.model"):
        together = model.select_many(good, [QUESTION] * 3, [OPTIONS] * 3)
    assert [_plain(s.to_dict()) for s in together] == [_plain(s.to_dict()) for s in alone]
    assert all("analysis_error" not in s.fallback_reasons for s in together), "rated video by video, without error"
    warnings = [r.getMessage() for r in caplog.records if "shared by several videos failed" in r.getMessage()]
    assert warnings and "CUDA out of memory (simulated)" in warnings[0] and "videos [0, 1, 2]" in warnings[0]


def test_a_later_question_on_the_same_video_finds_the_samples_in_the_feature_cache(tiny, videos, tmp_path):
    pretrained, clip = tiny
    cached = H_VPModel.from_pretrained(pretrained, clip_model=clip, cache_dir=str(tmp_path / "cc"), **LOOP)
    first, second = cached.select_many([videos[0][1], videos[0][1]], [QUESTION, "Is anything blue?"])
    n_samples = sum(1 for *_, src in first.scored if src == "sample")
    assert first.to_dict()["clip_frames_from_cache"] == 0
    assert second.to_dict()["clip_frames_from_cache"] >= n_samples, "stage 1 of each video runs before the next opens"


def test_answer_many_answers_each_as_answer_does(model, videos):
    good, _ = videos
    gen = {"max_new_tokens": 3}
    seen = []

    def prompt(selection):
        seen.append(selection.frame_indices)
        return f"{len(selection.frame_indices)} frames. {QUESTION}"

    prompts = [QUESTION + " Answer with a word.", prompt]
    questions = [None, QUESTION]
    alone = [model.answer(good[0], prompts[0], None, OPTIONS, gen), model.answer(good[1], prompt, QUESTION, None, gen)]
    together = model.answer_many(good[:2], prompts, questions, [OPTIONS, None], gen)
    for (text_one, sel_one), (text_many, sel_many) in zip(alone, together):
        assert text_many == text_one
        assert _plain(sel_many.to_dict()) == _plain(sel_one.to_dict())
        assert "answer" in sel_many.timings_s and sel_many.to_dict()["answer"] == text_many
    assert seen[0] == seen[1] == alone[1][1].frame_indices
    assert together[1][1].to_dict()["prompt"].startswith(f"{len(seen[0])} frames.")


@pytest.mark.parametrize(("call", "message"), [
    (lambda m, v: m.select_many(v[0][0], [QUESTION]), "Expected a list of paths"),
    (lambda m, v: m.select_many(v[0], [QUESTION]), r"Invalid questions: 1 values for 3 videos"),
    (lambda m, v: m.select_many(v[0], QUESTION), r"Invalid questions: a single str"),
    (lambda m, v: m.answer_many(v[0][:1], [lambda s: "x"]), r"Invalid question for video 0: None"),
    (lambda m, v: m.answer_many(v[0][:2], ["a", "b"], gen_kwargs=[{}]), r"Invalid gen_kwargs: 1 values for 2"),
])
def test_many_argument_errors(model, videos, call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call(model, videos)


# ------------------------------------------------------------------------------ hvp with batch_size > 1
TASK = "batch_t"


def _hvp(tiny, tmp_path, name, **extra):
    from air.hvp import HVP

    pretrained, clip = tiny
    args = {"clip_model": clip, "trace_dir": str(tmp_path / name / "traces"), "cache_dir": str(tmp_path / name / "cc"),
            **{k: str(v) for k, v in LOOP.items()}, **extra}
    return HVP(pretrained, **args)


def _requests(lm, docs):
    """lmms-eval generate_until Instances for `docs` (one per doc, in order), the task's docs on `lm`."""
    from lmms_eval.api.instance import Instance

    from air.sample_task.utils import doc_to_text

    lm.task_dict = {TASK: {"test": dict(enumerate(docs))}}
    return [Instance(request_type="generate_until", idx=0,
                     arguments=(doc_to_text(doc), {"max_new_tokens": 3}, lambda d: [d["video_path"]], doc_id, TASK,
                                "test"),
                     metadata={"task": TASK, "doc_id": doc_id, "repeats": 1})
            for doc_id, doc in enumerate(docs)]


def _docs(paths):
    return [{"id": f"d{i}", "video_path": p, "question": QUESTION, "options": OPTIONS, "answer": "A"}
            for i, p in enumerate(paths)]


def _records(lm):
    out = []
    for record in iter_trace_records(lm.traces.dir):
        record = dict(record)
        record.pop("seconds"), record.pop("timings_s", None)
        record.get("config", {}).pop("cache_dir", None)  # each run has its own feature cache here
        out.append(record)
    return out


def _generate(lm, requests):
    from air.lmms_logging import restore_std_logging

    try:
        return lm.generate_until(requests)
    finally:
        restore_std_logging()


def test_hvp_batch_size_3_answers_and_traces_as_batch_size_1(tiny, videos, tmp_path, monkeypatch):
    """Request order, an error in the middle, lmms-eval's rank padding (the last request repeated) and a
    resumed record, with groups of 3 that split the padding repeat from its original."""
    good, broken = videos
    docs = _docs([good[0], broken, good[1], good[2], "/nonexistent/nope.mp4", good[1]])
    runs = {}
    for name, batch_size in (("one", 1), ("three", 3)):
        lm = _hvp(tiny, tmp_path, name, batch_size=str(batch_size))
        assert lm.batch_size == batch_size
        requests = _requests(lm, docs)
        requests.append(requests[-1])  # rank padding: the last request once more
        counter = CallCounter(lm.model.analysis_backbone, monkeypatch)
        answers = _generate(lm, requests)
        runs[name] = (answers, _records(lm), counter.calls, dict(lm.stats))
    answers_one, records_one, calls_one, stats_one = runs["one"]
    answers_three, records_three, calls_three, stats_three = runs["three"]
    assert answers_three == answers_one and len(answers_one) == 7 and answers_one[6] == answers_one[5]
    assert records_three == records_one, "the same records, in request order"
    assert [r["doc_id"] for r in records_one] == [0, 1, 2, 3, 4, 5], "the padding repeat is answered once"
    assert "VideoDecodeError" in records_one[1]["error"] and "nope.mp4" in records_one[4]["error"]
    assert all(not records_one[k].get("error") for k in (0, 2, 3, 5))
    assert stats_three == stats_one and stats_one["errors"] == 2
    assert calls_three < calls_one


def test_hvp_batch_size_3_resume_and_replay(tiny, videos, tmp_path):
    good, _ = videos
    docs = _docs([good[0], good[1], good[2], good[0]])
    # resume: the first run traced docs 0 and 2 under this configuration; batch_size is not part of it
    first = _hvp(tiny, tmp_path, "resume", batch_size="1")
    requests = _requests(first, docs)
    _generate(first, [requests[0], requests[2]])
    resumed = _hvp(tiny, tmp_path, "resume", batch_size="3", resume="True")
    assert resumed.fingerprint == first.fingerprint
    answers = _generate(resumed, _requests(resumed, docs))
    records = list(iter_trace_records(resumed.traces.dir))
    assert [r["doc_id"] for r in records] == [0, 2, 1, 3], "only docs 1 and 3 ran again"
    assert answers[0] == records[0]["answer"] and answers[2] == records[1]["answer"]
    assert resumed.stats["resumed"] == 2 and resumed.stats["samples"] == 2

    # replay: the selections of that run, answered in groups of 3; a doc without a selection fails alone
    from air.selection_io import export_selections

    selections = tmp_path / "selections.json"
    export_selections([r for r in records if r["doc_id"] != 1], selections)
    replay = _hvp(tiny, tmp_path, "replay", batch_size="3", selection_file=str(selections))
    _generate(replay, _requests(replay, docs))
    replayed = {r["doc_id"]: r for r in iter_trace_records(replay.traces.dir)}
    by_doc = {r["doc_id"]: r for r in records}
    for doc_id in (0, 2, 3):
        assert replayed[doc_id]["frame_indices"] == by_doc[doc_id]["frame_indices"]
        assert replayed[doc_id]["replayed_from"] == str(selections)
    assert "KeyError" in replayed[1]["error"] and replay.stats["errors"] == 1
    assert json.loads(selections.read_text())["selections"]


def test_hvp_rejects_a_bad_batch_size(tiny, tmp_path):
    with pytest.raises(ValueError, match=r"Invalid batch_size: -2\. Expected an int >= 1"):
        _hvp(tiny, tmp_path, "bad", batch_size="-2")


def test_uniform_baseline_with_batch_size_3_answers_as_with_1(tiny, videos, tmp_path):
    from baselines.uniform import UniformBaseline

    good, broken = videos
    pretrained, _ = tiny
    docs = _docs([good[0], broken, good[1], good[2]])
    results = []
    for name, batch_size in (("u1", 1), ("u3", 3)):
        lm = UniformBaseline(pretrained, trace_dir=str(tmp_path / name), num_frames="4", batch_size=str(batch_size),
                             analysis_max_new_tokens="4")
        results.append((_generate(lm, _requests(lm, docs)), _records(lm)))
    assert results[1] == results[0]
    assert "VideoDecodeError" in results[0][1][1]["error"] and len(results[0][1]) == 4


# ------------------------------------------------------------------------------------------- benchmark
def test_cross_video_benchmark_reports_its_figures(monkeypatch, tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "benchmarks" / "cross_video_figures.py"
    monkeypatch.syspath_prepend(str(path.parent))  # as when run as a script: its sibling bench_common
    spec = importlib.util.spec_from_file_location("cross_video_figures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.cross_video_figures(n_videos=2, repeats=1, duration_s=8.0, fps=4.0, size=(64, 48),
                                        max_new_tokens=2, work_dir=tmp_path)
    assert result["cross_video_vs_one_by_one"] == pytest.approx(result["together_s"] / result["one_by_one_s"])
    calls = result["analysis_calls"]
    # analysis_batch_size = 12 x 2: every step is one call; one by one every round is one call
    assert calls["one_by_one"] == sum(result["rounds_per_video"]) and calls["together"] == max(result["rounds_per_video"])
    assert result["analysis_calls_cross_video_ratio"] == pytest.approx(calls["together"] / calls["one_by_one"])
    assert result["identical_selections"] is True and result["analysis_batch_size"] == 24
    assert module.pipeline_figures(result) == {k: result[k] for k in module.TARGETS}
    assert set(module.behind(result)) == set(module.TARGETS)
    assert "cross_video_vs_one_by_one" in module._table(result)
