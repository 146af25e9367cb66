// Two specs, or one spec with two settings, side by side: their summaries and diagrams, and the
// differences (B − A) of params and MACs in total, per section and per grid.
import {
  api, badge, dropToken, el, exact, gridOrder, listen, nav, pathUrl, say, sectionOrder, setsFrom, setsQuery,
  shapeText, short, signed, withQuery,
} from "/static/common.js";

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const state = {
  a: q.get("a") || "", b: q.get("b") || q.get("a") || "",
  aSets: setsFrom(q, "a."), bSets: setsFrom(q, "b."),
  data: null, asked: 0, shown: 0,
};

const setsText = (sets) => Object.entries(sets).map(([k, v]) => `${k}=${v}`).join(" ");

function parseSets(text) {
  const out = {};
  for (const part of text.trim().split(/\s+/).filter(Boolean)) {
    const i = part.indexOf("=");
    if (i <= 0) throw new Error(`'${part}' is not NAME=VALUE (for example n=3)`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

function query() {
  return [new URLSearchParams({ a: state.a, b: state.b }).toString(), setsQuery(state.aSets, "a."),
    setsQuery(state.bSets, "b.")].filter(Boolean).join("&");
}

async function fillPickers() {
  let specs = [];
  try {
    specs = await api("/api/specs");
  } catch (e) {
    say(e.message, "error");
  }
  for (const side of ["a", "b"]) {
    const select = $(side);
    const paths = specs.map((s) => [s.path, s.name]);
    if (state[side] && !paths.some(([p]) => p === state[side])) paths.unshift([state[side], state[side]]);
    select.replaceChildren(el("option", { value: "" }, "— choose a spec —"),
      ...paths.map(([p, name]) => el("option", { value: p, selected: p === state[side] }, `${name} (${p})`)));
    $(`${side}-sets`).value = setsText(state[`${side}Sets`]);
  }
}

async function load() {
  if (!state.a || !state.b) {
    say("choose two specs (or one spec twice, with different settings)", "info");
    return;
  }
  const ticket = ++state.asked;
  let data;
  try {
    data = await api(withQuery("/api/compare", query()));
  } catch (e) {
    say(e.message, "error");
    return;
  }
  if (ticket < state.shown) return;
  state.shown = ticket;
  state.data = data;
  render(data);
}

function label(side, d) {
  const sets = state[`${side}Sets`];
  return `${side.toUpperCase()}: ${d.name || state[side]}${Object.keys(sets).length ? ` (${setsText(sets)})` : ""}`;
}

function card(side, d) {
  const sets = state[`${side}Sets`];
  const s = d.summary || {};
  const errors = (d.diagnostics || []).filter((x) => x.severity === "error");
  const spec = withQuery(`/spec/${pathUrl(state[side])}`, setsQuery(sets));
  return el("section", { class: "card", "aria-label": label(side, d), dataset: { side } },
    el("h2", {}, el("span", { class: "side" }, side.toUpperCase()), " ", el("a", { href: spec }, d.name || state[side]), " ",
      badge(d.ok === false || errors.length ? "error" : (d.diagnostics || []).length ? "warning" : "ok")),
    el("p", { class: "muted" }, el("code", {}, state[side]), Object.keys(sets).length ? ` with ${setsText(sets)}` : " (defaults)"),
    d.ok === false
      ? el("ul", { class: "diagnostics" }, ...errors.map((x) => el("li", { class: "diag diag-error" },
        `line ${x.line ?? "?"}: ${x.message}`)))
      : el("dl", { class: "summary" },
        el("dt", {}, "params"), el("dd", { title: exact(s.params) }, short(s.params)),
        el("dt", {}, "MACs"), el("dd", { title: exact(s.macs) }, short(s.macs)),
        el("dt", {}, "input"), el("dd", {}, s.input ? shapeText(s.input) : "–"),
        el("dt", {}, "output"), el("dd", {}, (s.outputs || []).map(shapeText).join(", ") || "–")),
    d.ok === false ? null : el("div", { class: "diagram" }, el("img", {
      src: withQuery(`/download/${pathUrl(state[side])}.svg`, setsQuery(sets)), alt: `diagram of ${label(side, d)}`,
      loading: "lazy" })));
}

function diffCell(d, base) {
  const pct = base ? ` (${d > 0 ? "+" : d < 0 ? "−" : ""}${Math.abs(100 * d / base).toFixed(1)}%)` : "";
  return el("td", { class: `num delta ${d > 0 ? "up" : d < 0 ? "down" : "same"}`, title: `${d > 0 ? "+" : ""}${exact(d)}`,
    "data-value": d },
    signed(d), el("span", { class: "muted small" }, d ? pct : ""));
}

function diffTable(table, first, keys, a, b, diff, what) {
  const value = (obj, k, m) => (obj && obj[k] ? obj[k][m] : 0);
  const pair = (x, y) => el("td", { class: "num", title: `A ${exact(x)}, B ${exact(y)}` }, short(x), el("span", { class: "muted" }, " → "), short(y));
  const row = (k, av, bv, dv, head = false) => el("tr", { class: head ? "total" : null, dataset: { key: k } },
    el("th", { scope: "row" }, k),
    pair(av.params, bv.params), diffCell(dv.params, av.params),
    pair(av.macs, bv.macs), diffCell(dv.macs, av.macs));
  const rows = keys.map((k) => {
    const av = { params: value(a, k, "params"), macs: value(a, k, "macs") };
    const bv = { params: value(b, k, "params"), macs: value(b, k, "macs") };
    const dv = diff && diff[k] ? diff[k] : { params: bv.params - av.params, macs: bv.macs - av.macs };
    return row(k, av, bv, dv);
  });
  table.replaceChildren(
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, what),
      ...["params A → B", "Δ params", "MACs A → B", "Δ MACs"].map((t) => el("th", { scope: "col", class: "num" }, t)))),
    el("tbody", {}, ...(first ? [row(...first, true)] : []), ...rows));
}

