// The gallery: one row per spec under the served folder, sortable by every column, filterable; the
// diagrams are thumbnails the browser loads lazily (the table is usable before they arrive).
import {
  api, badge, dropToken, el, exact, gridOrder, listen, nav, pathUrl, say, short, withQuery,
} from "/static/common.js";

const COLUMNS = [
  // key, title, sort value, numeric (sorts largest first on the first click)
  ["pick", "Compare", null, false],
  ["grids", "Diagram (grids)", (s) => [s.grids.length, ...[...s.grids].sort(gridOrder).map(area)], true],
  ["name", "Name", (s) => s.name.toLowerCase(), false],
  ["path", "Path", (s) => s.path.toLowerCase(), false],
  ["params", "Params", (s) => s.params ?? -1, true],
  ["macs", "MACs", (s) => s.macs ?? -1, true],
  ["outputs", "Output", (s) => outputSize(s.outputs), true],
  ["status", "Status", (s) => ["error", "warning", "units", "ok"].indexOf(s.status), false],
];

function area(g) {
  const m = /^(\d+)x(\d+)$/.exec(g);
  return m ? Number(m[1]) * Number(m[2]) : 0;
}

/** "100" -> 100, "2 x 64 x 64, 10" -> 8202 (the output elements, for sorting). */
function outputSize(text) {
  if (!text) return -1;
  return String(text).split(",").reduce((sum, part) =>
    sum + part.split("x").reduce((p, v) => p * (Number(v.trim()) || 0), 1), 0);
}

const state = { specs: [], sort: "path", dir: 1, query: "", picked: new Set() };

function compare(a, b) {
  const col = COLUMNS.find((c) => c[0] === state.sort);
  const ka = col[2](a), kb = col[2](b);
  const cmp = (x, y) => {
    if (Array.isArray(x)) {
      for (let i = 0; i < Math.max(x.length, y.length); i++) {
        const c = cmp(x[i] ?? 0, y[i] ?? 0);
        if (c) return c;
      }
      return 0;
    }
    return x < y ? -1 : x > y ? 1 : 0;
  };
  return cmp(ka, kb) * state.dir || a.path.localeCompare(b.path);
}

function matches(s, words) {
  if (!words.length) return true;
  const hay = [s.name, s.path, s.status, s.outputs, ...(s.grids || []),
    ...(s.diagnostics || []).map((d) => d.message)].join(" ").toLowerCase();
  return words.every((w) => hay.includes(w));
}

function header() {
  const tr = document.querySelector("#specs thead tr");
  tr.replaceChildren(...COLUMNS.map(([key, title, sortKey, numeric]) => {
    if (!sortKey) return el("th", { scope: "col", class: `col-${key}` }, title);
    const sorted = state.sort === key;
    const th = el("th", {
      scope: "col", class: `col-${key}${numeric ? " num" : ""}`,
      "aria-sort": sorted ? (state.dir > 0 ? "ascending" : "descending") : "none",
    }, el("button", {
      type: "button", class: "sort", dataset: { key },
      title: `sort by ${title.toLowerCase()}`,
      onclick: () => {
        if (state.sort === key) state.dir = -state.dir;
        else { state.sort = key; state.dir = numeric ? -1 : 1; }
        render();
      },
    }, title, el("span", { class: "arrow", "aria-hidden": "true" }, sorted ? (state.dir > 0 ? "▲" : "▼") : "↕")));
    return th;
  }));
}

function row(s) {
  const href = `/spec/${pathUrl(s.path)}`;
  const diags = s.diagnostics || [];
  const first = diags.find((d) => d.severity === "error") || diags[0];
  const statusTitle = first ? `${first.severity} at line ${first.line ?? "?"}: ${first.message}` : "checks clean";
  return el("tr", { dataset: { path: s.path }, class: `status-row-${s.status}` },
    el("td", { class: "col-pick" }, el("input", {
      type: "checkbox", "aria-label": `compare ${s.name}`, checked: state.picked.has(s.path),
      onchange: (ev) => { if (ev.target.checked) state.picked.add(s.path); else state.picked.delete(s.path); pickState(); },
    })),
    el("td", { class: "col-grids" },
      el("a", { href, tabindex: "-1", "aria-hidden": "true" },
        s.thumb ? el("img", { src: s.thumb, loading: "lazy", decoding: "async", alt: "", width: 160, height: 56 }) : null),
      el("div", { class: "grids-text" }, (s.grids || []).join(" · "))),
    el("td", { class: "col-name" }, el("a", { href }, s.name || s.path)),
    el("td", { class: "col-path" }, el("code", {}, s.path)),
    el("td", { class: "num", title: s.params == null ? null : `${exact(s.params)} parameters` }, short(s.params)),
    el("td", { class: "num", title: s.macs == null ? null : `${exact(s.macs)} multiply-accumulates` }, short(s.macs)),
    el("td", { class: "col-out" }, s.outputs ?? "–"),
    el("td", { class: "col-status", title: statusTitle }, badge(s.status),
      diags.length ? el("span", { class: "muted" }, ` ${diags.length}`) : null),
  );
}

function pickState() {
  const btn = document.getElementById("compare");
  const n = state.picked.size;
  btn.disabled = n !== 2;
  btn.textContent = n === 2 ? "Compare the two selected" : `Compare selected (${n}/2)`;
}

function render() {
  header();
  const words = state.query.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = state.specs.filter((s) => matches(s, words)).sort(compare);
  document.querySelector("#specs tbody").replaceChildren(...shown.map(row));
  const total = state.specs.length;
  document.getElementById("count").textContent =
    shown.length === total ? `${total} spec${total === 1 ? "" : "s"}` : `${shown.length} of ${total} specs`;
  pickState();
  const u = new URL(location.href);
  for (const [k, v] of [["q", state.query], ["sort", state.sort === "path" && state.dir > 0 ? "" : state.sort],
    ["dir", state.dir > 0 ? "" : "desc"]]) {
    if (v) u.searchParams.set(k, v); else u.searchParams.delete(k);
  }
  history.replaceState(null, "", u.pathname + u.search);
  document.body.dataset.rows = String(shown.length);
}

async function load() {
  try {
    state.specs = await api("/api/specs");
    for (const p of [...state.picked]) if (!state.specs.some((s) => s.path === p)) state.picked.delete(p);
    render();
    say("");
    if (!document.body.dataset.ready) performance.mark("mgdsl:gallery-ready");   // tools/serve_latency.py reads it
    document.body.dataset.ready = "1";
  } catch (e) {
    say(e.message, "error");
  }
}

function start() {
  dropToken();
  document.getElementById("top").append(nav("gallery"));
  const q = new URLSearchParams(location.search);
  state.query = q.get("q") || "";
  const sort = q.get("sort");
  if (sort && COLUMNS.some((c) => c[0] === sort && c[2])) state.sort = sort;
  if (q.get("dir") === "desc") state.dir = -1;
  const filter = document.getElementById("filter");
  filter.value = state.query;
  filter.addEventListener("input", () => { state.query = filter.value; render(); });
  document.getElementById("compare").addEventListener("click", () => {
    const [a, b] = [...state.picked];
    location.href = withQuery("/compare", new URLSearchParams({ a, b }).toString());
  });
  load();
  let timer = null;
  listen(() => {                        // a spec was written: refresh the rows (its thumbnail URL changes too)
    clearTimeout(timer);
    timer = setTimeout(load, 150);
  });
}

start();
