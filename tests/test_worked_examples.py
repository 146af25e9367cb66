"""docs/graph.md's worked examples still work: their code blocks, run in the modules they name, give a
layer type that checks, counts, draws, builds and computes what it says."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import mgdsl

ROOT = Path(__file__).resolve().parents[1]


def _blocks(title: str) -> list[str]:
    text = (ROOT / "docs" / "graph.md").read_text(encoding="utf-8")
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    return [re.sub(r"^ {3}", "", b, flags=re.M) for b in re.findall(r"```python\n(.*?)```", section, re.S)]


@pytest.fixture
def sigmoid_layer():
    """The worked example's four pieces, each run where the docs say it goes; removed afterwards."""
    from mgdsl.backends import draw, torch_source
    from mgdsl.graph import layer_api, layers, ops
    op_code, layer_code, emitter_code, legend_code = _blocks("Worked example: a new layer type")
    exec(op_code, vars(ops))
    exec(layer_code, vars(layers))
    exec(f"EMITTERS.update({{{emitter_code}}})", vars(torch_source))
    exec(f"LEGEND.update({{{legend_code}}})", vars(draw))
    try:
        yield
    finally:
        ops.OPS.pop("sigmoid", None)
        layer_api.LAYERS.pop("sigmoid", None)
        torch_source.EMITTERS.pop("sigmoid", None)
        draw.LEGEND.pop("sigmoid", None)


def test_the_new_layer_type_of_the_worked_example(sigmoid_layer, spec_file):
    torch = pytest.importorskip("torch")
    from mgdsl.backends.draw import analyse
    from mgdsl.graph.cost import cost_of
    net = mgdsl.load(spec_file('network "S"\ninput 3 @ 8x8\nsigmoid gain=2\nfc 2\n'))
    (node,) = [r for r in net.graph.records() if r.kind == "sigmoid"]
    assert node.attrs == {"gain": 2} and cost_of(net.graph).other >= 3 * 8 * 8
    assert [c.kind for c in analyse(net.graph).columns if c.records and c.records[0].type == "sigmoid"] == ["conv"]
    model = net.build(optimize=False).eval()
    x = torch.randn(1, 3, 8, 8)
    expected = model.head.fc1.fc(torch.sigmoid(2 * x).flatten(1))
    assert torch.allclose(model(x), expected)
    with pytest.raises(mgdsl.MgError, match="gain 65 is absurdly large"):
        mgdsl.load(spec_file('network "S"\ninput 3 @ 8x8\nsigmoid gain=65\nfc 2\n'))
