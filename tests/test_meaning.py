"""Nothing a spec says is ignored or misread: every option a layer accepts changes the graph or is
refused where it is written, names resolve where they are written (lexical scope), every word the
layers read as a value is reserved in any spelling, and the limits bound what a spec can ask for
(channels and graph edges as well as ops and calls). Each case here was accepted silently, or
escaped as a traceback, before the change that tests it."""
from __future__ import annotations

import time

import pytest
from conftest import at

import mgdsl
from mgdsl.errors import MgError, SpecNameError, SpecShapeError, SpecTypeError, SpecValueError
from mgdsl.graph.layer_api import LAYERS, REQUIRED, SWITCH, SameAs

NET = 'network "T" (w = 8)\ninput 3 @ 32x32\n'


def error(spec_file, text, cls=MgError):
    with pytest.raises(MgError) as info:
        mgdsl.load(spec_file(text))
    e = info.value
    assert isinstance(e, cls), e.report()
    return e


# -- names resolve where they are written ---------------------------------------------------------------
def test_a_unit_argument_is_looked_up_where_the_unit_is_used(spec_file):
    # the caller has no `x`; the unit's own `x` used to answer for it, giving a different network
    text = NET + "unit f(t):\n    x = conv\n    add t\nconv 8\nf x\nfc 2\n"
    e = at(error(spec_file, text, SpecNameError), 7, 3)
    assert "where this unit is used" in e.message and e.notes[-1][1].line == 7


def test_in_at_the_top_level_is_not_the_units_input(spec_file):
    text = NET + "unit f(t):\n    add t\nconv 8\nf in\nfc 2\n"
    at(error(spec_file, text, SpecNameError), 6, 3)


def test_a_list_of_pyramids_passed_to_a_unit_is_the_callers(spec_file):
    # `concat t` inside the unit joins the caller's a and b, not the unit's own pyramids of those names
    unit = "unit f(t):\n    a = conv 2\n    b = conv 2\n    use in\n    concat t\n"
    net = mgdsl.load(spec_file(NET + unit + "a = conv 3\nb = conv 5\nf a, b\nfc 2\n"))
    (cat,) = [r for r in net.graph.records() if r.kind == "concat"]
    assert cat.shape[0] == 5 + 3 + 5
    assert [net.graph.node(i).layer for i in cat.inputs] == ["s1.conv2", "s1.conv1", "s1.conv2"]


def test_a_pyramid_passed_through_two_units_stays_the_callers(spec_file):
    units = "unit inner(t):\n    add t\nunit outer(t):\n    t2 = conv 3\n    inner t\n"
    net = mgdsl.load(spec_file(NET + units + "s = conv 3\nouter s\nfc 2\n"))
    (add,) = [r for r in net.graph.records() if r.kind == "add"]
    assert net.graph.node(add.inputs[1]).layer == "s1.conv1"


def test_value_words_still_pass_into_units(spec_file):
    net = mgdsl.load(spec_file(NET + "unit f(b):\n    conv 4 bias=b\nf Off\nfc 2\n"))
    assert not net.graph.node("s1.f1.conv1.g32.conv").attrs["bias"]


# -- every value word is reserved, in any spelling --------------------------------------------------------
@pytest.mark.parametrize("word", ["depthwise", "convT", "CONVT", "Off", "Same", "each", "all"])
def test_parameters_cannot_take_a_value_words_name(spec_file, word):
    e = at(error(spec_file, f'network "T" ({word} = 4)\ninput 8 @ 32x32\nconv 8 groups=depthwise\nfc 2\n',
                 SpecNameError), 1, 14)
    assert "cannot be called" in e.message
    at(error(spec_file, f"unit u({word} = 1):\n    conv\n" + NET + "u\nfc 2\n", SpecNameError), 1, 8)


@pytest.mark.parametrize("word", ["off", "Merge", "depthwise"])
def test_saved_pyramids_cannot_take_a_value_words_name(spec_file, word):
    at(error(spec_file, NET + f"{word} = conv 8\nfc 2\n", SpecNameError), 3, 1)


