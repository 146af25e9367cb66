"""What the language means: the graph each construct lowers to."""
import networkx as nx
import pytest

import mgdsl
from mgdsl.graph.cost import params_of
from mgdsl.graph.ir import validate

SMALL = '''# a comment line
network "SMALL" (n = 2, w = 8, classes = 10)   # parameters with defaults
input 3 @ 16x16
grids 16x16, 8x8, 4x4

conv w, w/2, w/4
n × conv on coarsest
n * mgconv on coarsest 2
mgconv 2w, w, w/2 kernel=3, 3, 1
pool
resmg
pool merge
pool merge
fc classes
'''


def kinds(net, layer):
    return [r.kind for r in net.graph.records() if r.layer == layer]


def test_graph_nodes_carry_what_downstream_needs():
    net = mgdsl.loads(SMALL, "small.mg")
    G = net.graph
    assert isinstance(G, nx.DiGraph) and nx.is_directed_acyclic_graph(G)
    conv = G.node("s1.conv1.g16.conv")
    a = conv.attrs
    assert (conv.kind, a["cin"], a["cout"], a["kernel"], a["stride"]) == ("conv", 3, 8, 3, 1)
    assert conv.shape == (8, 16, 16) and conv.grid == "16x16" and conv.section == "s1"
    assert conv.layer == "s1.conv1" and conv.layer_type == "conv" and conv.origin_type == "conv"
    assert (conv.span.line, conv.span.col) == (6, 1)
    # the stem of grid j reads the image average-pooled by 2^j
    assert G.node("input.g8").kind == "avgpool" and G.node("input.g8").attrs["kernel"] == 2
    assert G.node("s1.conv1.g8.conv").inputs == ("input.g8",)
    # the edges are derived from the inputs: one source of connectivity
    assert set(G.predecessors("s1.conv1.g16.bn")) == {"s1.conv1.g16.conv"}
    validate(G)
    assert net.output_shape == (10,) and net.input_shape == (3, 16, 16)


def test_repetition_and_on_restrict_layers_to_grids():
    G = mgdsl.loads(SMALL).graph
    layers = [(r.path, r.type, [s for s, _ in r.grids_in]) for r in G.info.layers]
    assert layers[1:5] == [("s1.conv2", "conv", [(4, 4)]), ("s1.conv3", "conv", [(4, 4)]),
                           ("s1.mgconv1", "mgconv", [(8, 8), (4, 4)]), ("s1.mgconv2", "mgconv", [(8, 8), (4, 4)])]
    # grids a layer does not act on are held unchanged
    assert G.info.layers[1].held == (((16, 16), 8), ((8, 8), 4))
    # each layer record names the nodes that hold the grids it leaves
    assert G.info.layers[1].outputs == ("s1.conv2.g4.relu",)


def test_mgconv_gathers_neighbours_in_order():
    G = mgdsl.loads(SMALL).graph
    cat = G.node("s1.mgconv3.g8.cat")
    # [2x2 max pool of the finer grid, the grid itself, x2 upsample of the coarser grid]
    assert [G.node(i).kind for i in cat.inputs] == ["maxpool", "relu", "upsample"]
    assert cat.shape == (8 + 4 + 2, 8, 8)
    # restricted to two grids, the finer of them has no finer neighbour
    assert [G.node(i).kind for i in G.node("s1.mgconv1.g8.cat").inputs] == ["relu", "upsample"]
    assert G.node("s1.mgconv3.g4.conv").attrs["kernel"] == 1


def test_sections_split_after_pools_and_merge_folds_the_coarsest_grid():
    G = mgdsl.loads(SMALL).graph
    assert [r.section for r in G.info.layers] == ["s1"] * 7 + ["s2", "s2", "s3", "head"]
    merge = G.node("s2.pool1.g4.merge")
    assert merge.kind == "concat" and merge.shape == (8 + 4, 2, 2)


