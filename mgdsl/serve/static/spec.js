// One spec: highlighted source with its diagnostics, the paper-style diagram (boxes linked to source
// lines both ways, a tooltip per box), receptive fields, cost charts, the per-layer table, a
// parameters form (the `--set` of the command line, kept in the address) and live updates.
import {
  api, badge, barChart, dropToken, el, exact, gridOrder, listen, nav, pathAfter, pathUrl, rfLong, rfSize, say,
  sectionOrder, setsFrom, setsQuery, shapeText, short, withQuery,
} from "/static/common.js";

const path = pathAfter("/spec/");
const state = {
  sets: setsFrom(new URLSearchParams(location.search)),
  data: null,          // the latest answer of /api/spec
  good: null,          // the latest answer that compiled (its diagram and tables stay shown)
  tab: path,           // the file whose source is shown
  sources: new Map(),  // other files' highlighted source: path -> html
  version: 0,          // renders done (tests and tools wait on it)
  asked: 0,            // requests sent; an older answer than the newest shown is dropped
  shown: 0,
};

// -- helpers ------------------------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);
const fileOf = (item) => item.file ?? path;          // a layer or box written in another file names it

/** Does a diagnostic's path name this file? (records may carry the path as given or absolute) */
function samePath(recordPath, file) {
  if (!recordPath) return file === path;
  const p = String(recordPath).replaceAll("\\", "/");
  return p === file || p.endsWith("/" + file);
}

function specUrl() {
  return withQuery(`/api/spec/${pathUrl(path)}`, setsQuery(state.sets));
}

function pageUrl() {
  return withQuery(`/spec/${pathUrl(path)}`, setsQuery(state.sets)) + location.hash;
}

// -- loading ------------------------------------------------------------------------------------------
async function refresh(why = "") {
  const ticket = ++state.asked;
  let data;
  try {
    data = await api(specUrl());
  } catch (e) {
    say(e.message, "error");
    return;
  }
  if (ticket < state.shown) return;    // a newer answer is already on the page
  state.shown = ticket;
  show(data, why);
}

async function show(data, why) {
  state.data = data;
  const units = data.ok && !data.summary;           // a file of unit definitions: no network to show
  if (data.ok && data.summary) state.good = data;
  else if (units) state.good = null;
  for (const f of [...state.sources.keys()]) state.sources.delete(f);   // other files may have changed too
  document.title = `${data.name || path} · mgdsl`;
  $("name").textContent = data.name || path;
  const errors = (data.diagnostics || []).filter((d) => d.severity === "error");
  const warnings = (data.diagnostics || []).filter((d) => d.severity === "warning");
  $("badge").replaceChildren(badge(!data.ok || errors.length ? "error" : units ? "units"
    : warnings.length ? "warning" : "ok"));
  $("path").textContent = path;
  renderParams(data);
  renderDownloads(data);
  const good = state.good;
  for (const id of ["rf", "charts-section", "layers-section", "downloads"]) $(id).hidden = !good;
  $("diagram-pane").hidden = units;
  $("howto").hidden = units;
  if (good) {
    $("summary").replaceChildren(...summary(good));
    renderDiagram(good);
    renderRf(good);
    renderCharts(good);
    renderLayers(good);
  } else {
    const names = (data.units || []).join(", ");
    $("summary").replaceChildren(units ? `· defines the unit${(data.units || []).length === 1 ? "" : "s"} ${names}; `
      + "a spec that imports this file uses them" : "");
    drawnSvg = null;
    $("diagram").replaceChildren(el("p", { class: "muted" }, units ? ""
      : "No diagram: the spec does not compile (see the errors beside). It appears with the first save that does."));
  }
  const stale = $("stale");
  if (!data.ok) {
    const first = errors[0];
    const where = first && first.line ? ` (line ${first.line}${samePath(first.path, path) ? "" : ` of ${first.path}`})` : "";
    stale.hidden = !good;
    stale.textContent = good ? `The spec does not compile now${where}: the diagram, charts and tables show the last `
      + "version that did." : "";
    $("diagram").classList.toggle("is-stale", !!good);
    say(`error${where}: ${first ? first.message : "the spec does not compile"}`, "error");
  } else {
    stale.hidden = true;
    $("diagram").classList.remove("is-stale");
    say(why, "info");
  }
  await renderSource();
  document.body.dataset.state = data.ok ? "ok" : "error";
  document.body.dataset.version = String(++state.version);
  document.dispatchEvent(new CustomEvent("mgdsl:rendered", { detail: { ok: data.ok, at: performance.now() } }));
}

