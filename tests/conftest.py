import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Under pytest-xdist (README's `-n 2`) the workers share the cores: each gets its part for torch's threads
# (read when torch is first imported, after this), or they would oversubscribe them (measured on 2 cores:
# 87 s with 2 threads a worker, 77 s with 1). A value set by the user wins.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))


@pytest.fixture
def spec_file(tmp_path):
    """Write spec text to a file and return its path."""
    def write(text: str, name: str = "t.mg") -> str:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return str(p)
    return write


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch):
    monkeypatch.chdir(ROOT)
    os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true",
                     help="also run the tests marked slow (.ci/run runs them; a shorter version of each runs always)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow(reason): a long version of a check whose short version always runs "
                                       "(say which in `reason`); run it with --run-slow or MGDSL_SLOW=1")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("MGDSL_SLOW") == "1":
        return
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            why = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "a shorter version of it runs always")
            item.add_marker(pytest.mark.skip(reason=f"slow ({why}): run with --run-slow, as .ci/run does"))


# -- sweeps with a short version -----------------------------------------------------------------------------
# A sweep over every spec runs a representative subset by default and the rest as slow tests. The subset is
# written down; a test of each sweep computes a feature set per spec (the statements its generated code is
# made of, the kinds of its nodes, ...) and asserts that the subset has every feature the whole zoo has, so
# a spec that brings something new fails that test until it joins the subset.
def short_sweep(items, subset, ids=None):
    """pytest params for every item of `items`; those outside `subset` are marked slow."""
    unknown = set(subset) - set(items)
    if unknown:
        raise ValueError(f"the representative subset names what the sweep does not have: {sorted(unknown)}")
    reason = "outside the sweep's representative subset, which runs always"
    return [pytest.param(x, id=None if ids is None else ids(x), marks=() if x in subset else pytest.mark.slow(reason=reason))
            for x in items]


def assert_covers(subset, items, features, what: str):
    """Every feature of any item is a feature of some item of `subset`; the message names what is missing
    and which items have it."""
    feats = {x: features(x) for x in items}
    have = set().union(*(feats[x] for x in subset))
    missing: dict = {}
    for x in items:
        for f in sorted(feats[x] - have, key=str):
            missing.setdefault(f, []).append(str(x))
    assert not missing, (f"the representative subset misses {len(missing)} {what}; add a spec that has them:\n" +
                         "\n".join(f"  {f}  (in {', '.join(xs[:3])}{' ...' if len(xs) > 3 else ''})"
                                    for f, xs in list(missing.items())[:20]))


def code_shapes(src: str) -> set[str]:
    """The statements of generated Python source with their particulars (names, numbers, comments) blanked:
    two specs whose code has the same shapes ran the same emitters and runtime sections."""
    if src.startswith('"""'):
        src = src.split('"""', 2)[2]               # the module docstring names the spec
    out = set()
    for line in src.splitlines():
        line = re.sub(r"\s+#.*$", "", line)                               # comments
        line = re.sub(r'"[^"]*"', '""', line)                             # module paths
        line = re.sub(r"(?<!=)'[^']*'", "''", line)                       # names; keyword values (mode='...') stay
        line = re.sub(r"\bt\d+\b", "t", line)                             # temporaries t1, t2, ...
        line = re.sub(r"\b\d+(\.\d+)?(e-?\d+)?\b", "N", line).strip()     # numbers
        if line:
            out.add(line)
    return out


# The zoo beyond the paper (specs/beyond) counts at its references' input sizes; tests that run real
# forwards use a smaller input through each spec's `size` parameter (the counts are checked at full size).
# (and U-Net also narrower: 150G MACs at full size).
BEYOND_TEST_PARAMS = {"unet-2015": {"size": 252, "w": 16},     # an unpadded U-Net needs 16k + 124 pixels
                      "inception-v3": {"size": 75}}            # its unpadded convs need 75 (as torchvision)


def small_params(path) -> dict:
    """The parameters that make a spec cheap enough for a real forward in CI (none for the paper's)."""
    p = Path(path)
    return BEYOND_TEST_PARAMS.get(p.stem, {"size": 64}) if "beyond" in p.parts else {}


# Every layer type and conv option that the paper's networks do not use, in one small network: grouped
# and depthwise convs, dilation, explicit and no padding (even kernels), each activation choice, stand-alone
# BN, bilinear resizing to a saved grid's size, centre-crop-and-concat, squeeze-and-excitation gates,
# global and adaptive average pooling, dropout, branches started from a saved pyramid, a grown grid and
# summing mg-convs that reach every grid (HRNet's exchange) or leave the grid itself out.
NEW_LAYERS = """network "LAYERS"
input 3 @ 32x32
grids 2
conv 8, 4
mgconv merge=sum down=conv up=convT bias=off
mgconv merge=sum down=avg up=bilinear act=gelu
mgconv down=avg up=bilinear
grow 8 bias=off
mgconv merge=sum reach=all self=identity down=conv upkernel=1 bn=each bias=off
mgconv 8, 4, 4 merge=sum reach=2 down=avg up=bilinear self=none act=silu
drop
x = mgconv 8, 8 act=silu groups=2
conv groups=depthwise dilation=2 act=relu6
conv 16 kernel=2 pad=1 bn=off act=hardswish on finest
pool on finest
bn
act gelu
u = upsample to=x mode=bilinear
use x
concat u
f = drop
use x; drop on finest; upsample 2 mode=bilinear; conv 6 pad=0
concat f crop=on
y = conv 8 kernel=1
g = gap; conv 4 kernel=1 bn=off act=silu; conv 8 kernel=1 bn=off act=sigmoid
use y; scale g
dropout 0.25
p = gap to=4
use y; upsample to=p mode=bilinear
concat p, p
fc 5 pool=avg
"""


TARGETS = ({"target": "cpu"}, {"target": "cuda"}, {"target": "portable"}, {"inference": True})


def assert_targets_agree(net, options=TARGETS, seed: int = 0):
    """Every target and pass of `options` computes what build(optimize=False) computes, in float64."""
    import torch
    torch.manual_seed(seed)
    plain = net.build(optimize=False).double().eval()
    x = torch.randn(2, *net.input_shape, dtype=torch.float64)
    for opts in options:
        other = net.build(**opts).double().eval()
        other.load_state_dict(plain.state_dict())
        torch.testing.assert_close(other(x), plain(x), rtol=1e-9, atol=1e-9)


def at(e, line, col=None):
    """The error `e`, after asserting that it points at `line` (and `col`, when given)."""
    assert e.span is not None and e.span.line == line and (col is None or e.span.col == col), e.report()
    return e