def test_resmg_comes_from_the_prelude_and_pads_its_shortcut():
    net = mgdsl.loads(SMALL)
    assert kinds(net, "s2.resmg1").count("conv") == 6 and kinds(net, "s2.resmg1").count("add") == 3
    G = mgdsl.loads(SMALL.replace("resmg\n", "resmg 32, 16, 8\n")).graph
    assert G.node("s2.resmg1.add1.g4.pad").kind == "pad"


def test_user_units_bindings_concat_and_sections(spec_file):
    net = mgdsl.load(spec_file('''
unit twice(widths = same, k = 3):
    conv widths kernel=k
    conv widths kernel=k relu=off
    add in shortcut=proj
    relu

network "U" (w = 8)
input 1 @ 16x16
section enc
e1 = conv w
pool; conv 2w
section dec
upconv w
concat e1
twice w k=5
maps 3
'''))
    G = net.graph
    assert net.output_shape == (3, 16, 16)
    assert [r.section for r in G.info.layers] == ["enc"] * 3 + ["dec"] * 4
    cat = G.node("dec.concat1.g16.cat")
    assert cat.shape == (16, 16, 16) and cat.inputs[1] == "enc.conv1.g16.relu"
    assert G.node("dec.twice1.conv1.g16.conv").attrs["kernel"] == 5
    assert G.node("dec.twice1.add1.g16.proj").attrs["cin"] == 16      # projection shortcut 16 -> 8 channels


def test_parameters_override_from_api_and_derived_networks(tmp_path):
    (tmp_path / "fam.mg").write_text('network "FAM" (n = 1, w = 8)\ninput 3 @ 8x8\nn × conv w\nfc 2\n')
    (tmp_path / "member.mg").write_text('# a member of the family\nnetwork "MEMBER" from "fam.mg" (n = 3)\n')
    base, member = mgdsl.load(tmp_path / "fam.mg"), mgdsl.load(tmp_path / "member.mg")
    assert member.name == "MEMBER" and member.params == {"n": 3, "w": 8}
    assert len(member.graph.info.layers) == len(base.graph.info.layers) + 2
    wide = mgdsl.load(tmp_path / "member.mg", w=16)
    assert wide.graph.node("s1.conv3.g8.conv").attrs["cout"] == 16
    assert mgdsl.load(tmp_path / "member.mg", n="2").params["n"] == 2   # strings from --set


def test_imports_bring_units(tmp_path):
    (tmp_path / "lib.mg").write_text('unit double(width):\n    conv width\n    conv width\n')
    (tmp_path / "net.mg").write_text('import "lib.mg"\nnetwork "N"\ninput 3 @ 8x8\ndouble 4\nfc 2\n')
    net = mgdsl.load(tmp_path / "net.mg")
    assert "s1.double1.conv2.g8.conv" in net.graph


def test_params_are_counted_per_node():
    net = mgdsl.loads(SMALL)
    G = net.graph
    assert params_of(G, "s1.conv1.g16.conv") == 3 * 8 * 9 + 8
    assert params_of(G, "s1.conv1.g16.bn") == 16
    assert net.num_params == sum(params_of(G, n) for n in G)


def test_state_dict_keys_are_stable_and_named_after_layers():
    a = mgdsl.load("specs/pmg-16.mg").build().state_dict()
    b = mgdsl.load("specs/pmg-16.mg").build().state_dict()
    assert list(a) == list(b)
    assert "s1.conv1.g32.conv.weight" in a and "head.fc1.fc.weight" in a
    assert "s1.mgconv1.g16.conv.weight" in a


@pytest.mark.parametrize("selector, picked", [("on finest", [(16, 16)]), ("on coarsest 2", [(8, 8), (4, 4)]),
                                              ("on 16x16, 8x8", [(16, 16), (8, 8)])])
def test_selectors(selector, picked):
    G = mgdsl.loads(f'network "S"\ninput 3 @ 16x16\ngrids 3\nconv 4 {selector}\ndrop 2\nfc 2\n').graph
    assert [s for s, _ in G.info.layers[0].grids_in] == picked
