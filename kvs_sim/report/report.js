// Glue of a kvs-sim run report: draws the figures embedded in the page with
// Plotly (the space-time diagram through its level of detail, spacetime.js),
// then links them: the version slider recolours the propagation tree, a click
// on a violation (or a nemesis) zooms the space-time diagram to it and draws
// its operations in the evidence trace.  Sets body[data-ready] when done.
(function () {
  "use strict";
  const R = JSON.parse(document.getElementById("kvs-data").textContent);
  const plots = {};
  const config = { responsive: true, displaylogo: false, scrollZoom: true };

  // Milliseconds each figure took to draw (read by bench/report_load.py).
  window.kvsTimings = {};

  // The space-time diagram's level of detail (spacetime.js).
  const lod = window.kvsSpacetime ? window.kvsSpacetime(R.spacetime) : null;

  function draw() {
    const jobs = [];
    document.querySelectorAll("script.kvs-figure").forEach(function (s) {
      const t0 = performance.now();
      const spec = JSON.parse(s.textContent);
      if (s.dataset.target === "spacetime" && lod) lod.prepare(spec);
      const div = document.getElementById(s.dataset.target);
      jobs.push(
        Plotly.newPlot(div, spec.data, spec.layout, config).then(function (gd) {
          plots[s.dataset.target] = gd;
        })
      );
      window.kvsTimings[s.dataset.target] = performance.now() - t0;
    });
    return Promise.all(jobs);
  }

  // ---- the propagation tree and its version slider
  function setupTree() {
    const T = R.tree && window.kvsColumns ? window.kvsColumns(R.tree) : R.tree;
    const gd = plots.tree;
    const slider = document.getElementById("version-slider");
    if (!T || !gd || !slider || !T.versions.length) return;
    const n = T.x.length;
    const start = new Int32Array(n + 1);
    T.rank.forEach(function (r) { start[r + 1] += 1; });
    for (let r = 0; r < n; r++) start[r + 1] += start[r];
    const label = document.getElementById("version-label");

    function show(i) {
      const v = T.versions[i];
      const born = T.created[i];
      const ring = new Set(T.committers[String(v)] || []);
      const a = { x: [], y: [], c: [], t: [], h: [], w: [], lc: [] };
      const b = { x: [], y: [], h: [] };
      let last = 0;
      for (let r = 0; r < n; r++) {
        let seen = null;
        for (let j = start[r]; j < start[r + 1]; j++) {
          if (T.version[j] >= v) { seen = T.time[j]; break; }
        }
        const where = "rank " + r + (T.depth[r] === null ? "" : " (depth " + T.depth[r] + ")");
        if (seen === null) {
          b.x.push(T.x[r]); b.y.push(T.y[r]);
          b.h.push(where + ": never applied version " + v);
          continue;
        }
        const d = Math.max(0, seen - born);
        last = Math.max(last, d);
        a.x.push(T.x[r]); a.y.push(T.y[r]); a.c.push(d); a.t.push(String(r));
        a.h.push(where + ": applied version " + v + " " + d.toFixed(4) + " ms after creation" +
          (ring.has(r) ? "<br>a commit in this version came from here" : ""));
        a.w.push(ring.has(r) ? 3 : 0.5);
        a.lc.push(ring.has(r) ? "#d62728" : "#333333");
      }
      Plotly.restyle(gd, {
        x: [a.x], y: [a.y], hovertext: [a.h], text: [T.labels ? a.t : []],
        "marker.color": [a.c], "marker.cmax": Math.max(last, 1e-6),
        "marker.line.width": [a.w], "marker.line.color": [a.lc],
      }, [1]);
      Plotly.restyle(gd, { x: [b.x], y: [b.y], hovertext: [b.h] }, [2]);
      label.textContent = "version " + v + " (created at " + born.toFixed(4) + " ms): " +
        (b.x.length ? b.x.length + " of " + n + " ranks never applied it"
          : "every rank had it " + last.toFixed(4) + " ms after rank 0 created it");
      slider.dataset.version = String(v);
    }
    slider.max = String(T.versions.length - 1);
    const focus = T.versions.indexOf(T.focus);
    slider.value = String(focus >= 0 ? focus : T.versions.length - 1);
    slider.addEventListener("input", function () { show(Number(slider.value)); });
    show(Number(slider.value));
  }

  // ---- evidence: a violation or a nemesis zooms the space-time diagram
  function zoom(gd, lo, hi, lanes) {
    const pad = Math.max(0.15 * (hi - lo), 0.01);
    const top = Math.min(0, Math.min.apply(null, lanes)); // rank 0 orders every commit
    const bottom = Math.max.apply(null, lanes);
    return Plotly.relayout(gd, {
      "xaxis.range": [lo - pad, hi + pad],
      "yaxis.range": [bottom + 1.5, top - 1.5],
    });
  }

  function showViolation(el) {
    const S = R.spacetime;
    const gd = plots.spacetime;
    const v = R.violations[el.dataset.vid];
    if (!gd || !v) return;
    const xs = [], ys = [], rx = [], ry = [], times = [], lanes = [];
    v.ops.forEach(function (id) {
      const o = S.ops[String(id)];
      if (!o) return;
      const t1 = o[2] === null ? S.end : o[2];
      xs.push(o[1], t1, null); ys.push(o[0], o[0], null);
      times.push(o[1], t1); lanes.push(o[0]);
    });
    v.roots.forEach(function (r) {
      rx.push(1e3 * r.time); ry.push(S.lane[r.rank] - S.offset);
      times.push(1e3 * r.time); lanes.push(S.lane[r.rank]);
    });
    Plotly.restyle(gd, { x: [xs], y: [ys] }, [S.evidence_trace]);
    Plotly.restyle(gd, { x: [rx], y: [ry] }, [S.evidence_roots_trace]);
    if (times.length) zoom(gd, Math.min.apply(null, times), Math.max.apply(null, times), lanes);
    document.querySelectorAll(".violation.selected").forEach(function (e) {
      e.classList.remove("selected");
    });
    el.classList.add("selected");
    const note = document.getElementById("evidence-note");
    note.textContent = "";
    const head = document.createElement("b");
    head.textContent = v.guarantee + ": ";
    note.appendChild(head);
    note.appendChild(document.createTextNode(v.summary));
    const list = document.createElement("ul");
    v.ops.forEach(function (id) {
      const o = S.ops[String(id)];
      const li = document.createElement("li");
      li.textContent = o ? o[3] : "#" + id + " (not in the history)";
      list.appendChild(li);
    });
    note.appendChild(list);
    document.body.dataset.highlighted = el.dataset.vid;
    document.getElementById("spacetime-section").scrollIntoView({ block: "start" });
  }

  function setupEvidence() {
    document.querySelectorAll(".violation").forEach(function (el) {
      el.addEventListener("click", function () { showViolation(el); });
    });
    document.querySelectorAll(".nemesis").forEach(function (el) {
      el.addEventListener("click", function () {
        const gd = plots.spacetime;
        if (!gd) return;
        zoom(gd, Number(el.dataset.start), Number(el.dataset.end), JSON.parse(el.dataset.lanes));
        document.getElementById("spacetime-section").scrollIntoView({ block: "start" });
      });
    });
  }

  draw().then(function () {
    setupTree();
    if (lod && plots.spacetime) lod.attach(plots.spacetime);
    setupEvidence();
    document.body.dataset.ready = "1";
  }).catch(function (e) {
    document.body.dataset.ready = "error";
    console.error("kvs-sim report: " + e);
  });
})();
