"""Regenerate the diagrams in docs/figures: the paper's four CIFAR-100 networks of Fig. 3 (VGG-16,
MG-16, PMG-16, R-PMG-30), each as PNG with its DOT source beside it, and a 2x2 composite
`paper-fig3.png`. Every unit gets its own column (`--expand`), as in the paper's figure.

    python tools/make_figures.py            # rewrite docs/figures
    python tools/make_figures.py --check    # exit 1 if the committed .dot files are stale

The .dot files are what tests/test_draw.py compares (PNG bytes depend on the renderer's version).
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
PAPER_FIG3 = ("vgg-16", "mg-16", "pmg-16", "r-pmg-30")     # the order they are composed in
COMPOSITE = "paper-fig3.png"


def dot_source(name: str) -> str:
    sys.path.insert(0, str(ROOT))
    import mgdsl
    from mgdsl.backends.draw import diagram
    return diagram(mgdsl.load(ROOT / "specs" / f"{name}.mg").graph, expand=True)


def compose(pngs: list[bytes], columns: int = 2, gutter: int = 24) -> bytes:
    """Tile the diagrams left to right, top to bottom, all at one scale (as in the paper, a
    shallower net is a shorter picture, not a magnified one)."""
    from PIL import Image
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    width = max(im.width for im in images)
    rows = [images[i:i + columns] for i in range(0, len(images), columns)]
    heights = [max(im.height for im in row) for row in rows]
    sheet = Image.new("RGB", (columns * width + (columns + 1) * gutter, sum(heights) + (len(rows) + 1) * gutter),
                      "white")
    y = gutter
    for row, h in zip(rows, heights):
        for i, im in enumerate(row):
            sheet.paste(im, (gutter + i * (width + gutter), y))
        y += h + gutter
    out = io.BytesIO()
    sheet.save(out, "PNG", optimize=True)
    return out.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare the committed .dot files")
    args = ap.parse_args(argv)
    sources = {name: dot_source(name) for name in PAPER_FIG3}
    if args.check:
        stale = [n for n, s in sources.items()
                 if not (FIGURES / f"{n}.dot").exists() or (FIGURES / f"{n}.dot").read_text() != s]
        for n in stale:
            print(f"stale: docs/figures/{n}.dot", file=sys.stderr)
        return 1 if stale else 0
    from mgdsl.atomic import write_atomic
    from mgdsl.backends.draw import render, renderer_name
    FIGURES.mkdir(parents=True, exist_ok=True)
    pngs = []
    for name, source in sources.items():
        png = render(source, "png")
        write_atomic(FIGURES / f"{name}.dot", source)
        write_atomic(FIGURES / f"{name}.png", png)
        pngs.append(png)
        print(f"wrote docs/figures/{name}.png and .dot")
    write_atomic(FIGURES / COMPOSITE, compose(pngs))
    print(f"wrote docs/figures/{COMPOSITE} (rendered with {renderer_name()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