/** "· input 3×32×32 → 100 · 44.88M params · 1.03G MACs", the exact counts in the numbers' titles. */
function summary(d) {
  const s = d.summary || {};
  const outs = (s.outputs || []).map(shapeText).join(", ") || "?";
  const count = (id, n) => el("span", { id, title: exact(n), "data-value": n }, short(n));
  return [`· input ${s.input ? shapeText(s.input) : "?"} → ${outs} · `, count("sum-params", s.params), " params · ",
    count("sum-macs", s.macs), " MACs"];
}

// -- parameters ---------------------------------------------------------------------------------------
let paramsKey = null;       // the parameters' names and defaults the form was built for

function renderParams(data) {
  const box = $("param-fields");
  const params = data.parameters || [];
  $("params").hidden = !params.length;
  const key = JSON.stringify(params.map((p) => [p.name, p.default]));
  if (key !== paramsKey) {           // rebuilt only when the spec's parameters change: typing is never lost
    paramsKey = key;
    box.replaceChildren(...params.map((p) => {
      const id = `param-${p.name}`;
      const input = el("input", {
        id, name: p.name, value: p.name in state.sets ? state.sets[p.name] : p.value, "data-default": p.default,
        spellcheck: "false", size: Math.max(5, String(p.value).length + 2), "aria-describedby": `${id}-note`,
      });
      input.addEventListener("change", () => apply());
      return el("div", { class: "param" }, el("label", { for: id }, p.name), input,
        el("span", { id: `${id}-note`, class: "muted small" }));
    }));
  }
  for (const p of params) {
    const input = box.querySelector(`#${CSS.escape(`param-${p.name}`)}`);
    const set = Object.prototype.hasOwnProperty.call(state.sets, p.name);
    if (document.activeElement !== input) input.value = set ? state.sets[p.name] : p.value;
    input.classList.toggle("changed", set);
    const bad = (data.diagnostics || []).find((d) => [d, ...(d.notes || [])].some((x) =>
      x.option && x.option.startsWith(`--set ${p.name}=`)));
    input.setAttribute("aria-invalid", bad ? "true" : "false");
    input.title = bad ? `${bad.message}${bad.hint ? ` (hint: ${bad.hint})` : ""}` : "";
    box.querySelector(`#${CSS.escape(`param-${p.name}-note`)}`).textContent =
      set ? `default ${p.default}` : (p.value !== p.default ? `= ${p.default}` : "");
  }
  $("compare-link").href = withQuery("/compare", new URLSearchParams({ a: path, b: path }).toString()
    + (Object.keys(state.sets).length ? "&" + setsQuery(state.sets, "b.") : ""));
}

function apply() {
  const sets = {};
  for (const input of $("param-fields").querySelectorAll("input")) {
    const v = input.value.trim();
    if (v !== "" && v !== input.dataset.default) sets[input.name] = v;
  }
  state.sets = sets;
  history.replaceState(null, "", pageUrl());
  refresh(Object.keys(sets).length ? `recomputed with ${Object.entries(sets).map(([k, v]) => `${k}=${v}`).join(", ")}`
    : "recomputed with the defaults");
}

// -- source -------------------------------------------------------------------------------------------
/** The files the layers are written in, the spec first. */
function files() {
  const out = [path];
  for (const item of [...((state.good || state.data || {}).layers || [])]) {
    const f = fileOf(item);
    if (f && !out.includes(f)) out.push(f);
  }
  return out;
}

async function sourceHtml(file) {
  if (file === path) return state.data.html;
  if (!state.sources.has(file)) {
    try {
      state.sources.set(file, (await api(`/api/spec/${pathUrl(file)}`)).html);
    } catch (e) {
      return `<span class="line" id="L1">${e.message.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c])}</span>`;
    }
  }
  return state.sources.get(file);
}

function renderTabs() {
  const all = files();
  const tabs = $("source-tabs");
  tabs.hidden = all.length < 2;
  tabs.replaceChildren(...all.map((f) => el("button", {
    type: "button", role: "tab", "aria-selected": f === state.tab ? "true" : "false",
    onclick: () => { state.tab = f; renderSource(); },
  }, f)));
}