# -- options that other options make meaningless are refused where they are written -----------------------
MG = 'network "T"\ninput 8 @ 32x32\ngrids 2\n'


@pytest.mark.parametrize("call, col", [
    ("mgconv 8, 4 merge=sum groups=5", 30),                 # accepted though 5 divides no width
    ("mgconv 8, 4 merge=sum groups=depthwise", 30),         # counted like a dense conv
    ("mgconv merge=sum up=convT upkernel=1", 36),
])
def test_mgconv_options_that_a_summing_mgconv_ignores(spec_file, call, col):
    e = at(error(spec_file, MG + call + "\npool merge\nfc 2\n", SpecTypeError), 4, col)
    assert "merge=concat" in e.message or "up=nearest" in e.message


def test_upsample_factor_beside_to(spec_file):
    e = at(error(spec_file, NET + "x = conv 8\npool\nupsample factor=4 to=x\nfc 2\n", SpecTypeError), 5, 17)
    assert "factor" in e.message and e.hint


def test_add_bias_without_a_projection(spec_file):
    at(error(spec_file, NET + "x = conv 8\nconv 8\nadd x bias=on\nfc 2\n", SpecTypeError), 5, 12)


def test_on_where_a_layer_reads_no_active_grid(spec_file):
    e = at(error(spec_file, NET + "grids 2\nx = conv 8\noutputs x on finest\n", SpecTypeError), 5, 14)
    assert "on" in e.message


def _records(net):
    return [(r.id, r.kind, r.inputs, r.shape, dict(r.attrs)) for r in net.graph.records()]


# For each built-in layer type: calls in a context that gives every option something to act on; the
# test then gives each option each other value it takes, one at a time.
CONTEXT = 'network "T"\ninput 8 @ 32x32\ngrids 2\nf = conv 8 on finest\ng = use f on coarsest; conv 4; gap\n' \
    'use f\ns = conv 8, 4\n'
LINE = CONTEXT.count("\n") + 1
CALLS = {
    "conv": ["conv", "conv 8, 4", "conv expand=2", "conv pad=1"], "grow": ["grow"],
    "mgconv": ["mgconv", "grow; mgconv merge=sum", "grow; mgconv merge=sum down=conv", "grow; mgconv merge=sum up=convT",
               "grow; mgconv merge=sum reach=all self=identity", "grow; mgconv merge=sum down=avg up=bilinear"],
    "pool": ["pool", "pool merge", "pool drop", "pool type=avg"], "drop": ["drop", "drop on finest"],
    "upsample": ["upsample", "upsample to=s"], "crop": ["crop s"], "use": ["use s", "use s on finest"],
    "bn": ["bn"], "act": ["act gelu"], "dropout": ["dropout 0.5"], "scale": ["scale g on coarsest"],
    "gap": ["gap on coarsest"], "upconv": ["upconv"], "concat": ["concat s", "conv 8 pad=0 on finest; concat s crop=on"],
    "add": ["add s", "add s shortcut=proj", "conv 16, 8 stride=2; add s shortcut=proj"], "relu": ["relu"],
    "fc": ["pool merge; fc 4", "drop; fc 4", "fc 4 pool=avg on finest"], "maps": ["drop; maps 3"], "outputs": ["outputs s"],
    "ln": ["ln"], "gn": ["gn 2"], "layerscale": ["layerscale"], "droppath": ["droppath 0.1"], "shuffle": ["shuffle 2"],
    "flatten": ["drop; flatten"], "chunk": ["chunk 2", "chunk 4 take=2"], "slice": ["slice 4", "slice 4, 2 start=1"],
}
# A shortcut says how to bridge a change of shape; where the shapes match there is nothing to bridge,
# and units rely on that (ResNet's bottleneck projects only in the blocks that change the shape).
# Likewise a projection's bias, and cropping grids that already have the partner's size.
SHAPE_DEPENDENT = {("add s", "shortcut"), ("add s shortcut=proj", "bias"), ("concat s", "crop")}
# values that spell out what the layer does anyway: act=relu is the default activation, a pool's
# stride defaults to its kernel
# (and ceil mode is on for an unpadded max pool, off for an average pool)
SAME_AS_DEFAULT = {("*", "act", "relu"), ("*", "stride", "2"), ("pool", "ceil", "on"), ("pool merge", "ceil", "on"),
                   ("pool drop", "ceil", "on"), ("pool type=avg", "ceil", "off")}
