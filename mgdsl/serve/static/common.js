// Shared by the three pages of `mgdsl serve`: talking to the JSON API, numbers, URLs, small DOM helpers,
// live events and the inline-SVG bar charts. Plain ES module, no build step.

/** Make an element: el("a", {href: "/x", class: "y"}, "text", child, ...). */
export function el(tag, attrs = {}, ...children) {
  const ns = attrs && attrs.svg ? "http://www.w3.org/2000/svg" : null;
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "svg" || v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

export const svgEl = (tag, attrs = {}, ...children) => el(tag, { ...attrs, svg: true }, ...children);

/** An API error the page can show: what went wrong and what to do. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET (or POST with a JSON body) one API address; the token travels in the cookie the server set. */
export async function api(url, body) {
  const opts = body === undefined ? { credentials: "same-origin" }
    : { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) };
  let res;
  try {
    res = await fetch(url, opts);
  } catch (e) {
    throw new ApiError(0, "the mgdsl server does not answer: is `mgdsl serve` still running?");
  }
  if (res.status === 403) {
    throw new ApiError(403, "the server refused the request: open the address that `mgdsl serve` printed "
      + "(it carries the access token)");
  }
  if (res.status === 404) throw new ApiError(404, `not found: ${decodeURIComponent(new URL(url, location.href).pathname)}`);
  if (!res.ok) {
    let text = "";
    try { text = (await res.text()).slice(0, 500); } catch (e) { /* nothing more to say */ }
    throw new ApiError(res.status, `the server answered ${res.status}${text ? ": " + text : ""}`);
  }
  return res.json();
}

/** A spec path (root-relative, `/`-separated) as a URL path: every segment escaped, the slashes kept. */
export const pathUrl = (path) => path.split("/").map(encodeURIComponent).join("/");

/** The spec path of this page's address, after the given prefix (`/spec/`). */
export function pathAfter(prefix) {
  const p = location.pathname;
  return p.startsWith(prefix) ? p.slice(prefix.length).split("/").map(decodeURIComponent).join("/") : "";
}

/** `set.NAME=VALUE` pairs of a query (with an optional `a.`/`b.` prefix) as an ordered object. */
export function setsFrom(params, prefix = "") {
  const out = {};
  for (const [k, v] of params) {
    if (k.startsWith(prefix + "set.")) out[k.slice(prefix.length + 4)] = v;
  }
  return out;
}

/** The query text for parameter settings: set.n=3&set.w=32 (with a prefix: a.set.n=3). */
export function setsQuery(sets, prefix = "") {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(sets)) q.append(`${prefix}set.${k}`, v);
  return q.toString();
}

export const withQuery = (url, query) => (query ? `${url}${url.includes("?") ? "&" : "?"}${query}` : url);

/** The token is only needed on the first load (the server then sets a cookie): keep it out of the
 * address bar, bookmarks and screenshots. */
export function dropToken() {
  const u = new URL(location.href);
  if (u.searchParams.has("token")) {
    u.searchParams.delete("token");
    history.replaceState(history.state, "", u.pathname + (u.search || "") + u.hash);
  }
}

const UNITS = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];

/** 44882244 -> "44.88M" (as mgdsl's own tables write counts). */
export function short(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  const a = Math.abs(n);
  for (const [f, u] of UNITS) if (a >= f) return `${(n / f).toFixed(2)}${u}`;
  return String(n);
}

/** 44882244 -> "44,882,244" */
export const exact = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));

/** A signed difference: +1.20M, −3.4k, 0 */
export function signed(n) {
  if (!n) return "0";
  return (n > 0 ? "+" : "−") + short(Math.abs(n));
}

/** [h, w] -> "32x32"; [c, h, w] -> "64×32×32" */
export const gridText = (hw) => `${hw[0]}x${hw[1]}`;
export const shapeText = (s) => (s && s.length ? s.join("×") : "–");

