"""tools/check_function.py, the parts that run without torchvision: its plain-torch U-Net reference,
ported onto specs/beyond/unet-2015.mg by `Network.port_weights`, computes the spec's function (at a
small width and tile, so it runs in a second); its key maps for references that make their modules in another order
name each of the spec's entries at most once and no foreign name twice."""
import dataclasses
from pathlib import Path

import check_function as cf
import pytest
import torch

import mgdsl


def _reference_side() -> dict:
    """The reference environment's script, loaded here as a module (its main does not run)."""
    ns: dict = {"__name__": "reference_side"}
    exec(compile(cf.REFERENCE_SIDE, "reference_side.py", "exec"), ns)
    return ns


def test_the_plain_torch_unet_and_the_spec_compute_the_same_function(tmp_path):
    side = _reference_side()
    torch.manual_seed(0)
    case = dataclasses.replace(next(c for c in cf.CASES if c.spec == "beyond/unet-2015.mg"), sets={"w": "4", "size": "252"},
                               input=(1, 252, 252))
    file = tmp_path / "ref.pt"
    torch.save(side["reference_run"](side["draw"](side["UNet2015"](w=4)), case.input), file)
    row = cf.compare(case, file)
    assert row["ok"], row
    spec = mgdsl.load(cf.ROOT / "specs" / case.spec, case.sets).build(device="meta", optimize=False)
    assert row["error"] <= cf.RTOL and row["tensors"] == len(spec.state_dict())   # every entry ported


def test_a_reference_with_other_weights_is_told_apart(tmp_path):
    """The comparison can fail: a reference whose weights differ from what it computed is caught."""
    side = _reference_side()
    torch.manual_seed(0)
    case = dataclasses.replace(next(c for c in cf.CASES if c.spec == "beyond/unet-2015.mg"), sets={"w": "4", "size": "252"},
                               input=(1, 252, 252))
    ref = side["reference_run"](side["draw"](side["UNet2015"](w=4)), case.input)
    ref["state"]["head.weight"] = ref["state"]["head.weight"] * 1.01
    torch.save(ref, tmp_path / "ref.pt")
    row = cf.compare(case, tmp_path / "ref.pt")
    assert not row["ok"] and "differs by" in row["why"]


@pytest.mark.parametrize("case", [c for c in cf.CASES if c.key_map], ids=lambda c: Path(c.spec).stem)
def test_key_maps_are_one_to_one(case):
    ours = list(mgdsl.load(cf.ROOT / "specs" / case.spec).build(device="meta", optimize=False).state_dict())
    mapping = case.key_map(ours)
    assert mapping, "the key map names none of the spec's entries"
    assert set(mapping) <= set(ours)
    assert len(set(mapping.values())) == len(mapping), "two of the spec's entries take the same tensor"