VALUES = {"widths": ["16", "8, 8"], "kernel": ["1", "5", "1x3"], "stride": ["2", "1", "3", "1x2"], "pad": ["0", "2", "1x0"],
          "dilation": ["2"], "groups": ["2", "depthwise"], "expand": ["2", "0.5"], "count": ["1", "2"],
          "factor": ["4"], "to": ["s"], "reach": ["2", "all"], "upkernel": ["1", "5"], "classes": ["7"],
          "p": ["0.25"], "tensor": ["s"], "crop": ["on"], "fn": ["relu", "silu"], "eps": ["0.001"],
          "momentum": ["0.01"], "init": ["0.5"], "take": ["2"], "start": ["2"]}


def _alternatives(call, p):
    words = list(p.choices) or VALUES.get(p.name, [])
    if isinstance(p.default, bool) or p.name in ("bn", "relu", "bias", "crop", "ceil"):
        words = [*words, "on", "off"]
    return [w for w in dict.fromkeys(words) if str(p.default).lower() != w.lower()
            and not (isinstance(p.default, bool) and SWITCH.get(w) == p.default)
            and not ((p.default is None or isinstance(p.default, SameAs))
                     and {("*", p.name, w), (call, p.name, w)} & SAME_AS_DEFAULT)]


def test_every_layer_type_has_calls_here():
    assert set(CALLS) == set(LAYERS)


@pytest.mark.parametrize("ltype", sorted(LAYERS))
def test_every_option_changes_the_graph_or_is_refused_where_it_is_written(spec_file, ltype):
    tried = 0
    for call in CALLS[ltype]:
        head = "" if LAYERS[ltype].head else "\nfc 2" if ltype == "flatten" else "\nfc 2 pool=avg on finest"
        base = _records(mgdsl.load(spec_file(CONTEXT + call + head)))
        for p in LAYERS[ltype].params:
            if p.default is REQUIRED or (call, p.name) in SHAPE_DEPENDENT:
                continue
            for value in _alternatives(call, p):
                line = f"{call} {p.name}={value}"
                tried += 1
                text = CONTEXT + line + head
                try:
                    got = _records(mgdsl.load(spec_file(text)))
                except MgError as e:
                    # refused on the line that says it (the option's own place, or the layer's)
                    assert e.span is not None and e.span.line == LINE, f"{line}: {e.report()}"
                    continue
                assert got != base, f"`{line}` lowers to the same graph as `{call}`: {p.name}={value} is ignored"
    assert tried or all(p.default is REQUIRED for p in LAYERS[ltype].params)


# -- flat vectors where grids are needed -------------------------------------------------------------------
@pytest.mark.parametrize("tail, line, col", [
    ("use x\nconcat f", 6, 8), ("upsample to=x", 5, 1), ("use x\nupsample to=f", 6, 13),
    ("use x\nconcat f crop=on", 6, 8), ("use x\ncrop f", 6, 6),
])
def test_a_flat_vector_where_a_grid_is_needed(spec_file, tail, line, col):
    e = at(error(spec_file, NET + "x = conv 8\nf = fc 10\n" + tail + "\nfc 2\n", SpecShapeError), line, col)
    assert "flat vector" in e.message


def test_a_concat_with_no_grid_of_the_same_size(spec_file):
    # used to add the saved grid as a second grid, failing two lines later with a hint to drop it
    e = at(error(spec_file, NET + "x = conv 8\npool\nconcat x\nconv 8\nfc 2\n", SpecShapeError), 5, 8)
    assert "nothing to concatenate" in e.message
    # a partner for some grid is enough: the others pass through (U-MG's skips)
    assert mgdsl.load("specs/mnist/u-mg-11-seg.mg")