async function renderSource(markLine = null) {
  if (!files().includes(state.tab)) state.tab = path;
  renderTabs();
  const file = state.tab;
  const html = await sourceHtml(file);
  if (file !== state.tab) return;      // the tab changed while its source loaded
  const pre = $("source");
  pre.innerHTML = html || "";
  for (const line of pre.querySelectorAll(".line")) {
    const m = /^L(\d+)$/.exec(line.id);
    if (m) line.dataset.n = m[1];
  }
  const diags = (state.data.diagnostics || []);
  const list = $("diagnostics");
  list.replaceChildren(...diags.map((d) => {
    const here = samePath(d.path, file);
    const where = d.line ? `line ${d.line}${samePath(d.path, path) ? "" : ` of ${d.path}`}` : (d.path && !samePath(d.path, path) ? d.path : "");
    return el("li", { class: `diag diag-${d.severity}` },
      el("span", { class: `badge badge-${d.severity === "error" ? "error" : "warning"}` }, d.severity),
      " ",
      d.line && here ? el("a", { href: `#L${d.line}`, onclick: (ev) => { ev.preventDefault(); markSource(file, d.line, true); } }, where)
        : el("span", {}, where),
      where ? ": " : "", d.message, d.code ? el("span", { class: "muted" }, ` [${d.code}]`) : null,
      d.hint ? el("div", { class: "muted small" }, `hint: ${d.hint}`) : null,
      ...(d.notes || []).map((n) => el("div", { class: "muted small" },
        `note${n.line ? ` (line ${n.line}${samePath(n.path, path) ? "" : ` of ${n.path}`})` : ""}: ${n.message}${n.option ? ` [${n.option}]` : ""}`)));
  }));
  for (const d of diags) {
    if (!d.line || !samePath(d.path, file)) continue;
    const line = pre.querySelector(`#L${d.line}`);
    if (!line) continue;
    line.classList.add(`has-${d.severity}`);
    line.title = `${d.severity}: ${d.message}${d.hint ? `\nhint: ${d.hint}` : ""}`;
    const col = Math.max(1, d.column || 1);
    const msg = el("span", { class: `diag-msg diag-${d.severity}`, role: "note" },
      `${" ".repeat(col - 1)}^ ${d.message}${d.hint ? ` (hint: ${d.hint})` : ""}`);
    let after = line;
    if (after.nextSibling && after.nextSibling.nodeType === Node.TEXT_NODE && after.nextSibling.data.startsWith("\n")) {
      after = after.nextSibling;
    }
    after.after(msg);
  }
  if (markLine) markSource(file, markLine, true);
  else if (state.marked && state.marked.file === file) markSource(file, state.marked.line, false);
}

// -- marking: a box <-> its source line <-> its table row ----------------------------------------------
function clearMarks() {
  for (const n of document.querySelectorAll(".marked")) n.classList.remove("marked");
}

/** Mark a source line and everything drawn from it. */
async function markSource(file, line, scroll) {
  state.marked = { file, line };
  if (state.tab !== file) {
    state.tab = file;
    await renderSource(line);
    return;
  }
  clearMarks();
  const target = $("source").querySelector(`#L${line}`);
  if (target) {
    target.classList.add("marked");
    if (scroll) scrollWithin($("source"), target);
  }
  const boxes = boxesOf(file, line);
  for (const g of boxes) g.classList.add("marked");
  for (const tr of $("layers").querySelectorAll("tr[data-line]")) {
    if (Number(tr.dataset.line) === line && tr.dataset.file === file) tr.classList.add("marked");
  }
  return boxes;
}

function scrollWithin(container, target) {
  const c = container.getBoundingClientRect(), t = target.getBoundingClientRect();
  if (t.top < c.top || t.bottom > c.bottom) container.scrollTop += t.top - c.top - container.clientHeight / 2;
  const r = target.getBoundingClientRect();
  if (r.top < 0 || r.bottom > innerHeight) target.scrollIntoView({ block: "center", behavior: "instant" });
}

function boxesOf(file, line) {
  const boxes = (state.good && state.good.diagram && state.good.diagram.boxes) || {};
  return [...$("diagram").querySelectorAll("g.box")].filter((g) => {
    const b = boxes[g.dataset.box];
    return b && b.line === line && fileOf(b) === file;
  });
}

