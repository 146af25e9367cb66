"""Benchmark: what the language server does on every keystroke, for R-PMG-30 (the R-PMG family file
with its default n = 2, 30 layers, 419 ops): re-check the edited text (parse, lower, check: the
diagnostics) and compute the hover text of every layer line (shapes, params, MACs, unit expansions).

Two measurements, medians over a series of edits (a width changed back and forth, a comment typed):

- in process: `mgdsl.ide.analyse` + diagnostics + hover for every layer line, against a plain
  `mgdsl.load` of the same text in the same process (the baseline: what `mgdsl check` does);
- through the protocol: `mgdsl lsp` as a subprocess, a didChange notification until its
  publishDiagnostics arrives, then a hover request on `n × resmg 2w, w, w/2`.

    python tools/bench_lsp.py                 # 40 edits
    python tools/bench_lsp.py --edits 100
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from mgdsl.ide import analyse, hover  # noqa: E402
from mgdsl.network import load  # noqa: E402

SPEC = ROOT / "specs" / "families" / "r-pmg.mg"
TARGET_MS = 150


def edits(text: str, n: int) -> list[str]:
    """n versions of the spec, as typing makes them: a width changed and changed back, a comment grown."""
    out = []
    for i in range(n):
        t = text.replace("n × resmg 4w, 2w, w", "n × resmg 4w, 2w, 2w") if i % 2 else text
        out.append(t + "# note" + "x" * i + "\n")
    return out


def in_process(path: Path, versions: list[str]) -> tuple[list[float], list[float], int]:
    work, base, lines = [], [], 0
    for text in versions:
        t0 = time.perf_counter()
        a = analyse(path, text)
        a.diagnostics()
        hovered = {r.span.line for r in a.net.graph.info.layers}
        for line in hovered:
            assert hover(a, line, 1)
        t1 = time.perf_counter()
        path.write_text(text, encoding="utf-8")
        t2 = time.perf_counter()
        load(path)
        t3 = time.perf_counter()
        work.append(t1 - t0)
        base.append(t3 - t2)
        lines = len(hovered)
    return work, base, lines


def through_lsp(path: Path, versions: list[str]) -> list[float]:
    from lsp_client import Client
    c = Client(cwd=ROOT)
    try:
        c.initialize(ROOT.as_uri())
        uri = path.as_uri()
        c.open(uri, versions[0], 1)
        row = next(i for i, ln in enumerate(versions[0].splitlines()) if ln.startswith("n × resmg 2w, w, w/2"))
        times = []
        for v, text in enumerate(versions[1:], 2):
            t0 = time.perf_counter()
            assert c.change(uri, text, v) == []
            assert "before" in c.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                                "position": {"line": row, "character": 6}})["contents"]["value"]
            times.append(time.perf_counter() - t0)
        return times
    finally:
        c.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edits", type=int, default=40, help="edits to time (default 40)")
    args = ap.parse_args()
    versions = edits(SPEC.read_text(encoding="utf-8"), args.edits + 1)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r-pmg.mg"
        path.write_text(versions[0], encoding="utf-8")
        analyse(path, versions[0])                          # warm-up: imports, the parser's tables
        load(path)
        work, base, lines = in_process(path, versions[1:])
        rpc = through_lsp(path, versions)
    ms = lambda xs: 1000 * statistics.median(xs)           # noqa: E731
    print(f"R-PMG-30 ({SPEC.relative_to(ROOT)}, n = 2), {len(work)} edits, medians:")
    rows = [("plain load (parse, lower, check): the baseline", ms(base), ""),
            (f"diagnostics + hover data for all {lines} layer lines", ms(work), f"{ms(work) / ms(base):.2f}x the baseline"),
            ("mgdsl lsp round trip: didChange -> diagnostics, one hover", ms(rpc), f"{ms(rpc) / ms(base):.2f}x the baseline")]
    for name, t, note in rows:
        print(f"  {name:<58} {t:7.1f} ms  {note}".rstrip())
    worst = max(ms(work), ms(rpc))
    print(f"  target: < {TARGET_MS} ms per edit: {'met' if worst < TARGET_MS else 'NOT met'}")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
