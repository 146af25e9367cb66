"""Multi-resolution networks in the manner of HRNet: the summing mg-conv reaching every grid (with the
grid itself as identity and a batch norm on every path), `grow` adding a coarser grid, `use NAME on
GRIDS` picking grids of a saved pyramid, units taking saved pyramids, and `add` matching grids by size."""
from __future__ import annotations

import pytest

import mgdsl
from mgdsl.errors import SpecNameError, SpecShapeError, SpecTypeError, SpecValueError
from mgdsl.graph.cost import cost_of

torch = pytest.importorskip("torch")
F = torch.nn.functional

EXCHANGE = """network "Exchange"
input 3 @ 16x16
grids 3
x = conv 4, 6, 8 bn=off relu=off
y = mgconv merge=sum reach=all self=identity down=conv upkernel=1 bn=each bias=off
outputs x, y
"""


def bn(t):
    return F.batch_norm(t, None, None, training=True)      # fresh BN: unit weight, zero bias


def test_the_exchange_unit_is_hrnets_fuse_written_by_hand():
    """Each grid i: relu(x_i + sum over finer j of a chain of i-j stride-2 3x3 convs (BN + ReLU between,
    at the finer width; BN last) + sum over coarser j of BN(1x1 conv) upsampled by 2^(j-i))."""
    net = mgdsl.loads(EXCHANGE)
    m = net.build(optimize=False).double().train()
    w = {k.replace("s1.mgconv1.", ""): v for k, v in m.state_dict().items() if "mgconv" in k}
    x0, x1, x2, *got = m(torch.randn(2, 3, 16, 16, dtype=torch.float64))

    def conv(g, name, t, stride=1, pad=1):
        return F.conv2d(t, w[f"{g}.{name}.weight"], stride=stride, padding=pad)

    want = [
        x0 + F.interpolate(bn(conv("g16", "upconv", x1, pad=0)), scale_factor=2)
           + F.interpolate(bn(conv("g16", "up2conv", x2, pad=0)), scale_factor=4),
        bn(conv("g8", "downconv", x0, stride=2)) + x1
        + F.interpolate(bn(conv("g8", "upconv", x2, pad=0)), scale_factor=2),
        bn(conv("g4", "down2conv2", F.relu(bn(conv("g4", "down2conv1", x0, stride=2))), stride=2))
        + bn(conv("g4", "downconv", x1, stride=2)) + x2,
    ]
    assert len(got) == 3
    for g, y in zip(got, want):
        torch.testing.assert_close(g, F.relu(y))


def test_the_exchange_computes_the_same_under_every_target_and_inference_pass():
    net = mgdsl.loads(EXCHANGE)
    torch.manual_seed(0)
    plain = net.build(optimize=False).double().eval()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        want = plain(x)
        for target in ("portable", "cpu", "cuda"):
            for inference in (False, True):
                other = net.build(target=target, inference=inference).double().eval()
                other.load_state_dict(plain.state_dict())
                torch.testing.assert_close(other(x), want, rtol=1e-9, atol=1e-9)


def test_reach_counts_steps_and_the_defaults_keep_the_neighbour_form():
    base = EXCHANGE.replace("reach=all ", "")
    near, two, full = (cost_of(mgdsl.loads(base.replace("merge=sum", f"merge=sum reach={r}")).graph).params
                       for r in (1, 2, 3))
    assert near < two == full                     # three grids: reach 2 already links the ends
    assert cost_of(mgdsl.loads(base).graph).params == near


def test_grow_adds_a_coarser_grid_from_the_coarsest():
    net = mgdsl.loads("""network "Grow"
input 3 @ 32x32
conv 8
grow 16 bias=off
grow
pool merge; pool merge
fc 10
""")
    first, second = [lay for lay in net.graph.info.layers if lay.type == "grow"]
    assert first.grids_out == (((32, 32), 8), ((16, 16), 16))
    assert second.grids_out == (((32, 32), 8), ((16, 16), 16), ((8, 8), 16))
    assert net.warnings == []
    convs = {n.id: n.attrs for n in net.graph.records() if n.kind == "conv" and n.origin_type == "grow"}
    assert [(a["cin"], a["cout"], a["kernel"], a["stride"], a["bias"]) for a in convs.values()] == \
        [(8, 16, 3, 2, False), (16, 16, 3, 2, True)]
    assert net.build()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_use_on_picks_grids_of_the_saved_pyramid_and_units_take_pyramids():
    net = mgdsl.loads("""network "Pick"
input 3 @ 32x32
grids 3
h = conv 8, 16, 32
unit fold(skip):
    conv expand=2 stride=2
    add skip shortcut=none
use h on finest; 2 × fold h
fc 10 pool=avg
""")
    assert net.warnings == []
    assert net.graph.info.layers[1].grids_out == (((32, 32), 8),)
    m = net.build()
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("body, error, match", [
    ("mgconv 8, 4 merge=sum self=identity", SpecValueError, "self=identity adds"),
    ("mgconv reach=all", SpecValueError, "reach=all needs a path per grid"),
    ("mgconv bn=each", SpecValueError, "bn=each needs a path per grid"),
    ("mgconv upkernel=1", SpecValueError, "upkernel=1 needs a path per grid"),
    ("mgconv merge=sum self=none on finest", SpecValueError, "nothing to sum"),
    ("mgconv merge=sum reach=far", SpecNameError, "unknown name 'far'"),
    ("mgconv merge=sum upkernel=2", SpecValueError, "kernel 2 is even"),
    ("mgconv merge=sum bn=maybe", SpecTypeError, "bn must be on, off or each"),
    ("pool; pool; pool; grow", SpecShapeError, "no coarser grid to grow"),
    ("gap", SpecShapeError, "after gap two grids have size 1x1"),
    ("h = conv 4, 4\nunit u(s):\n    conv s\nu h", SpecTypeError, "'h' is a saved pyramid here"),
    ("h = conv 4, 4\nunit u(s):\n    conv 2 * s\nu h", SpecTypeError, "'s' is a saved pyramid here"),
    ("x = drop\nuse x on coarsest 2", SpecShapeError, "cannot pick the coarsest 2 of 1"),
    ("x = drop\nuse x on 8x8", SpecShapeError, "there is no 8x8 grid here"),
    ("x = conv 4, 4\ny = drop\nuse x\nadd y shortcut=none", SpecShapeError, "cannot add a pyramid of 1 grids"),
])
def test_mistakes_get_located_errors(body, error, match):
    with pytest.raises(error, match=match):
        mgdsl.loads(f'network "Bad"\ninput 3 @ 16x16\ngrids 2\nconv 4, 4\n{body}\n')


def test_the_diagram_draws_a_grown_grid_from_the_grid_it_grew_from():
    from mgdsl.backends import draw
    net = mgdsl.loads("""network "Grow"
input 3 @ 32x32
conv 8
grow 16
pool merge
fc 10
""")
    layout = draw.analyse(net.graph)
    grown = next(b for c in layout.columns if c.kind == "conv" and c.records[0].type == "grow" for b in c.boxes
                 if b.size == (16, 16))
    tails = [e.tail for e in layout.edges if e.head is grown]
    assert [(t.size, t.channels) for t in tails] == [((32, 32), 8)] and tails[0].column < grown.column