// -- diagram ------------------------------------------------------------------------------------------
function parseSvg(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  let svg = doc.documentElement;
  if (!svg || svg.nodeName !== "svg" || doc.querySelector("parsererror")) return null;
  // what the server draws has no script; keep it that way whatever a spec's names hold
  for (const bad of svg.querySelectorAll("script, foreignObject")) bad.remove();
  for (const n of [svg, ...svg.querySelectorAll("*")]) {
    for (const a of [...n.attributes]) {
      if (/^on/i.test(a.name) || (/href$/i.test(a.name) && /^\s*javascript:/i.test(a.value))) n.removeAttribute(a.name);
    }
  }
  svg = document.importNode(svg, true);
  const w = parseFloat(svg.getAttribute("width")), h = parseFloat(svg.getAttribute("height"));
  if (w && h) {
    // pt -> CSS px; the diagram scales down to the pane's width unless "fit" is off
    svg.style.setProperty("--natural-width", `${(w * 4 / 3).toFixed(0)}px`);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
  }
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `diagram of ${state.good ? state.good.name : path}`);
  return svg;
}

let drawnSvg = null;        // the SVG text on the page (a render that changes nothing keeps the DOM)

function renderDiagram(d) {
  const box = $("diagram");
  if (!d.diagram || !d.diagram.svg) {
    const why = d.diagram && d.diagram.error ? `no diagram: ${d.diagram.error.message}` : "no diagram for this spec";
    box.replaceChildren(el("p", { class: "muted" }, why));
    drawnSvg = null;
    return;
  }
  if (drawnSvg === d.diagram.svg) return;
  const svg = parseSvg(d.diagram.svg);
  if (!svg) {
    box.replaceChildren(el("p", { class: "status-error" }, "the server's diagram could not be read"));
    return;
  }
  drawnSvg = d.diagram.svg;
  const boxes = d.diagram.boxes || {};
  for (const g of svg.querySelectorAll("g.node")) {
    const title = g.querySelector(":scope > title");
    const id = title ? title.textContent.trim() : "";
    const b = boxes[id];
    if (!b) continue;
    title.remove();                    // the page's tooltip replaces the browser's
    g.classList.add("box");
    g.dataset.box = id;
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
    g.setAttribute("aria-label", tipRows(b).map(([k, v]) => `${k}: ${v}`).join("; "));
  }
  box.replaceChildren(svg);
}

function boxField(b, layer) {
  const rf = b.receptive_field || (layer && layer.receptive_field) || null;
  if (!rf) return null;
  if (rf.size) return rf;                       // the box's own grid
  return rf[b.grid] || null;
}

const hwc = (g) => (g.length < 3 || g[0] == null ? `${g[g.length - 1]}` : `${g[2]}×${g[0]}×${g[1]}`);

/** What a box's tooltip says: [term, description] pairs (also its accessible name). */
function tipRows(b) {
  const d = state.good;
  const names = b.layers || [b.layer];
  const layer = (d.layers || []).find((l) => l.path === names[0]);
  const type = b.type || (layer && layer.type) || "";
  const count = b.count || names.length;
  const f = boxField(b, layer);
  const rows = [
    ["layer", `${b.layer}${count > 1 ? ` (${count} × ${type}, drawn as one column)` : type ? ` (${type})` : ""}`],
    ["section", b.section || (layer && layer.section) || "–"],
    ["grid", b.grid],
    ["shape", `${shapeText(b.shape)} (channels × height × width)`],
  ];
  if (layer && layer.grids_in && layer.grids_in.length) rows.push(["input", layer.grids_in.map(hwc).join(", ")]);
  const count2 = (n) => (Math.abs(n) < 1000 ? exact(n) : `${exact(n)} (${short(n)})`);
  rows.push(["params", count2(b.params)], ["MACs", count2(b.macs)],
    ["receptive field", f ? rfLong(f) : names[0] === "input" ? "– (the input image, pooled to this grid)"
      : d.receptive_fields === false ? "not computed for a network this large" : "–"]);
  if (b.line) rows.push(["source", `line ${b.line}${fileOf(b) === path ? "" : ` of ${fileOf(b)}`}`]);
  return rows;
}

function showTip(g, x, y) {
  const d = state.good;
  const b = d && d.diagram && d.diagram.boxes[g.dataset.box];
  if (!b) return;
  const tip = $("tooltip");
  tip.replaceChildren(
    el("div", { class: "tip-title" }, b.layer, el("span", { class: "muted" }, ` on ${b.grid}`)),
    el("dl", {}, ...tipRows(b).map(([k, v]) => [el("dt", {}, k), el("dd", { class: k === "receptive field" ? "tip-rf" : null }, v)])),
    b.line ? el("div", { class: "muted small" }, "click: find its line in the source") : null);
  tip.hidden = false;
  // beside the pointer, never over the box: to its right, or to its left near the window's edge
  const r = tip.getBoundingClientRect();
  const left = x + 18 + r.width <= innerWidth - 8 ? x + 18 : Math.max(8, x - 18 - r.width);
  const top = Math.min(Math.max(8, y - r.height / 2), innerHeight - r.height - 8);
  tip.style.left = `${left}px`;
  tip.style.top = `${top}px`;
}

