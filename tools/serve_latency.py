"""How fast `mgdsl serve` answers in a real browser (headless Chromium driven by Playwright).

  python tools/serve_latency.py [--specs specs] [--spec r-pmg-30.mg] [--edits 20] [--chromium PATH] [--json FILE]

Two numbers, on a copy of the specs folder in a temporary folder (the repository is never edited):

- edit -> shown: with the spec page open, the time from saving an edit of the spec (the file written and
  closed) to the page showing the new diagram and layer table (the frame after the page's render of the
  new answer). The edits alternate between two widths, so every one changes the diagram, the table and the
  numbers; each is checked to be the one saved. Median, 90th percentile and maximum of --edits edits.
- gallery usable: the time from starting to load the gallery to its table showing every spec's row, with
  names, counts and status (thumbnails may still be loading: they are lazy). Measured twice: on a server
  that has checked nothing yet (the first visit), and again on the same server (a later visit).

Targets (issue 23): edit -> shown <= 300 ms, gallery usable <= 2 s."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# the page's render event -> the wall-clock time of the next frame (when the new content is painted)
WATCH = """() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__shown = [];
  window.__events = [];
  new EventSource("/api/events").addEventListener("change", () => window.__events.push(now()));
  document.addEventListener("mgdsl:rendered", (ev) => {
    const rendered = now();
    const f = performance.getEntriesByType("resource").filter((e) => e.name.includes("/api/spec/")).pop();
    requestAnimationFrame(() => window.__shown.push({ok: ev.detail.ok, at: now(), rendered,
      fetch: f ? [performance.timeOrigin + f.startTime, performance.timeOrigin + f.responseEnd] : null,
      params: document.getElementById("sum-params")?.dataset.value, boxes: document.querySelectorAll("#diagram g.box").length,
      rows: document.querySelectorAll("#layers tbody tr").length}));
  });
}"""


def start_server(folder: Path) -> tuple[subprocess.Popen, str, str]:
    """`mgdsl serve FOLDER --port 0` from this checkout: (process, base URL, token), read from the one
    line it prints; a RuntimeError (with the end of its stderr) when that line does not come."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mgdsl", "serve", str(folder), "--port", "0"], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    line: list[str] = []
    t = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(60)
    m = re.match(r"mgdsl serve: (http://127\.0\.0\.1:\d+)/\?token=([A-Za-z0-9_-]{32})$", (line or [""])[0].strip())
    if m is None:
        proc.kill()
        err = proc.stderr.read()[-3000:] if proc.poll() is not None else ""
        raise RuntimeError(f"mgdsl serve did not print its address: {line!r} {err}")
    return proc, m.group(1), m.group(2)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def gallery_ms(browser, base: str, token: str, rows: int) -> float:
    """Milliseconds from the navigation's start to the gallery's table holding every row."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{base}/?token={token}", wait_until="commit")
    page.wait_for_selector(f'body[data-ready][data-rows="{rows}"]', state="attached", timeout=120_000)
    ms = page.evaluate("performance.getEntriesByName('mgdsl:gallery-ready')[0].startTime")
    ctx.close()
    return ms


def edit_ms(browser, base: str, token: str, spec: Path, rel: str, edits: int) -> list[dict]:
    """Milliseconds from each saved edit to the page showing its diagram and table (`total`), and the parts."""
    from mgdsl.network import load
    text = spec.read_text(encoding="utf-8")
    m = re.search(r"^network .*\((.*)\)\s*$", text, flags=re.M)
    if m is None:
        raise SystemExit(f"serve_latency: {rel} has no `network ... (...)` line to edit")
    widths = (48, 64)
    variants = [text[:m.end(1)] + f", w = {w}" + text[m.end(1):] for w in widths]
    want = [str(load(str(spec), {"w": w}).num_params) for w in widths]
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{base}/spec/{rel}?token={token}")
    page.wait_for_selector("#diagram svg g.box", timeout=60_000)
    page.evaluate(WATCH)
    out = []
    for i in range(edits + 1):                      # the first edit warms the server's cache of the other width
        k = i % 2
        seen = page.evaluate("window.__shown.length")
        t0 = time.time() * 1000
        with open(spec, "w", encoding="utf-8") as f:
            f.write(variants[k])
        while True:                                 # polled; the time itself is the page's own clock
            page.wait_for_timeout(5)
            shown = page.evaluate("window.__shown")
            hit = [s for s in shown[seen:] if s["ok"] and s["params"] == want[k]]
            if hit:
                break
            if time.time() * 1000 - t0 > 30_000:
                raise SystemExit(f"serve_latency: edit {i} was not shown within 30 s: {shown[seen:]}")
        h = hit[0]
        assert h["boxes"] > 0 and h["rows"] > 0
        events = [e for e in page.evaluate("window.__events") if e >= t0]
        if i:
            # the whole, and its parts: the watcher's event, the fetch (the server's work), the page's render
            out.append({"total": h["at"] - t0, "event": events[0] - t0 if events else None,
                        "fetch": h["fetch"][1] - h["fetch"][0] if h["fetch"] else None,
                        "render": h["at"] - h["fetch"][1] if h["fetch"] else None})
        page.wait_for_timeout(300)                  # let the watcher settle before the next save
    ctx.close()
    spec.write_text(text, encoding="utf-8")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--specs", default=str(ROOT / "specs"), help="the folder to serve (copied; default: specs/)")
    ap.add_argument("--spec", default="r-pmg-30.mg", help="the spec to edit, relative to --specs")
    ap.add_argument("--edits", type=int, default=20, help="edits to time (default 20)")
    ap.add_argument("--chromium", default=os.environ.get("MGDSL_CHROMIUM") or shutil.which("chromium")
                    or shutil.which("chromium-browser"), help="Chromium's binary (default: chromium on PATH)")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers here")
    args = ap.parse_args(argv)
    if not args.chromium:
        raise SystemExit("serve_latency: Chromium not found (apt-get install chromium, or --chromium PATH)")
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="mgdsl-latency-") as tmp:
        folder = Path(tmp) / "specs"
        shutil.copytree(args.specs, folder)
        rows = sum(1 for _ in folder.rglob("*.mg"))
        result: dict = {"specs": rows, "spec": args.spec, "edits": args.edits, "cpus": os.cpu_count()}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=FLAGS)
            try:
                proc, base, token = start_server(folder)
            except RuntimeError as e:
                raise SystemExit(f"serve_latency: {e}") from None
            try:
                result["gallery_first_ms"] = gallery_ms(browser, base, token, rows)
                result["gallery_again_ms"] = gallery_ms(browser, base, token, rows)
                parts = edit_ms(browser, base, token, folder / args.spec, args.spec, args.edits)
            finally:
                stop(proc)
            browser.close()
        times = sorted(e["total"] for e in parts)
        result.update(edit_median_ms=statistics.median(times), edit_p90_ms=times[int(0.9 * (len(times) - 1))],
                      edit_max_ms=times[-1], edit_min_ms=times[0], edit_all_ms=[round(t, 1) for t in times])
        for part in ("event", "fetch", "render"):
            got = [e[part] for e in parts if e[part] is not None]
            result[f"edit_{part}_median_ms"] = statistics.median(got) if got else None
    print(f"gallery of {rows} specs usable: first visit {result['gallery_first_ms']:.0f} ms, "
          f"again {result['gallery_again_ms']:.0f} ms (target <= 2000 ms)")
    print(f"{args.spec}: saved edit -> new diagram and table shown, {len(times)} edits: median "
          f"{result['edit_median_ms']:.0f} ms, p90 {result['edit_p90_ms']:.0f} ms, min {result['edit_min_ms']:.0f} ms, "
          f"max {result['edit_max_ms']:.0f} ms (target <= 300 ms)")
    print("  medians of the parts: save -> change event {edit_event_median_ms:.0f} ms, the page's fetch (server work) "
          "{edit_fetch_median_ms:.0f} ms, answer -> shown (the page) {edit_render_median_ms:.0f} ms".format(**result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