# -- limits bound channels and edges -----------------------------------------------------------------------
def test_expand_is_held_to_the_width_limit(spec_file):
    e = at(error(spec_file, NET + "conv expand=400000\nfc 2\n", SpecValueError), 3, 13)
    assert "limited" in e.message


def test_concatenating_a_pyramid_with_itself_is_held_to_the_channel_limit(spec_file):
    text = NET + "unit dbl():\n    x = relu\n    concat x\n" + "conv 8\n60 × dbl\nfc 2\n"
    e = error(spec_file, text, SpecValueError)
    assert "channels are limited" in e.message


def test_a_spec_that_makes_millions_of_edges_stops_at_the_edge_limit(spec_file):
    # 1000 saved pyramids concatenated 40,000 times: 40M edges, 46 s and a MemoryError before the limit
    saves = "".join(f"a{i} = use x\n" for i in range(1000))
    names = ", ".join(f"a{i}" for i in range(1000))
    text = NET + "x = conv 1\n" + saves + 4 * f"10000 × concat {names}\n" + "fc 2\n"
    assert len(text) < 80_000
    start = time.process_time()
    e = error(spec_file, text, SpecValueError)
    assert "inputs in all" in e.message and time.process_time() - start < 10


# -- messages that say what is wrong -----------------------------------------------------------------------
@pytest.mark.parametrize("value, col, shown", [("1e6", 6, "1000000"), ("2.5E3", 6, "2500"), ("1e-1", 6, "0.1")])
def test_scientific_notation_is_a_located_error_that_says_so(spec_file, value, col, shown):
    e = at(error(spec_file, NET + f"conv {value}\nfc 2\n", SpecValueError), 3, col)
    assert "scientific notation" in e.message and shown in e.hint


def test_a_name_like_an_exponent_scales_when_it_is_a_parameter(spec_file):
    net = mgdsl.load(spec_file('network "T" (e3 = 4)\ninput 3 @ 32x32\nconv 2e3\nfc 2\n'))
    assert net.graph.node("s1.conv1.g32.conv").attrs["cout"] == 8


def test_a_second_value_without_a_name_says_which_name_it_needs(spec_file):
    unit = "unit se(c, s = 4):\n    conv c\n"
    e = at(error(spec_file, unit + NET + "conv 8\nse 64 16 2\nfc 2\n", SpecTypeError), 6, 10)
    assert "se takes 2 values without a name, but 2 follows" in e.message      # a unit's go in order
    e = at(error(spec_file, NET + "conv 8 3 (1)\nfc 2\n", SpecTypeError), 3, 8)
    assert "kernel=3" in e.message
    at(error(spec_file, NET + "relu 8 3\nfc 2\n", SpecTypeError), 3, 6)


@pytest.mark.parametrize("value, ok", [("3", 3), ("-2", -2), ("0.5", 0.5), ("off", "off"), ("1e6", None),
                                       ("1_000", None), ("2w", None), ("1.5e-3", None)])
def test_set_takes_the_values_a_spec_can_hold(value, ok):
    # `--set w=1e6` used to be read by Python's float (1000000.0), as were 1_000, inf and nan
    from mgdsl.errors import UsageError
    from mgdsl.graph.bind import given_value
    if ok is None:
        with pytest.raises(UsageError, match="not a value a spec can hold"):
            given_value(value, "w")
    else:
        assert given_value(value, "w") == ok


def test_set_names_cannot_collide_with_the_loaders_own_arguments(capsys):
    # --set path=3 used to crash cost and compile with a TypeError (exit 70)
    from mgdsl.cli import main
    for command in (["cost"], ["compile"], ["check", "--format", "json"]):
        assert main([*command, "specs/vgg-6.mg", "--set", "path=3"]) == 1
        out = capsys.readouterr()
        assert "has no parameter 'path'" in out.out + out.err