function hideTip() {
  $("tooltip").hidden = true;
}

function wireDiagram() {
  const box = $("diagram");
  box.addEventListener("mousemove", (ev) => {
    const g = ev.target.closest && ev.target.closest("g.box");
    if (g) showTip(g, ev.clientX, ev.clientY); else hideTip();
  });
  box.addEventListener("mouseleave", hideTip);
  box.addEventListener("focusin", (ev) => {
    const g = ev.target.closest("g.box");
    if (!g) return;
    const r = g.getBoundingClientRect();
    showTip(g, r.right, r.top);
  });
  box.addEventListener("focusout", hideTip);
  const pick = (g) => {
    const b = state.good.diagram.boxes[g.dataset.box];
    if (!b) return;
    if (b.line) markSource(fileOf(b), b.line, true).then(() => g.classList.add("marked", "picked"));
    else { clearMarks(); g.classList.add("marked"); }
  };
  box.addEventListener("click", (ev) => {
    const g = ev.target.closest("g.box");
    if (g) pick(g);
  });
  box.addEventListener("keydown", (ev) => {
    const g = ev.target.closest("g.box");
    if (g && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); pick(g); }
  });
  $("fit").addEventListener("change", (ev) => box.classList.toggle("fit", ev.target.checked));
  $("source").addEventListener("click", (ev) => {
    if (ev.target.closest("a")) return;
    const line = ev.target.closest(".line");
    if (!line || !line.dataset.n) return;
    markSource(state.tab, Number(line.dataset.n), false).then((boxes) => {
      if (boxes && boxes.length) {
        const r = boxes[0].getBoundingClientRect();
        if (r.bottom < 0 || r.top > innerHeight) boxes[0].scrollIntoView({ block: "center", behavior: "instant" });
      }
    });
  });
}

// -- receptive fields, charts, layers -----------------------------------------------------------------
function renderRf(d) {
  const layers = d.layers || [];
  const sections = sectionOrder([...new Set(layers.map((l) => l.section))]).filter((s) =>
    layers.some((l) => l.section === s && l.receptive_field && Object.keys(l.receptive_field).length));
  const grids = [...new Set(layers.flatMap((l) => Object.keys(l.receptive_field || {})))].sort(gridOrder);
  const table = $("rf-table");
  $("rf-none").hidden = sections.length > 0;
  table.hidden = !sections.length;
  if (!sections.length) return;
  // per section and grid: the field at the last layer of the section that leaves that grid
  const cell = {};
  for (const l of layers) {
    for (const [g, f] of Object.entries(l.receptive_field || {})) cell[`${l.section}|${g}`] = { f, layer: l.path };
  }
  const coarsest = {};
  for (const s of sections) {
    const here = grids.filter((g) => cell[`${s}|${g}`]);
    coarsest[s] = here[here.length - 1];
  }
  table.replaceChildren(
    el("caption", { class: "visually-hidden" }, "receptive field in input pixels per grid (rows) and section (columns)"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "grid"),
      ...sections.map((s) => el("th", { scope: "col", class: "num" }, s)))),
    el("tbody", {}, ...grids.map((g) => el("tr", {},
      el("th", { scope: "row" }, g),
      ...sections.map((s) => {
        const c = cell[`${s}|${g}`];
        if (!c) return el("td", { class: "num muted" }, "");
        return el("td", {
          class: `num${coarsest[s] === g ? " coarsest" : ""}${c.f.covers_input ? " covers" : ""}`,
          title: `${c.layer}, grid ${g}: receptive field ${rfLong(c.f)}${coarsest[s] === g ? " (the section's coarsest grid)" : ""}`,
          dataset: { section: s, grid: g },
        }, rfSize(c.f));
      })))));
}

