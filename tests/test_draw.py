"""`mgdsl draw`: every spec renders; the diagram's rows, columns, kinds and connections follow the graph."""
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from conftest import assert_covers, short_sweep

import mgdsl
from mgdsl.backends import draw
from mgdsl.cli import main
from mgdsl.lang.loader import Loader

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "specs").rglob("*.mg"))
_LOADER = Loader()            # one loader for all specs: families and the prelude are parsed once
_NETS: dict = {}


def net_of(path: str, **params):
    key = (path, tuple(sorted(params.items())))
    if key not in _NETS:
        _NETS[key] = mgdsl.load(ROOT / path, loader=_LOADER, **params)
    return _NETS[key]


_DIAGRAMS: dict = {}


def diagram_of(path: str, expand: bool = False) -> str:
    """The layers diagram of a spec (several tests read each)."""
    if (path, expand) not in _DIAGRAMS:
        _DIAGRAMS[path, expand] = draw.diagram(net_of(path).graph, expand=expand)
    return _DIAGRAMS[path, expand]


def networks():
    """Spec files that define a network (some only hold units for others to import)."""
    return [p for p in SPECS if _LOADER.load(ROOT / p).network is not None]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def pinned_boxes(source: str):
    """(id, left, right, bottom, top) in points of every pinned node of a layers diagram."""
    out = []
    for m in re.finditer(r'^\s*"([^"]+)" \[(.*)\];$', source, re.M):
        a = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        if "pos" not in a or m.group(1).startswith("band_"):     # section bands lie behind on purpose
            continue
        x, y = (float(v) * 72 for v in a["pos"].rstrip("!").split(","))
        w, h = float(a["width"]) * 72 / 2, float(a["height"]) * 72 / 2
        extra = 4.0 if a.get("peripheries") == "2" else 0.0
        out.append((m.group(1), x - w - extra, x + w + extra, y - h - extra, y + h + extra))
    return out


_TEXT = {"label", "tooltip", "xlabel", "headlabel", "taillabel"}


def dot_shapes(source: str) -> set:
    """The DOT vocabulary of a diagram: each statement's form (node or edge) with its attribute names and
    values, numbers and text blanked, and each character other than letters and digits in its text."""
    out: set = set()
    for line in source.splitlines():
        attrs = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line)
        out |= {("text", c) for k, v in attrs if k in _TEXT for c in v if not c.isalnum() and c != " "}
        form = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line.split("[")[0]).strip()
        out.add((form, tuple(sorted((k, "" if k in _TEXT else "N" if re.fullmatch(r"[-+\d.,! ]+", v) else v)
                                    for k, v in attrs))))
    return out


# the specs whose diagrams have the DOT vocabulary of all the others' (asserted below); the rest are slow tests
RENDER_SUBSET = {"specs/imagenet/r-mg-34.mg", "specs/mnist/families/pmg.mg", "specs/beyond/fpn-resnet-18.mg",
                 "specs/beyond/deeplabv3-resnet50.mg"}


def test_the_render_sweeps_subset_has_the_whole_zoos_dot_vocabulary():
    assert_covers(RENDER_SUBSET, networks(), lambda p: dot_shapes(diagram_of(p)),
                  "DOT statement forms or text characters")


