"""Jupyter's rich display of a Network: `_repr_svg_` is the diagram, `_repr_html_` the summary
table by section and the diagram, for every network spec, drawn without a system Graphviz."""
import glob
import html
import shutil

import pytest
from conftest import assert_covers, short_sweep
from test_draw import diagram_of, dot_shapes, net_of

import mgdsl
from mgdsl.backends import draw
from mgdsl.summary import sections

NETWORKS = [p for p in sorted(glob.glob("specs/**/*.mg", recursive=True))
            if "\nnetwork " in "\n" + open(p, encoding="utf-8").read()]


@pytest.fixture(autouse=True)
def _no_system_graphviz(monkeypatch):
    which = shutil.which
    monkeypatch.setattr(draw.shutil, "which", lambda name: None if name == "dot" else which(name))


def test_every_paper_spec_is_covered():
    assert len(NETWORKS) >= 60 and "specs/r-pmg-30.mg" in NETWORKS and "specs/imagenet/resnet-50.mg" in NETWORKS


# the specs whose diagrams have the whole zoo's DOT vocabulary and whose names and section names have every
# character other than letters and digits that the others' have (asserted below); the rest are slow tests
SUBSET = {"specs/imagenet/r-mg-34.mg", "specs/imagenet/wrn-34-2.0.mg", "specs/mnist/families/pmg.mg",
          "specs/beyond/fpn-resnet-18.mg", "specs/beyond/deeplabv3-resnet50.mg"}


def _features(path: str) -> set:
    net = net_of(path)                 # test_draw's networks and diagrams, made once for both files
    return dot_shapes(diagram_of(path)) | {("name or section character", c)
                                           for c in net.name + "".join(sections(net)) if not c.isalnum()}


def test_the_sweeps_subset_has_every_dot_form_and_name_character():
    assert_covers(SUBSET, NETWORKS, _features, "DOT forms, text or name characters")


@pytest.mark.parametrize("path", short_sweep(NETWORKS, SUBSET))
def test_svg_and_html(path):
    net = mgdsl.load(path)
    assert [f for f, _ in draw.find_renderers()] == ["graphviz-pure"]
    svg = net._repr_svg_()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    title = draw.title_of(net.graph)                      # the diagram's title line: name, input, params, MACs
    assert title in html.unescape(svg).replace("\xa0", " ")
    page = net._repr_html_()
    assert svg in page
    assert f"{net.num_params:,}" in page and html.escape(net.name) in page
    for name, s in sections(net).items():
        assert f"<td>{html.escape(name)}</td>" in page and f"{s['params']:,}" in page
