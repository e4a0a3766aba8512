// Level of detail of a kvs-sim report's space-time diagram.
//
// Every message, operation and root record of the run is in the page once, as
// typed columns (R.spacetime.lod, written by _columns.py).  At each view (the
// first draw, and after every zoom, pan or legend click) this script counts
// the events of each layer in view: a layer with at most `detail` of them is
// drawn one by one into its (empty) traces; a larger one is aggregated, the
// messages as a heatmap of how many each lane sent or received per time bin,
// operations and roots not drawn until the reader zooms in.  One Plotly.react
// redraws the figure with the lane labels of the view.  `#detail=N` in the
// page's address sets `detail`.  Exposes window.kvsSpacetime for report.js.
(function () {
  "use strict";
  const TYPES = {
    f8: Float64Array, f4: Float32Array, i4: Int32Array, i2: Int16Array,
    u2: Uint16Array, u1: Uint8Array,
  };

  function decode(c) {
    const s = atob(c.b);
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    return new TYPES[c.t](bytes.buffer);
  }

  function columns(obj) {
    if (!obj) return null;
    const out = {};
    Object.keys(obj).forEach(function (k) {
      const v = obj[k];
      out[k] = v && typeof v === "object" && typeof v.b === "string" ? decode(v) : v;
    });
    return out;
  }

  function fromAddress() {
    const m = /(?:^|[#&?])detail=(\d+)/.exec(window.location.hash + window.location.search);
    return m ? Number(m[1]) : null;
  }

  function Spacetime(S) {
    const L = S.lod;
    this.S = S;
    this.L = L;
    this.detail = fromAddress() || L.detail;
    this.m = columns(L.messages);
    this.o = columns(L.ops);
    this.r = columns(L.roots);
    if (this.m) {
      const n = this.m.n;
      const arrived = new Float64Array(n);
      for (let i = 0; i < n; i++) arrived[i] = this.m.sent[i] + this.m.transit[i];
      this.m.arrived = arrived;
    }
    this.seq = 0;
    this.state = {};
  }

  // The rank a lane shows (-2: the event broker's lane).
  Spacetime.prototype.rank = function (lane) {
    return lane < 0 ? -2 : this.S.rank_at[lane];
  };

  function shown(trace) {
    return trace.visible === undefined || trace.visible === true;
  }

  function view(layout) {
    const x = layout.xaxis.range, y = layout.yaxis.range;
    return {
      x0: Math.min(x[0], x[1]), x1: Math.max(x[0], x[1]),
      y0: Math.min(y[0], y[1]), y1: Math.max(y[0], y[1]),
    };
  }

  // Indices of the messages in view (their segment crosses the window), at
  // most detail + 1 of them, and how many there are.
  Spacetime.prototype.messagesInView = function (v, data) {
    const m = this.m;
    const on = m.traces.map(function (t) { return shown(data[t]); });
    const keep = new Int32Array(this.detail + 1);
    let count = 0;
    for (let i = 0; i < m.n; i++) {
      const s = m.sent[i];
      if (s > v.x1) break; // sorted by send time
      if (m.arrived[i] < v.x0 || !on[m.group[i]]) continue;
      const a = m.src[i], b = m.dst[i];
      if (Math.max(a, b) < v.y0 || Math.min(a, b) > v.y1) continue;
      if (count <= this.detail) keep[count] = i;
      count++;
    }
    return { idx: keep.subarray(0, Math.min(count, this.detail + 1)), count: count };
  };

  Spacetime.prototype.drawMessages = function (idx, data) {
    const m = this.m;
    const per = m.traces.map(function () { return 0; });
    for (let j = 0; j < idx.length; j++) per[m.group[idx[j]]]++;
    const out = per.map(function (n) {
      return {
        x: new Float64Array(3 * n).fill(NaN), y: new Float32Array(3 * n).fill(NaN),
        size: new Uint8Array(3 * n), who: new Int32Array(3 * n), k: 0,
      };
    });
    for (let j = 0; j < idx.length; j++) {
      const i = idx[j];
      const t = out[m.group[i]];
      const k = t.k;
      t.x[k] = m.sent[i]; t.x[k + 1] = m.arrived[i];
      t.y[k] = m.src[i]; t.y[k + 1] = m.dst[i];
      t.size[k + 1] = 5;
      t.who[k] = this.rank(m.src[i]); t.who[k + 1] = this.rank(m.dst[i]);
      t.k = k + 3;
    }
    m.traces.forEach(function (ti, g) {
      const t = out[g];
      data[ti] = Object.assign({}, data[ti], {
        x: t.x, y: t.y, customdata: t.who,
        marker: Object.assign({}, data[ti].marker, { size: t.size }),
      });
    });
  };

  Spacetime.prototype.clearMessages = function (data) {
    this.m.traces.forEach(function (ti) {
      data[ti] = Object.assign({}, data[ti], { x: [], y: [], customdata: [] });
    });
  };

  // The heatmap: messages sent or received per lane (or group of lanes) and time bin.
  Spacetime.prototype.heatmap = function (v, data) {
    const m = this.m, L = this.L;
    const on = m.traces.map(function (t) { return shown(data[t]); });
    const top = this.S.broker ? -1 : 0;
    const lo = Math.max(top, Math.floor(v.y0 + 0.5));
    const hi = Math.min(this.S.rank_at.length - 1, Math.ceil(v.y1 - 0.5));
    const group = Math.max(1, Math.ceil((hi - lo + 1) / L.rows));
    const rows = Math.max(1, Math.ceil((hi - lo + 1) / group));
    const nx = L.bins, dx = (v.x1 - v.x0) / nx;
    const z = new Float64Array(rows * nx);
    function add(t, lane) {
      if (t < v.x0 || t >= v.x1 || lane < lo || lane > hi) return;
      z[Math.floor((lane - lo) / group) * nx + Math.floor((t - v.x0) / dx)] += 1;
    }
    for (let i = 0; i < m.n; i++) {
      if (m.sent[i] > v.x1) break;
      if (m.arrived[i] < v.x0 || !on[m.group[i]]) continue;
      add(m.sent[i], m.src[i]);
      add(m.arrived[i], m.dst[i]);
    }
    const nonzero = z.filter(function (c) { return c > 0; }).sort();
    const zmax = nonzero.length ? nonzero[Math.floor(0.99 * (nonzero.length - 1))] : 1;
    const zz = [];
    for (let r = 0; r < rows; r++) {
      const row = new Array(nx);
      for (let c = 0; c < nx; c++) row[c] = z[r * nx + c] || null;
      zz.push(row);
    }
    data[L.heatmap] = Object.assign({}, data[L.heatmap], {
      visible: true, z: zz, x0: v.x0 + dx / 2, dx: dx,
      y0: lo + (group - 1) / 2, dy: group, zmax: Math.max(zmax, 1), zauto: false,
    });
  };

  Spacetime.prototype.drawOps = function (v, data) {
    const o = this.o, self = this;
    const keep = [];
    let count = 0;
    for (let i = 0; i < o.n; i++) {
      const t1 = isNaN(o.complete[i]) ? o.end : o.complete[i];
      const y = o.lane[i] + o.offset;
      if (o.invoke[i] > v.x1 || t1 < v.x0 || y < v.y0 || y > v.y1) continue;
      if (!shown(data[o.groups[o.group[i]].bars])) continue;
      count++;
      if (count <= this.detail) keep.push(i);
    }
    const drawn = count <= this.detail ? keep : [];
    o.groups.forEach(function (g, gi) {
      const done = [], late = [];
      drawn.forEach(function (i) {
        if (o.group[i] !== gi) return;
        (isNaN(o.complete[i]) ? late : done).push(i);
      });
      const bx = new Float64Array(3 * done.length).fill(NaN);
      const by = new Float32Array(3 * done.length).fill(NaN);
      const tx = new Float64Array(done.length), ty = new Float32Array(done.length);
      const tc = new Array(done.length), th = new Array(done.length);
      done.forEach(function (i, j) {
        const y = o.lane[i] + o.offset;
        bx[3 * j] = o.invoke[i]; bx[3 * j + 1] = o.complete[i];
        by[3 * j] = y; by[3 * j + 1] = y;
        tx[j] = o.complete[i]; ty[j] = y;
        tc[j] = o.failed[i] ? "#000000" : g.color;
        th[j] = o.text[i] + "<br>" + o.invoke[i].toFixed(4) + " to " +
          o.complete[i].toFixed(4) + " ms";
      });
      data[g.bars] = Object.assign({}, data[g.bars], { x: bx, y: by });
      data[g.ticks] = Object.assign({}, data[g.ticks], {
        x: tx, y: ty, hovertext: th, marker: Object.assign({}, data[g.ticks].marker, { color: tc }),
      });
      if (g.never < 0) return;
      const nx = new Float64Array(3 * late.length).fill(NaN);
      const ny = new Float32Array(3 * late.length).fill(NaN);
      const nh = new Array(3 * late.length).fill("");
      late.forEach(function (i, j) {
        const y = o.lane[i] + o.offset;
        nx[3 * j] = o.invoke[i]; nx[3 * j + 1] = o.end;
        ny[3 * j] = y; ny[3 * j + 1] = y;
        nh[3 * j] = nh[3 * j + 1] = o.text[i] + "<br>from " + o.invoke[i].toFixed(4) + " ms";
      });
      data[g.never] = Object.assign({}, data[g.never], { x: nx, y: ny, hovertext: nh });
    });
    self.state.ops = count <= this.detail ? "detail" : "overview";
    return count;
  };

  Spacetime.prototype.drawRoots = function (v, data) {
    const r = this.r, self = this;
    const trace = data[r.trace];
    const keep = [];
    let count = 0;
    if (shown(trace)) {
      for (let i = 0; i < r.n; i++) {
        const y = r.lane[i] - r.offset;
        if (r.time[i] < v.x0 || r.time[i] > v.x1 || y < v.y0 || y > v.y1) continue;
        count++;
        if (count <= this.detail) keep.push(i);
      }
    }
    const drawn = count <= this.detail ? keep : [];
    const x = new Float64Array(drawn.length), y = new Float32Array(drawn.length);
    const c = new Int32Array(drawn.length), who = new Int32Array(drawn.length);
    drawn.forEach(function (i, j) {
      x[j] = r.time[i]; y[j] = r.lane[i] - r.offset; c[j] = r.version[i];
      who[j] = self.rank(r.lane[i]);
    });
    data[r.trace] = Object.assign({}, trace, {
      x: x, y: y, customdata: who, marker: Object.assign({}, trace.marker, { color: c }),
    });
    this.state.roots = count <= this.detail ? "detail" : "overview";
    return count;
  };

  // Lane labels: at most max_ticks, for the lanes in view.
  Spacetime.prototype.ticks = function (v) {
    const S = this.S;
    const lo = Math.max(Math.ceil(v.y0), S.broker ? -1 : 0);
    const hi = Math.min(Math.floor(v.y1), S.rank_at.length - 1);
    const step = Math.max(1, Math.ceil((hi - lo + 1) / S.max_ticks));
    const vals = [], text = [];
    for (let l = lo; l <= hi; l++) {
      if (l === -1) { vals.push(l); text.push("broker"); continue; }
      if (l % step !== 0) continue;
      const rank = S.rank_at[l];
      const d = S.depth[rank];
      vals.push(l);
      text.push(d === undefined ? String(rank) : rank + " (d" + d + ")");
    }
    return { tickvals: vals, ticktext: text };
  };

  function fmt(n) { return n.toLocaleString("en-US"); }

  // The traces this script fills.
  Spacetime.prototype.layerTraces = function () {
    const out = [];
    if (this.m) out.push.apply(out, this.m.traces);
    if (this.o) {
      this.o.groups.forEach(function (g) {
        out.push(g.bars, g.ticks);
        if (g.never >= 0) out.push(g.never);
      });
    }
    if (this.r) out.push(this.r.trace);
    return out;
  };

  // Fill `data` (trace copies) for the view of `layout`; returns the new layout.
  Spacetime.prototype.fill = function (data, layout) {
    const v = view(layout);
    const notes = [];
    const L = this.L, self = this;
    if (this.m) {
      const got = this.messagesInView(v, data);
      this.state.messagesInView = got.count;
      if (got.count <= this.detail) {
        this.drawMessages(got.idx, data);
        data[L.heatmap] = Object.assign({}, data[L.heatmap], { visible: false });
        this.state.messages = "detail";
      } else {
        this.clearMessages(data);
        this.heatmap(v, data);
        this.state.messages = "overview";
        notes.push(fmt(got.count) + " messages as a heatmap");
      }
    }
    if (this.o) {
      const n = this.drawOps(v, data);
      if (this.state.ops === "overview") notes.push(fmt(n) + " operations hidden");
    }
    if (this.r) {
      const n = this.drawRoots(v, data);
      if (this.state.roots === "overview") notes.push(fmt(n) + " root records hidden");
    }
    const text = notes.length
      ? "Overview (in view: " + notes.join(", ") + "). Zoom in to at most " +
        fmt(this.detail) + " of a kind to draw each."
      : "";
    this.layerTraces().forEach(function (t) {
      // An empty trace has no legend entry: one NaN point keeps it (and its toggle).
      if (!data[t].x || !data[t].x.length) {
        data[t] = Object.assign({}, data[t], { x: [NaN], y: [NaN] });
      }
    });
    const yaxis = Object.assign({}, layout.yaxis, this.ticks(v));
    const annotations = text ? [{
      text: text, xref: "paper", yref: "paper", x: 0, y: 1.0, xanchor: "left",
      yanchor: "bottom", yshift: 36, showarrow: false, font: { size: 12, color: "#444" },
    }] : [];
    self.seq += 1;
    return Object.assign({}, layout, { yaxis: yaxis, annotations: annotations });
  };

  // Before the first draw: fill the figure's spec for its initial view.
  Spacetime.prototype.prepare = function (spec) {
    spec.layout = this.fill(spec.data, spec.layout);
  };

  Spacetime.prototype.update = function () {
    const gd = this.gd;
    const t0 = performance.now();
    const data = gd.data.slice();
    const layout = this.fill(data, {
      xaxis: Object.assign({}, gd.layout.xaxis, { range: gd._fullLayout.xaxis.range.slice() }),
      yaxis: Object.assign({}, gd.layout.yaxis, { range: gd._fullLayout.yaxis.range.slice() }),
    });
    const self = this;
    const t1 = performance.now();
    return Plotly.react(gd, data, Object.assign({}, gd.layout, layout)).then(function () {
      // Milliseconds the last redraw took: choosing what to draw, and drawing it.
      window.kvsTimings.lod_fill = t1 - t0;
      window.kvsTimings.lod_draw = performance.now() - t1;
      self.publish();
    });
  };

  // What is drawn, for tests and the curious: body[data-lod] and the counters.
  Spacetime.prototype.publish = function () {
    const b = document.body.dataset;
    b.lodMessages = this.state.messages || "";
    b.lodOps = this.state.ops || "";
    b.lodRoots = this.state.roots || "";
    b.lodSeq = String(this.seq);
  };

  // After the first draw: redraw on every change of view or of the legend.
  Spacetime.prototype.attach = function (gd) {
    const self = this;
    this.gd = gd;
    let timer = null;
    function later() {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(function () {
        timer = null;
        self.update();
      }, 40);
    }
    gd.on("plotly_relayout", function (ev) {
      const moved = Object.keys(ev).some(function (k) {
        return /^[xy]axis\.(range|autorange)/.test(k);
      });
      if (moved) later();
    });
    gd.on("plotly_restyle", later);
    this.publish();
  };

  window.kvsColumns = columns;
  window.kvsSpacetime = function (S) { return S && S.lod ? new Spacetime(S) : null; };
})();