function renderCharts(d) {
  const order = (obj, sorter) => sorter(Object.keys(obj || {}));
  const sec = order(d.by_section, (ks) => {
    const inner = sectionOrder(ks.filter((k) => k !== "input" && k !== "head"));
    return [...(ks.includes("input") ? ["input"] : []), ...inner, ...(ks.includes("head") ? ["head"] : [])];
  });
  const grd = order(d.by_grid, (ks) => [...ks].sort(gridOrder));
  const rows = (obj, keys, what) => keys.map((k) => [k, obj[k][what]]);
  $("charts").replaceChildren(
    barChart("MACs by section", rows(d.by_section, sec, "macs"), "var(--macs)"),
    barChart("params by section", rows(d.by_section, sec, "params"), "var(--params)"),
    barChart("MACs by grid", rows(d.by_grid, grd, "macs"), "var(--macs)"),
    barChart("params by grid", rows(d.by_grid, grd, "params"), "var(--params)"),
  );
}

function renderLayers(d) {
  const table = $("layers");
  const rfText = (rf) => Object.keys(rf || {}).sort(gridOrder).map((g) => `${g}: ${rfSize(rf[g])}`).join(" · ");
  table.replaceChildren(
    el("thead", {}, el("tr", {}, ...["layer", "type", "section", "line", "grids in", "grids out", "params", "MACs",
      "receptive field"].map((t) => el("th", { scope: "col", class: ["params", "MACs", "line"].includes(t) ? "num" : null }, t)))),
    el("tbody", {}, ...(d.layers || []).map((l) => {
      const tr = el("tr", {
        dataset: { layer: l.path, line: l.line ?? "", file: fileOf(l) },
        tabindex: "0",
      },
      el("th", { scope: "row" }, el("code", {}, l.path)),
      el("td", {}, l.type),
      el("td", {}, l.section),
      el("td", { class: "num", title: fileOf(l) === path ? null : fileOf(l) }, l.line ?? ""),
      el("td", {}, (l.grids_in || []).map(hwc).join(", ")),
      el("td", {}, (l.grids_out || []).map(hwc).join(", ")),
      el("td", { class: "num", title: exact(l.params) }, short(l.params)),
      el("td", { class: "num", title: exact(l.macs) }, short(l.macs)),
      el("td", { class: "rf" }, rfText(l.receptive_field)));
      const go = () => { if (l.line) markSource(fileOf(l), l.line, true).then(() => tr.classList.add("marked")); };
      tr.addEventListener("click", go);
      tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
      return tr;
    })));
}

// -- downloads ----------------------------------------------------------------------------------------
const DOWNLOADS = [
  ["svg", "SVG", "the diagram"], ["png", "PNG", "the diagram as an image"],
  ["csv", "CSV", "cost by layer (mgdsl cost --by layer --format csv)"],
  ["json", "JSON", "cost by layer (mgdsl cost --by layer --format json)"],
  ["py", "PyTorch .py", "a standalone PyTorch module (mgdsl compile)"],
  ["onnx", "ONNX", "the network as ONNX (needs the onnx extra on the server)"],
];

function renderDownloads(data) {
  const base = path.split("/").pop().replace(/\.mg$/, "");
  $("downloads").replaceChildren(el("span", { class: "muted small" }, "Download:"), ...DOWNLOADS.map(([ext, text, what]) =>
    el("a", {
      href: withQuery(`/download/${pathUrl(path)}.${ext}`, setsQuery(state.sets)),
      download: `${base}.${ext}`, title: what, class: data.ok ? null : "disabled",
      "aria-disabled": data.ok ? null : "true",
    }, text)));
}

// -- start --------------------------------------------------------------------------------------------
function start() {
  dropToken();
  $("top").append(nav("spec"));
  if (!path) {
    say("no spec named in the address: open one from the gallery", "error");
    return;
  }
  $("params").addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
  $("reset").addEventListener("click", () => {
    for (const input of $("param-fields").querySelectorAll("input")) input.value = input.dataset.default;
    apply();
  });
  wireDiagram();
  refresh();
  listen((changed, affected) => {
    // refetch when the spec reads the file; a spec that does not compile may be waiting for any file
    const reads = state.data && state.data.ok && state.data.imports;
    if (reads && changed !== path && !reads.includes(changed) && !affected.includes(path)) return;
    refresh(`updated: ${changed} changed`);
  }, (open) => {
    const live = $("live");
    live.classList.toggle("off", !open);
    live.textContent = open ? "live" : "offline";
    live.title = open ? "the page follows saved edits of the spec" : "not connected: saved edits are not followed";
  });
}

start();
