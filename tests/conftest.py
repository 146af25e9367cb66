import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
                     help="also run the tests marked slow (CI runs a shorter version of each)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long version of a check whose short version always runs; "
                                       "run it with --run-slow or MGDSL_SLOW=1")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("MGDSL_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow (a shorter version of it runs always)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# The zoo beyond the paper (specs/beyond) counts at its references' input sizes; tests that run real
# forwards use a smaller input through each spec's `size` parameter (the counts are checked at full size).
# (and U-Net also narrower: 150G MACs at full size).
BEYOND_TEST_PARAMS = {"unet-2015": {"size": 252, "w": 16}}     # an unpadded U-Net needs 16k + 124 pixels


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