function render(data) {
  const { a, b, diff } = data;
  $("columns").replaceChildren(card("a", a), card("b", b));
  const both = a.ok !== false && b.ok !== false;
  $("diff").hidden = !both;
  if (!both) {
    say("a side does not compile: its errors are listed in its column", "error");
    document.body.dataset.state = "error";
    return;
  }
  const secs = (x) => Object.keys(x.by_section || {});
  const all = [...new Set([...secs(a), ...secs(b)])];
  const inner = sectionOrder(all.filter((k) => k !== "input" && k !== "head"));
  const sections = [...(all.includes("input") ? ["input"] : []), ...inner, ...(all.includes("head") ? ["head"] : [])];
  const grids = [...new Set([...Object.keys(a.by_grid || {}), ...Object.keys(b.by_grid || {})])].sort(gridOrder);
  const sa = a.summary || {}, sb = b.summary || {};
  const total = ["total", { params: sa.params, macs: sa.macs }, { params: sb.params, macs: sb.macs },
    diff.total || { params: sb.params - sa.params, macs: sb.macs - sa.macs }];
  diffTable($("diff-section"), total, sections, a.by_section, b.by_section, diff.by_section, "section");
  diffTable($("diff-grid"), null, grids, a.by_grid, b.by_grid, diff.by_grid, "grid");
  document.title = `${a.name} vs ${b.name} · mgdsl`;
  say("");
  document.body.dataset.state = "ok";
}

function start() {
  dropToken();
  $("top").append(nav("compare"));
  fillPickers();
  $("pick").addEventListener("submit", (ev) => {
    ev.preventDefault();
    try {
      state.aSets = parseSets($("a-sets").value);
      state.bSets = parseSets($("b-sets").value);
    } catch (e) {
      say(e.message, "error");
      return;
    }
    state.a = $("a").value;
    state.b = $("b").value;
    history.replaceState(null, "", withQuery("/compare", query()));
    load();
  });
  $("swap").addEventListener("click", () => {
    [state.a, state.b, state.aSets, state.bSets] = [state.b, state.a, state.bSets, state.aSets];
    fillPickers().then(() => $("pick").requestSubmit());
  });
  load();
  listen((changed, affected) => {
    const mine = [state.a, state.b].some((p) => p === changed || affected.includes(p)) || !state.data
      || [state.data.a, state.data.b].some((d) => !d.ok || !d.imports || d.imports.includes(changed));
    if (mine) load();
  });
}

start();
