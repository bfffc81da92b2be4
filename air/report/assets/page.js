// Renderer of `air report` pages. Reads the JSON blob in #report-data and builds every element with
// createElement / textContent: nothing from a trace is ever parsed as HTML. Rows are rendered in
// chunks as the reader scrolls, and a row's details (ratings, figures) only when it is opened.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var ROWS = DATA.rows;
  var TWO = DATA.runs.length === 2;
  var CHUNK = 40;
  var NAMES = TWO ? ["RUN", "OTHER"] : ["RUN"];
  var CMP_LABELS = {
    fixed: "fixed", broken: "broken", both_right: "both right", both_wrong: "both wrong",
    unknown: "correctness unknown", only_a: "only in RUN", only_b: "only in OTHER"
  };
  var SVG_NS = "http://www.w3.org/2000/svg";

  // ---- small helpers -------------------------------------------------------------------------
  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === null || value === undefined) return;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key.indexOf("data-") === 0) node.setAttribute(key, String(value));
        else node[key] = value;
      });
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function add(node, kid) {
    if (kid === null || kid === undefined || kid === false) return;
    if (Array.isArray(kid)) { kid.forEach(function (k) { add(node, k); }); return; }
    node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    return node;
  }
  function fmtTime(seconds) {
    if (seconds === null || seconds === undefined) return "?";
    var tenths = Math.round(Math.max(0, seconds) * 10);
    var whole = Math.floor(tenths / 10), h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60);
    var s = whole % 60, ss = (s < 10 ? "0" : "") + s;
    var text = h ? h + ":" + (m < 10 ? "0" : "") + m + ":" + ss : m + ":" + ss;
    return text + "." + (tenths % 10);
  }
  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    return String(Number(value.toFixed(digits === undefined ? 2 : digits)));
  }
  function pct(value) { return value === null || value === undefined ? "–" : (100 * value).toFixed(1) + "%"; }
  function scoreColour(score) {
    return score === null || score === undefined ? DATA.colours.unparseable : (DATA.colours.scores[String(score)] || "#ccc");
  }
  function runTag(k) { return el("span", {"class": "tag" + (k ? " other" : ""), text: NAMES[k]}); }

  // ---- header ---------------------------------------------------------------------------------
  function renderRuns() {
    var box = document.getElementById("runs");
    DATA.runs.forEach(function (run, k) {
      var parts = [runTag(k), el("b", {text: run.label})];
      var facts = [];
      if (run.model) facts.push("model " + run.model);
      if (run.date) facts.push("date " + run.date);
      if (run.lmms_eval_version) facts.push("lmms-eval " + run.lmms_eval_version);
      facts.push(run.samples + " samples");
      var div = el("div", {"class": "run", "data-run": k}, parts, el("div", {text: facts.join(" · ")}),
        el("div", {text: "source: " + run.source}));
      if (run.ablations.length) div.append(el("div", {"class": "warn-note", text: "ablations on: " + run.ablations.join(", ")}));
      run.notes.forEach(function (note) { div.append(el("div", {"class": "warn-note", text: note})); });
      if (run.config.length || run.model_args) {
        var table = el("table");
        if (run.model_args) table.append(el("tr", null, el("th", {text: "model_args"}), el("td", {text: run.model_args})));
        run.config.forEach(function (kv) { table.append(el("tr", null, el("th", {text: kv[0]}), el("td", {text: kv[1]}))); });
        div.append(el("details", {"class": "config"}, el("summary", {text: "configuration"}), table));
      }
      box.append(div);
    });
    DATA.notes.forEach(function (note) { box.append(el("div", {"class": "note", text: note})); });
    box.append(el("div", {"class": "note", text: "written " + DATA.generated + " by air report · " + ROWS.length + " rows"}));
  }

  // ---- summary --------------------------------------------------------------------------------
  function statRow(label, key, sides, render) {
    var tr = el("tr", {"data-k": key}, el("th", {text: label}));
    sides.forEach(function (side, k) { tr.append(el("td", {"class": "num", "data-side": k, text: render(side)})); });
    return tr;
  }
  function renderSummary() {
    var box = document.getElementById("summary");
    if (!DATA.tasks.length) box.append(el("p", {"class": "empty", text: "No samples found in this run."}));
    DATA.tasks.forEach(function (task) {
      var card = el("div", {"class": "task-card", "data-task": task.task}, el("h2", {text: task.task}));
      var head = el("tr", null, el("th"));
      task.sides.forEach(function (_, k) { head.append(el("th", null, runTag(k))); });
      var table = el("table", {"class": "stats-table"}, head);
      var names = [];
      task.sides.forEach(function (side) { side.metrics.forEach(function (m) { if (names.indexOf(m[0]) < 0) names.push(m[0]); }); });
      names.forEach(function (name) {
        table.append(statRow(name, "metric:" + name, task.sides, function (side) {
          var hit = side.metrics.filter(function (m) { return m[0] === name; })[0];
          return hit ? fmt(hit[1], 4) : "–";
        }));
      });
      table.append(statRow("samples", "samples", task.sides, function (s) { return fmt(s.samples); }));
      table.append(statRow("right / judged", "correct", task.sides, function (s) {
        return s.known ? s.correct + " / " + s.known + " (" + pct(s.accuracy) + ")" : "–";
      }));
      table.append(statRow("errors", "errors", task.sides, function (s) { return fmt(s.errors); }));
      table.append(statRow("samples with a fallback", "with_fallback", task.sides, function (s) { return fmt(s.with_fallback); }));
      var reasons = [];
      task.sides.forEach(function (s) { Object.keys(s.fallbacks).forEach(function (r) { if (reasons.indexOf(r) < 0) reasons.push(r); }); });
      reasons.forEach(function (reason) {
        table.append(statRow("  fallback " + reason, "fallback:" + reason, task.sides, function (s) { return fmt(s.fallbacks[reason] || 0); }));
      });
      table.append(statRow("mean frames selected", "frames_mean", task.sides, function (s) { return fmt(s.frames_mean); }));
      table.append(statRow("mean frames analysed", "analysed_mean", task.sides, function (s) { return fmt(s.analysed_mean); }));
      table.append(statRow("mean seconds per sample", "seconds_mean", task.sides, function (s) { return fmt(s.seconds_mean); }));
      var body = el("div", {"class": "card-body"}, table);
      var stages = [];
      task.sides.forEach(function (s) { Object.keys(s.stages).forEach(function (st) { if (stages.indexOf(st) < 0) stages.push(st); }); });
      if (stages.length) {
        var stageHead = el("tr", null, el("th", {text: "mean seconds per stage"}));
        task.sides.forEach(function (_, k) { stageHead.append(el("th", null, runTag(k))); });
        var stageTable = el("table", {"class": "stages"}, stageHead);
        stages.forEach(function (stage) {
          stageTable.append(statRow(stage, "stage:" + stage, task.sides, function (s) { return fmt(s.stages[stage], 3); }));
        });
        body.append(stageTable);
      }
      card.append(body);
      if (task.diff) {
        var diff = el("div", {"class": "diff"});
        ["fixed", "broken", "both_right", "both_wrong", "unknown", "only_a", "only_b"].forEach(function (name) {
          if (!task.diff[name] && ["unknown", "only_a", "only_b"].indexOf(name) >= 0) return;
          diff.append(el("button", {"class": "chip " + name, type: "button", "data-cmp": name,
            text: CMP_LABELS[name] + " " + task.diff[name],
            onclick: function () { setFilters({task: task.task, cmp: name}); }}));
        });
        diff.append(el("span", {"class": "chip", "data-cmp": "answer_changed", text: "answer differs " + task.diff.answer_changed}));
        card.append(diff);
      }
      task.groups.forEach(function (group) {
        var gt = el("table", {"class": "groups", "data-group": group.key});
        var gh = el("tr", null, el("th", {text: group.title}));
        task.sides.forEach(function (_, k) {
          gh.append(el("th", null, runTag(k), "right / judged"), el("th", {text: "frames"}));
        });
        gt.append(gh);
        group.rows.forEach(function (g) {
          var tr = el("tr", {"data-name": g.name}, el("td", {text: g.name}));
          g.sides.forEach(function (s) {
            tr.append(el("td", {"class": "num", text: s.known ? s.correct + " / " + s.known + " (" + pct(s.accuracy) + ")" : (s.samples ? "– of " + s.samples : "–")}),
              el("td", {"class": "num", text: fmt(s.frames_mean)}));
          });
          gt.append(tr);
        });
        body.append(gt);
      });
      box.append(card);
    });
  }

  // ---- filters --------------------------------------------------------------------------------
  var controls = {
    q: document.getElementById("q"), task: document.getElementById("f-task"),
    correct: document.getElementById("f-correct"), cmp: document.getElementById("f-cmp"),
    fallback: document.getElementById("f-fallback"), error: document.getElementById("f-error")
  };
  function options(select, pairs) {
    pairs.forEach(function (p) { select.append(el("option", {value: p[0], text: p[1]})); });
  }
  function setupControls() {
    var tasks = DATA.tasks.map(function (t) { return [t.task, t.task]; });
    options(controls.task, [["", "all (" + DATA.tasks.length + ")"]].concat(tasks));
    document.getElementById("f-correct-label").textContent = TWO ? "RUN answer" : "answer";
    options(controls.correct, [["", "any"], ["right", "right"], ["wrong", "wrong"], ["unknown", "not judged"]]);
    if (TWO) {
      options(controls.cmp, [["", "any"], ["changed", "changed (fixed or broken)"], ["fixed", "fixed"], ["broken", "broken"],
        ["both_right", "both right"], ["both_wrong", "both wrong"], ["answer_changed", "answer differs"],
        ["only_a", "only in RUN"], ["only_b", "only in OTHER"], ["unknown", "correctness unknown"]]);
    } else {
      document.getElementById("f-cmp-wrap").hidden = true;
    }
    var reasons = [];
    ROWS.forEach(function (row) {
      row.sides.forEach(function (s) { if (s) s.fallbacks.forEach(function (f) { if (reasons.indexOf(f.reason) < 0) reasons.push(f.reason); }); });
    });
    options(controls.fallback, [["", "any"], ["yes", "with a fallback"], ["no", "without"]].concat(
      reasons.sort().map(function (r) { return ["r:" + r, r]; })));
    options(controls.error, [["", "any"], ["yes", "errored"], ["no", "not errored"]]);
    controls.q.addEventListener("input", function () { clearTimeout(controls.timer); controls.timer = setTimeout(apply, 150); });
    ["task", "correct", "cmp", "fallback", "error"].forEach(function (name) { controls[name].addEventListener("change", apply); });
    document.getElementById("f-reset").addEventListener("click", function () { setFilters({}); });
  }
  function setFilters(values) {
    controls.q.value = values.q || "";
    ["task", "correct", "cmp", "fallback", "error"].forEach(function (name) { controls[name].value = values[name] || ""; });
    apply();
    document.getElementById("controls").scrollIntoView();
  }
  function haystack(row) {
    if (row._hay === undefined) {
      var parts = [row.task, row.doc_id, row.question_id, row.question, row.gold, row.video].concat(row.options);
      row.sides.forEach(function (s) {
        if (!s) return;
        parts.push(s.answer, s.error, s.prediction);
        s.ratings.forEach(function (r) { parts.push(r[4]); });
      });
      row._hay = parts.filter(function (p) { return p !== null && p !== undefined; }).join("\n").toLowerCase();
    }
    return row._hay;
  }
  function keep(row, f) {
    if (f.task && row.task !== f.task) return false;
    var a = row.sides[0];
    if (f.correct) {
      if (!a) return false;
      var c = a.correct;
      if (f.correct === "right" && c !== true) return false;
      if (f.correct === "wrong" && c !== false) return false;
      if (f.correct === "unknown" && c !== null) return false;
    }
    if (f.cmp) {
      if (f.cmp === "changed") { if (row.cmp !== "fixed" && row.cmp !== "broken") return false; }
      else if (f.cmp === "answer_changed") { if (!row.answer_changed) return false; }
      else if (row.cmp !== f.cmp) return false;
    }
    if (f.fallback) {
      var fb = row.sides.some(function (s) { return s && s.fallbacks.length; });
      if (f.fallback === "yes" && !fb) return false;
      if (f.fallback === "no" && fb) return false;
      if (f.fallback.indexOf("r:") === 0) {
        var reason = f.fallback.slice(2);
        if (!row.sides.some(function (s) { return s && s.fallbacks.some(function (x) { return x.reason === reason; }); })) return false;
      }
    }
    if (f.error) {
      var err = row.sides.some(function (s) { return s && s.error; });
      if ((f.error === "yes") !== err) return false;
    }
    if (f.q && haystack(row).indexOf(f.q) < 0) return false;
    return true;
  }

  // ---- rows -----------------------------------------------------------------------------------
  var state = {visible: [], rendered: 0};
  function apply() {
    var f = {q: controls.q.value.trim().toLowerCase(), task: controls.task.value, correct: controls.correct.value,
             cmp: controls.cmp.value, fallback: controls.fallback.value, error: controls.error.value};
    state.visible = ROWS.filter(function (row) { return keep(row, f); });
    state.rendered = 0;
    document.getElementById("rows").replaceChildren();
    document.getElementById("count").textContent = state.visible.length + " of " + ROWS.length + " samples";
    if (!state.visible.length) {
      document.getElementById("rows").append(el("p", {"class": "empty", text: "No sample matches these filters."}));
    }
    renderMore();
    requestAnimationFrame(checkMore);
  }
  function renderMore() {
    var box = document.getElementById("rows");
    var end = Math.min(state.visible.length, state.rendered + CHUNK);
    var frag = document.createDocumentFragment();
    for (var i = state.rendered; i < end; i++) frag.append(renderRow(state.visible[i]));
    box.append(frag);
    state.rendered = end;
  }
  // Render the next chunk while the end of the list is within 1500 px of the viewport.
  function checkMore() {
    var more = document.getElementById("more");
    if (state.rendered < state.visible.length && more.getBoundingClientRect().top < window.innerHeight + 1500) {
      renderMore();
      requestAnimationFrame(checkMore);
    }
  }
  function renderRow(row) {
    var meta = [row.task, "doc " + row.doc_id];
    if (row.question_id) meta.push("id " + row.question_id);
    if (row.video) meta.push(row.video.split(/[\\/]/).pop());
    if (row.duration) meta.push("duration " + row.duration);
    if (row.task_type) meta.push(row.task_type);
    var left = el("div", {"class": "qcol"},
      el("div", {"class": "meta", title: row.video || "", text: meta.join(" · ")}),
      el("div", {"class": "question", text: row.question === null ? "(question not recorded)" : row.question}),
      row.options.length ? el("ol", {"class": "options"}, row.options.map(function (o) { return el("li", {text: o}); })) : null,
      el("div", {"class": "gold"}, "gold answer: ", el("span", {"class": "answer", text: row.gold === null ? "–" : row.gold})),
      TWO ? el("div", {"class": "meta", text: CMP_LABELS[row.cmp] + (row.answer_changed ? " · answer differs" : "")}) : null);
    var sides = el("div", {"class": "sides"}, row.sides.map(function (side, k) { return renderSide(side, k); }));
    var article = el("article", {"class": "row", "data-i": row.i, "data-task": row.task, "data-doc": row.doc_id}, left, sides);
    var details = el("div", {"class": "details", hidden: true});
    var button = el("button", {"class": "open", type: "button", text: "details and figure ▸"});
    button.addEventListener("click", function () {
      if (!details.childNodes.length) details.append(renderDetails(row));
      details.hidden = !details.hidden;
      button.textContent = details.hidden ? "details and figure ▸" : "hide details ▾";
    });
    article.append(button, details);
    return article;
  }
  function renderSide(side, k) {
    if (!side) return el("div", {"class": "side missing", "data-side": k}, runTag(k), "not in this run");
    var status = side.error ? "error" : side.correct === true ? "right" : side.correct === false ? "wrong" : "unknown";
    var head = el("div", {"class": "side-head"}, runTag(k), "answer: ",
      el("span", {"class": "answer", text: side.answer === null ? "–" : side.answer}));
    if (side.prediction !== null && side.prediction !== side.answer) head.append(el("span", {"class": "meta", text: " → " + side.prediction}));
    head.append(el("span", {"class": "badge " + (side.error ? "error" : status), text: side.error ? "error" : status === "unknown" ? "not judged" : status}));
    side.fallbacks.forEach(function (f) { head.append(el("span", {"class": "badge fallback", title: f.detail, text: f.reason})); });
    side.flags.forEach(function (flag) { head.append(el("span", {"class": "badge flag", text: flag})); });
    var facts = [];
    if (side.method) facts.push(side.method);
    if (side.n_sel !== null) facts.push(side.n_sel + " frames" + (side.budget !== null ? " (budget " + side.budget + ")" : ""));
    if (side.n_an !== null) facts.push(side.n_an + " analysed");
    if (side.stop) facts.push("stop " + side.stop);
    if (side.seconds !== null) facts.push(fmt(side.seconds) + " s");
    if (!side.has_trace) facts.push(side.partial ? "summary only (no trace file)" : "no trace");
    var box = el("div", {"class": "side " + status, "data-side": k, "data-status": status}, head, el("div", {"class": "stats", text: facts.join(" · ")}));
    if (side.error) box.append(el("div", {"class": "error-text", text: side.error}));
    if (side.frames.length) box.append(renderFrames(side));
    if (side.track) box.append(renderTrack(side));
    return box;
  }
  function renderFrames(side) {
    var wrap = el("div", {"class": "frames"});
    var thumbs = side.thumbs, slot = {};
    if (thumbs) thumbs.frames.forEach(function (f, j) { slot[f] = j; });
    side.frames.forEach(function (item) {
      var frame = item[0], caption = fmtTime(item[1]);
      if (thumbs && slot[frame] !== undefined) {
        var img = el("img", {src: thumbs.src, width: thumbs.w, height: thumbs.h, loading: "lazy", decoding: "async",
                             alt: "frame " + frame + " at " + caption});
        img.style.objectPosition = (-slot[frame] * thumbs.w) + "px 0px";
        if (item[2] !== undefined && item[2] !== null) img.style.borderBottomColor = scoreColour(item[2]);
        wrap.append(el("figure", {"class": "th", title: "frame " + frame + (item[2] !== null && item[2] !== undefined ? ", VLM score " + item[2] : "")},
          img, el("figcaption", {text: caption})));
      } else {
        wrap.append(el("span", {"class": "chip", title: "frame " + frame, text: caption}));
      }
    });
    if (!thumbs && side.thumbs_note) wrap.title = side.thumbs_note;
    return wrap;
  }
  function renderTrack(side) {
    var t = side.track, W = 320, H = 46, pad = 2;
    var x = function (s) { return (pad + (W - 2 * pad) * (t.dur > 0 ? s / t.dur : 0)).toFixed(1); };
    var y = function (v) { return (H - 6 - (H - 10) * Math.max(0, Math.min(1, v))).toFixed(1); };
    var root = svg("svg", {"class": "track", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img"});
    var title = svg("title");
    title.textContent = "CLIP score over " + fmtTime(t.dur) + (t.down ? " (maximum per bin of " + t.down + " samples)" : "") +
      (t.thr !== null ? ", threshold " + t.thr : "") + ", " + t.ev.length + " events, " + side.frames.length + " frames selected";
    root.append(title);
    t.ev.forEach(function (e) {
      root.append(svg("rect", {x: x(e[0]), y: 0, width: Math.max(1, x(e[1]) - x(e[0])), height: H, fill: DATA.colours.event, "fill-opacity": 0.28}));
    });
    if (t.pts.length) {
      root.append(svg("polyline", {points: t.pts.map(function (p) { return x(p[0]) + "," + y(p[1]); }).join(" "),
        fill: "none", stroke: DATA.colours.sample, "stroke-width": 1.1}));
    }
    if (t.thr !== null) {
      root.append(svg("line", {x1: pad, x2: W - pad, y1: y(t.thr), y2: y(t.thr), stroke: DATA.colours.threshold, "stroke-dasharray": "3 2", "stroke-width": 1}));
    }
    side.ratings.forEach(function (r) {
      if (r[2] !== null) root.append(svg("circle", {cx: x(r[2]), cy: H - 3, r: 1.6, fill: scoreColour(r[3])}));
    });
    side.frames.forEach(function (item) {
      if (item[1] !== null) root.append(svg("line", {x1: x(item[1]), x2: x(item[1]), y1: H - 14, y2: H - 6, stroke: "#111", "stroke-width": 1.2, "class": "chosen"}));
    });
    return root;
  }
  function renderDetails(row) {
    var box = el("div");
    row.sides.forEach(function (side, k) {
      if (!side) return;
      var part = el("section", {"class": "side-details", "data-side": k}, el("h3", null, runTag(k), side.method || ""));
      if (side.figure) {
        part.append(el("img", {"class": "figure", src: side.figure, alt: "air plot figure", loading: "lazy"}));
      } else if (side.figure_note) {
        part.append(el("p", {"class": "note", text: side.figure_note}));
      }
      if (side.plot_cmd && !side.figure) part.append(el("pre", {text: side.plot_cmd}));
      if (side.ratings.length) {
        var table = el("table", {"class": "ratings"}, el("tr", null, ["round", "frame", "time", "score", "", "reason"].map(function (h) { return el("th", {text: h}); })));
        side.ratings.forEach(function (r) {
          var score = el("span", {"class": "score", text: r[3] === null ? "?" : r[3]});
          score.style.backgroundColor = scoreColour(r[3]);
          table.append(el("tr", null, el("td", {text: fmt(r[0])}), el("td", {text: r[1]}), el("td", {text: fmtTime(r[2])}),
            el("td", null, score), el("td", {text: r[5] === "p" ? "positive" : r[5] === "t" ? "top-up" : ""}),
            el("td", {"class": "reason", text: r[4] === null ? "" : r[4]})));
        });
        part.append(el("h3", {text: "VLM ratings (" + side.ratings.length + ")"}), table);
      }
      side.fallbacks.forEach(function (f) { part.append(el("div", {"class": "warn-note", text: "fallback " + f.reason + (f.detail ? ": " + f.detail : "")})); });
      if (side.trace_answer !== null) part.append(el("div", {"class": "note", text: "raw answer in the trace: " + side.trace_answer}));
      var facts = side.info.slice();
      Object.keys(side.timings).forEach(function (stage) { facts.push(["seconds " + stage, fmt(side.timings[stage], 3)]); });
      Object.keys(side.metrics).forEach(function (name) { facts.push(["metric " + name, fmt(side.metrics[name], 4)]); });
      if (facts.length) {
        var info = el("table", {"class": "info"});
        facts.forEach(function (kv) { info.append(el("tr", null, el("th", {text: kv[0]}), el("td", {text: kv[1]}))); });
        part.append(el("h3", {text: "trace fields"}), info);
      }
      if (side.prompt) part.append(el("h3", {text: "answering prompt"}), el("pre", {text: side.prompt}));
      box.append(part);
    });
    return box;
  }

  // ---- start ----------------------------------------------------------------------------------
  renderRuns();
  renderSummary();
  setupControls();
  apply();
  window.addEventListener("scroll", checkMore, {passive: true});
  window.addEventListener("resize", checkMore);
  document.body.setAttribute("data-ready", "1");
  window.__airReportReadyMs = performance.now();
})();
