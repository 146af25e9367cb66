"""Jupyter's rich display of a Network: `_repr_svg_` is the diagram, `_repr_html_` the summary
table by section and the diagram, for every network spec, drawn without a system Graphviz."""
import glob
import html
import shutil

import pytest

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


@pytest.mark.parametrize("path", NETWORKS)
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