@pytest.mark.parametrize("path", short_sweep(networks(), RENDER_SUBSET))
def test_every_spec_renders_to_svg_and_png(path):
    G = net_of(path).graph
    source = diagram_of(path)
    svg = draw.render(source, "svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert any(G.info.name in t for t in root.itertext())
    w, h = png_size(draw.render(source, "png"))
    assert w > 200 and h > 100


@pytest.mark.parametrize("path", networks())
def test_no_two_pinned_nodes_overlap(path):
    """Labels clear of boxes, boxes clear of each other: the picture stays readable."""
    for expand in (False, True):
        nodes = pinned_boxes(diagram_of(path, expand))
        nodes.sort(key=lambda r: r[1])
        for i, a in enumerate(nodes):
            for b in nodes[i + 1:]:
                if b[1] >= a[2]:
                    break
                assert not (a[3] < b[4] and b[3] < a[4]), f"{a[0]} overlaps {b[0]}"


def test_pdf_is_written(tmp_path):
    out = tmp_path / "mg.pdf"
    assert main(["draw", "specs/mg-16.mg", "-o", str(out)]) == 0
    assert out.read_bytes()[:5] == b"%PDF-"


def test_png_is_a_real_image(tmp_path):
    out = tmp_path / "v.png"
    assert main(["draw", "specs/vgg-16.mg", "-o", str(out), "--set", "n=1"]) == 0
    data = out.read_bytes()
    png_size(data)
    try:
        from PIL import Image
    except ImportError:
        return
    import io
    Image.open(io.BytesIO(data)).verify()


def test_rows_are_grids_finest_first_and_columns_are_layers():
    G = net_of("specs/vgg-16.mg").graph
    lay = draw.analyse(G, expand=True)
    assert len(lay.columns) == 1 + len(G.info.layers)
    sizes = {r.size for r in G.records() if r.size is not None}
    assert lay.rows == sorted(sizes, key=lambda s: -s[0])
    for col, rec in zip(lay.columns[1:], G.info.layers):
        assert sorted((b.size, b.channels) for b in col.boxes) == sorted(rec.grids_out, key=lambda g: str(g))
    # a narrower grid is a shorter box, more channels a wider one
    assert draw.box_height((32, 32)) > draw.box_height((16, 16)) > draw.box_height((1, 1))
    assert draw.box_width(512) > draw.box_width(64) > draw.box_width(3)


def test_mgconv_gathers_from_both_neighbours():
    G = net_of("specs/mg-16.mg").graph
    lay = draw.analyse(G, expand=True)
    for col in lay.columns:
        if col.kind != "mgconv":
            continue
        into = [e for e in lay.edges if e.head.column == lay.columns.index(col)]
        k = len(col.boxes)
        assert Counter(e.how for e in into) == {"flow": k, "down": k - 1, "up": k - 1}
        for e in into:
            finer = e.tail.size[0] > e.head.size[0]
            assert e.how == ("down" if finer else "up" if e.tail.size[0] < e.head.size[0] else "flow")


def test_progressive_start_holds_the_fine_grids():
    G = net_of("specs/pmg-16.mg").graph
    lay = draw.analyse(G, expand=True)
    coarse_only = [c for c in lay.columns[1:] if all(r.held for r in c.records)]
    assert coarse_only and all(len(c.boxes) < len(G.info.grids) for c in coarse_only)
    held = {e.tail.size for e in lay.edges if e.held}
    assert held == {s for rec in G.info.layers for s, _ in rec.held}
    assert "grid held unchanged" in draw.diagram(G, expand=True)


def test_merge_pool_joins_two_grids_into_one():
    G = net_of("specs/mg-16.mg").graph
    lay = draw.analyse(G)
    merges = [i for i, c in enumerate(lay.columns) if c.records and c.records[0].type == "pool"
              and len(c.records[0].grids_in) > len(c.records[0].grids_out)]
    assert len(merges) == sum(1 for r in G.info.layers if r.type == "pool"
                              and len(r.grids_in) > len(r.grids_out))
    for i in merges:
        (box,) = [b for b in lay.columns[i].boxes if b.size == (1, 1)]
        tails = {e.tail.size for e in lay.edges if e.head is box}
        assert len(tails) == 2


def test_unet_skips_come_from_saved_pyramids():
    G = net_of("specs/mnist/u-net-11-seg.mg").graph if "specs/mnist/u-net-11-seg.mg" in SPECS else mgdsl.loads(
        "network \"U\"\ninput 1 @ 16x16\ne1 = conv 8\npool\ne2 = conv 16\npool\nconv 32\nupconv 16\nconcat e2\n"
        "conv 16\nupconv 8\nconcat e1\nconv 8\nmaps 2\n").graph
    lay = draw.analyse(G)
    skips = [e for e in lay.edges if e.how == "skip"]
    joins = [r.id for r in G.records() if r.kind == "concat" and r.origin_type == "concat"]
    assert len(skips) == len(joins) > 0
    assert all(e.tail.size == e.head.size and e.head.kind == "concat" for e in skips)
    assert "skip from a saved pyramid" in draw.diagram(G)


def test_unit_kinds_come_from_their_ops_not_their_names():
    G = mgdsl.loads("""network "K"
input 3 @ 16x16
grids 2
unit zz(w = same):
    x = mgconv w
    mgconv w relu=off
    add x
unit yy(w = same):
    conv w
    conv w relu=off
    add in
unit ww(w = same):
    mgconv w
    mgconv w
conv 8, 4
zz
yy
ww
res
resmg
pool merge
fc 10
""").graph
    kinds = [c.kind for c in draw.analyse(G, expand=True).columns[1:]]
    assert kinds == ["conv", "resmg", "res", "mgconv", "res", "resmg", "pool", "prediction"]


def test_repeated_units_collapse_unless_expanded():
    G = net_of("specs/r-pmg-30.mg").graph
    short, full = draw.analyse(G), draw.analyse(G, expand=True)
    assert len(short.columns) < len(full.columns) == 1 + len(G.info.layers)
    assert sum(c.count for c in short.columns[1:]) == len(G.info.layers)
    runs = [c for c in short.columns if c.count > 1]
    assert runs and all(f"\u00d7{c.count}" in draw.diagram(G) for c in runs)


def test_title_legend_and_kernel_labels():
    net = net_of("specs/mg-16.mg")
    source = draw.diagram(net.graph)
    assert f"{net.num_params / 1e6:.2f}M params" in source and f"{net.macs / 1e6:.2f}M MACs" in source
    assert "3\u00d732\u00d732" in source
    for kind in draw.KINDS.values():
        assert kind.label in source
    ones = {r.id for r in net.graph.records() if r.kind == "conv" and r.attrs["kernel"] == 1}
    assert ones and "(1\u00d71)" in source


def test_ops_detail_draws_every_primitive_op():
    G = net_of("specs/pmg-16.mg").graph
    source = draw.diagram(G, detail="ops")
    for n in G:
        assert f'"{n}" [' in source
    assert source.count(" -> ") == sum(len(r.inputs) for r in G.records())
    ET.fromstring(draw.render(source, "svg"))


def test_dot_needs_no_layout_program_and_a_missing_one_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(draw, "find_renderers", lambda: [])
    assert main(["draw", "specs/vgg-16.mg", "-o", str(tmp_path / "v.dot")]) == 0
    assert (tmp_path / "v.dot").read_text().startswith('digraph "VGG-16"')
    assert main(["draw", "specs/vgg-16.mg", "-o", str(tmp_path / "v.svg")]) == 1
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err and "pip install graphviz-pure" in err and "Traceback" not in err
    assert not (tmp_path / "v.svg").exists()


def test_bad_output_name_is_a_usage_error(tmp_path, capsys):
    assert main(["draw", "specs/vgg-16.mg", "-o", str(tmp_path / "v.jpeg")]) == 1
    assert "end the name in .svg" in capsys.readouterr().err


def test_draw_never_imports_torch(tmp_path):
    code = ("import sys\nfrom mgdsl.cli import main\n"
            f"rc = main(['draw', 'specs/r-pmg-30.mg', '-o', r'{tmp_path}/r.svg'])\n"
            "print('torch' in sys.modules, rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split()[-2:] == ["False", "0"], out.stderr[-2000:]
    ET.parse(tmp_path / "r.svg")


def test_committed_figures_are_fresh():
    import make_figures
    for name in make_figures.PAPER_FIG3:
        dot = make_figures.FIGURES / f"{name}.dot"
        assert dot.read_text() == make_figures.dot_source(name), \
            f"docs/figures/{name}.dot is stale: run python tools/make_figures.py"
        png_size((make_figures.FIGURES / f"{name}.png").read_bytes())
    w, h = png_size((make_figures.FIGURES / make_figures.COMPOSITE).read_bytes())
    assert w > h


def test_every_layer_type_has_a_legend_entry():
    """The diagram back end owns its legend table; a new layer type adds its line there."""
    from mgdsl.backends.draw import KINDS, LEGEND
    from mgdsl.graph.layer_api import LAYERS
    assert set(LEGEND) == set(LAYERS) and set(LEGEND.values()) <= set(KINDS)


# -- bounds on the layout work and on the size of what is written -------------------------------------------
def _too_many_boxes_refused(spec_file, tmp_path, capsys, repeats: int):
    path = spec_file(f'network "W"\ninput 3 @ 8x8\nconv 4\n{repeats} × conv 8\nfc 10\n')
    column = len(f"{repeats} × ") + 1
    for out in ("w.dot", "w.svg", "w.png"):
        assert main(["draw", path, "-o", str(tmp_path / out), "--expand"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"{path}:4:{column}: error: the diagram would have more than {draw.MAX_BOXES} boxes"), err
        assert "without --expand" in err and "--set" in err
    assert not [p for p in os.listdir(tmp_path) if p.startswith("w.")]
    assert main(["draw", path, "-o", str(tmp_path / "w.svg")]) == 0      # one column for the whole run


def test_a_diagram_with_too_many_boxes_is_refused_where_it_passes_a_lowered_limit(spec_file, tmp_path, capsys,
                                                                                 monkeypatch):
    """The short version of the test below: 300 columns against a limit lowered to 100."""
    monkeypatch.setattr(draw, "MAX_BOXES", 100)
    _too_many_boxes_refused(spec_file, tmp_path, capsys, 300)


@pytest.mark.slow(reason="3,000 columns lowered four times; the same rule with a lowered limit runs always")
def test_a_diagram_with_too_many_boxes_is_refused_where_it_passes_the_limit(spec_file, tmp_path, capsys):
    """3000 columns (--expand) would take Graphviz minutes and a 53-megapixel PNG; tens of thousands
    took all the memory there is. Refused before any layout program runs, whatever the format."""
    _too_many_boxes_refused(spec_file, tmp_path, capsys, 3000)


def test_an_ops_diagram_with_too_many_ops_is_refused_where_it_passes_the_limit(spec_file, tmp_path, capsys):
    path = spec_file('network "W"\ninput 3 @ 8x8\nconv 4\n1000 × conv 8\nfc 10\n')
    assert main(["draw", path, "-o", str(tmp_path / "w.dot"), "--detail", "ops"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:4:8: error: the ops diagram would have more than {draw.MAX_OPS} ops"), err
    assert main(["draw", path, "-o", str(tmp_path / "w.dot")]) == 0        # the layers diagram is small


def test_a_png_over_the_pixel_limit_is_drawn_at_a_lower_resolution(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(draw, "MAX_PNG_PIXELS", 2_000_000)
    out = tmp_path / "u.png"
    assert main(["draw", "specs/beyond/unet-2015.mg", "-o", str(out)]) == 0    # 7.6 MP at 110 dpi
    w, h = png_size(out.read_bytes())
    assert 1_500_000 < w * h <= 2_000_000
    said = capsys.readouterr().out
    assert re.search(r"drawn at \d+ dpi instead of 110 to stay within 2 megapixels", said), said
    pdf = tmp_path / "u.pdf"
    pure = [f for f in draw.find_renderers() if f[0] == "graphviz-pure"]
    if not pure:
        return
    monkeypatch.setattr(draw, "find_renderers", lambda: pure)
    assert main(["draw", "specs/beyond/unet-2015.mg", "-o", str(pdf)]) == 0     # a PDF made from a PNG
    assert "instead of 200" in capsys.readouterr().out


def _long_spec(spec_file, columns: int) -> str:
    return spec_file('network "W"\ninput 3 @ 8x8\n' + "".join(f"conv {4 + i % 2}\n" for i in range(columns - 1)) +
                     "fc 10\n")


def _drawn_no_wider_than_the_side_limit(path: str, tmp_path, capsys):
    out = tmp_path / "w.png"
    assert main(["draw", path, "-o", str(out)]) == 0
    w, h = png_size(out.read_bytes())
    assert w <= draw.MAX_PNG_SIDE and w * h <= draw.MAX_PNG_PIXELS
    assert "instead of 110" in capsys.readouterr().out


def test_the_dot_of_a_diagram_at_the_box_limit_is_small(spec_file):
    source = draw.diagram(mgdsl.load(_long_spec(spec_file, 999)).graph)
    assert len(source) < 1 << 20                   # the DOT (and so the SVG) stays small at the box limit


def test_a_long_diagram_is_drawn_no_wider_than_the_side_limit(spec_file, tmp_path, capsys, monkeypatch):
    """The short version of the test below: 100 columns are 6,100 pixels wide at 110 dpi, past a side limit
    lowered to 3,000."""
    monkeypatch.setattr(draw, "MAX_PNG_SIDE", 3000)
    _drawn_no_wider_than_the_side_limit(_long_spec(spec_file, 100), tmp_path, capsys)


@pytest.mark.slow(reason="a 61,000-pixel layout; the same rule with a lowered limit runs always")
def test_a_long_diagram_is_drawn_no_wider_than_viewers_open(spec_file, tmp_path, capsys):
    """999 columns: 61,000 pixels wide at 110 dpi, past the 32,767 that many viewers and libraries open."""
    _drawn_no_wider_than_the_side_limit(_long_spec(spec_file, 999), tmp_path, capsys)


def test_diagrams_of_the_shipped_specs_are_drawn_at_full_resolution():
    for path in networks():
        for expand in (False, True):
            source = diagram_of(path, expand)
            assert draw.png_dpi(source, draw.PNG_DPI) == draw.PNG_DPI, path