/** Finest grid first: "32x32" before "16x16" (by area, then height). */
export function gridOrder(a, b) {
  const parse = (g) => { const m = /^(\d+)x(\d+)$/.exec(String(g)); return m ? [Number(m[1]), Number(m[2])] : null; };
  const pa = parse(a), pb = parse(b);
  if (!pa || !pb) return (pa ? -1 : pb ? 1 : String(a).localeCompare(String(b)));   // "flat" after the grids
  return pb[0] * pb[1] - pa[0] * pa[1] || pb[0] - pa[0];
}

/** A receptive field in a few words: "36×36 px" (the input pixels one central position sees). */
export function rfSize(f) {
  if (!f) return "–";
  const [h, w] = f.size;
  return h === w ? `${h}×${h} px` : `${h}×${w} px`;
}

/** The same with what it means: "36×36 px, every 4 px, sees the whole input". */
export function rfLong(f) {
  if (!f) return "–";
  const [jh, jw] = f.jump;
  const step = jh === jw ? `${jh}` : `${jh}×${jw}`;
  return `${rfSize(f)} (positions ${step} px apart)${f.covers_input ? ", sees the whole input" : ""}`;
}

/** A status badge: ok, warning, error, units (a file of unit definitions, not a network). */
export function badge(status) {
  const words = { ok: "ok", warning: "warning", error: "error", units: "units only" };
  return el("span", { class: `badge badge-${status}` }, words[status] || status);
}

/** Listen to the server's change events; `onChange(path, affected)` for every .mg file written under the
 * root (`affected`: the specs the server knows to read that file, itself included).
 * The browser reconnects by itself; `onState(true|false)` tells whether the stream is open. */
export function listen(onChange, onState = () => {}) {
  if (!("EventSource" in window)) return null;
  const src = new EventSource("/api/events", { withCredentials: true });
  src.addEventListener("open", () => onState(true));
  src.addEventListener("error", () => onState(false));
  src.addEventListener("change", (ev) => {
    let data = null;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    onChange(data.path, data.affected || [data.path]);
  });
  return src;
}

/** A line of the page that says something happened (read by screen readers too). */
export function say(text, kind = "info") {
  const box = document.getElementById("status");
  if (!box) return;
  box.textContent = text;
  box.className = `status status-${kind}`;
}

/** A horizontal bar chart as inline SVG: one bar per [label, value], the value written at its end.
 * `color` fills the bars; `title` becomes the SVG's accessible name. */
export function barChart(title, rows, color, fmt = short) {
  const W = 360, left = 70, right = 60, barH = 16, gap = 6, top = 24;
  const H = top + rows.length * (barH + gap) + 4;
  const max = Math.max(1, ...rows.map(([, v]) => Math.abs(v)));
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "chart",
    "aria-label": `${title}: ${rows.map(([k, v]) => `${k} ${fmt(v)}`).join(", ")}` });
  svg.append(svgEl("text", { x: 0, y: 14, class: "chart-title" }, title));
  rows.forEach(([label, value], i) => {
    const y = top + i * (barH + gap);
    const w = Math.max(value ? 1 : 0, (W - left - right) * Math.abs(value) / max);
    svg.append(
      svgEl("text", { x: left - 6, y: y + barH - 4, "text-anchor": "end", class: "chart-label" }, label),
      svgEl("rect", { x: left, y, width: w.toFixed(1), height: barH, rx: 2, fill: color },
        svgEl("title", {}, `${label}: ${exact(value)}`)),
      svgEl("text", { x: left + w + 4, y: y + barH - 4, class: "chart-value" }, fmt(value)),
    );
  });
  return svg;
}

/** Sort keys of the sections: s1, s2, ..., s10 in number order, others after in their order. */
export function sectionOrder(names) {
  const num = (s) => { const m = /^s(\d+)$/.exec(s); return m ? Number(m[1]) : Infinity; };
  return [...names].sort((a, b) => num(a) - num(b));
}

/** The page header's navigation. */
export function nav(current) {
  const links = [["/", "Gallery", "gallery"], ["/compare", "Compare", "compare"]];
  return el("nav", { "aria-label": "mgdsl serve" },
    el("a", { href: "/", class: "brand" }, "mgdsl"),
    ...links.map(([href, text, key]) => el("a", { href, "aria-current": key === current ? "page" : null }, text)));
}
