"""Do the specs compute the same function as the code they reproduce?

For every `specs/beyond` network with a reference implementation (torchvision, timm, or a plain-torch
module written here), the reference is built with random weights (batch norm's statistics and affine
parameters drawn too, so that no layer is an identity), run in eval mode on a random input, and its
weights are ported onto the spec with `mgdsl port`'s matching (`Network.port_weights`: in order, shapes
checked). The spec's module, built the way users build it, must then give the reference's outputs:
|ours - theirs| <= rtol x (the largest |theirs|) for every output, rtol 1e-4.

torchvision does not import beside the CPU build of torch that mgdsl's own environment uses, so the
references run in a separate virtual environment, made on request (nothing is installed unless you ask):

    python tools/check_function.py --setup                  # makes .venv-ref/ (torch, torchvision, timm)
    python tools/check_function.py [--only resnet-18 ...] [--markdown]

Only tensors cross between the two environments (a file written by `torch.save` and read back with
`weights_only=True`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-ref"
RTOL = 1e-4

# what the reference environment gets, by machine: a torch that torchvision imports beside, and timm
PACKAGES = {
    "x86_64": ["torch==2.14.1", "torchvision==0.29.1", "timm==1.0.31"],
    "aarch64": ["torch==2.9.1", "torchvision==0.24.1", "timm==1.0.31"],
}


@dataclass
class Case:
    spec: str                                   # under specs/
    reference: str                              # a Python expression, evaluated in the reference environment
    source: str                                 # what it is, for the table
    input: tuple[int, ...]                      # one sample's shape
    outputs: str = "y"                          # an expression of `y` (the reference's result) giving a list
    sets: dict[str, str] = field(default_factory=dict)
    key_map: Callable[[list[str]], dict[str, str]] | None = None   # ours -> theirs, where the orders differ


# -- key maps: where a reference makes its modules in another order than the spec's forward ------------------------

def _renamed(keys: list[str], rules: list[tuple[str, Callable[[re.Match], str]]]) -> dict[str, str]:
    """Each of our keys that a rule's pattern matches whole, mapped to the rule's name for it."""
    out = {}
    for key in keys:
        for pattern, name in rules:
            m = re.fullmatch(pattern, key)
            if m:
                out[key] = name(m)
                break
    return out


def fpn_keys(keys: list[str]) -> dict[str, str]:
    """torchvision makes the FPN's 1x1 laterals finest first; the spec meets them coarsest first."""
    return _renamed(keys, [(r"s2\.lateral(\d)\.conv1\.g\d+\.conv\.(\w+)",
                            lambda m: f"fpn.inner_blocks.{4 - int(m[1])}.0.{m[2]}")])


def convnext_keys(keys: list[str]) -> dict[str, str]:
    """torchvision's ConvNeXt block holds its layer scale itself, so the scale comes before the block's
    layers in its state_dict; the spec meets it after them. Block k of the spec (1-based, over all
    stages) is features[1 + 2 * stage][index] there."""
    depths, place = (3, 3, 27, 3), {}
    for stage, depth in enumerate(depths):
        for i in range(depth):
            place[len(place) + 1] = f"features.{1 + 2 * stage}.{i}"
    return _renamed(keys, [(r"s1\.block(\d+)\.layerscale1\.g\d+\.scale\.weight",
                            lambda m: f"{place[int(m[1])]}.layer_scale")])


def squeezenet_keys(keys: list[str]) -> dict[str, str]:
    """torchvision's fire module makes its 1x1 expansion before its 3x3 one; the spec computes the 3x3
    first (to concatenate it after the 1x1). The fire modules are features[3, 4, 5, 7, 8, 9, 10, 12]."""
    fires = list(dict.fromkeys(m[1] for k in keys if (m := re.match(r"(s\d+\.fire\d+)\.", k))))
    at = dict(zip(fires, (3, 4, 5, 7, 8, 9, 10, 12)))
    part = {"conv2": "expand3x3", "conv3": "expand1x1"}
    return _renamed(keys, [(r"(s\d+\.fire\d+)\.(conv2|conv3)\.g\d+\.conv\.(weight|bias)",
                            lambda m: f"features.{at[m[1]]}.{part[m[2]]}.{m[3]}")])


HRNET_BRANCH = {"56": 0, "28": 1, "14": 2, "7": 3}          # hrnet_w18_small's grids at 224 x 224


def hrnet_keys(keys: list[str]) -> dict[str, str]:
    """timm's HRNet holds each stage's branches one after another (every unit of the finest grid first),
    its exchange as fuse_layers[to][from], and the head's pieces by kind; the spec runs each layer on
    every grid in turn."""
    b = HRNET_BRANCH
    leaf = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
    return _renamed(keys, [
        (rf"stage2\.conv1\.g56\.(conv|bn)\.{leaf}",
         lambda m: f"transition1.0.{'01'[m[1] == 'bn']}.{m[2]}"),
        (rf"stage(\d)\.grow1\.g(\d+)\.(conv|bn)\.{leaf}",
         lambda m: f"transition{int(m[1]) - 1}.{b[m[2]]}.0.{'01'[m[3] == 'bn']}.{m[4]}"),
        (rf"stage(\d)\.stage1\.res(\d)\.conv(\d)\.g(\d+)\.(conv|bn)\.{leaf}",
         lambda m: f"stage{m[1]}.0.branches.{b[m[4]]}.{int(m[2]) - 1}.{m[5]}{m[3]}.{m[6]}"),
        (rf"stage(\d)\.stage1\.mgconv1\.g(\d+)\.up(\d?)(conv|bn)\.{leaf}",
         lambda m: f"stage{m[1]}.0.fuse_layers.{b[m[2]]}.{b[m[2]] + int(m[3] or 1)}.{'01'[m[4] == 'bn']}.{m[5]}"),
        (rf"stage(\d)\.stage1\.mgconv1\.g(\d+)\.down(conv|bn)\.{leaf}",
         lambda m: f"stage{m[1]}.0.fuse_layers.{b[m[2]]}.{b[m[2]] - 1}.0.{'01'[m[3] == 'bn']}.{m[4]}"),
        (rf"stage(\d)\.stage1\.mgconv1\.g(\d+)\.down(\d)(conv|bn)(\d)\.{leaf}",
         lambda m: f"stage{m[1]}.0.fuse_layers.{b[m[2]]}.{b[m[2]] - int(m[3])}.{int(m[5]) - 1}."
                   f"{'01'[m[4] == 'bn']}.{m[6]}"),
        (rf"head\.bottleneck1\.conv(\d)\.g(\d+)\.(conv|bn)\.{leaf}",
         lambda m: f"incre_modules.{b[m[2]]}.0.{m[3]}{m[1]}.{m[4]}"),
        (rf"head\.bottleneck1\.add1\.g(\d+)\.(proj|projbn)\.{leaf}",
         lambda m: f"incre_modules.{b[m[1]]}.0.downsample.{'01'[m[2] == 'projbn']}.{m[3]}"),
    ])


CASES = [
    Case("beyond/resnet-18.mg", "tv.models.resnet18()", "torchvision resnet18()", (3, 224, 224)),
    Case("beyond/resnext-50-32x4d.mg", "tv.models.resnext50_32x4d()", "torchvision resnext50_32x4d()",
         (3, 224, 224)),
    Case("beyond/convnext-small.mg", "tv.models.convnext_small()", "torchvision convnext_small()", (3, 224, 224),
         key_map=convnext_keys),
    Case("beyond/squeezenet-1.0.mg", "tv.models.squeezenet1_0()", "torchvision squeezenet1_0()", (3, 224, 224),
         key_map=squeezenet_keys),
    Case("beyond/efficientnet-v2-s.mg", "tv.models.efficientnet_v2_s()", "torchvision efficientnet_v2_s()",
         (3, 384, 384)),
    Case("beyond/mobilenet-v3-small.mg", "tv.models.mobilenet_v3_small()", "torchvision mobilenet_v3_small()",
         (3, 224, 224)),
    Case("beyond/shufflenet-v2-x0.5.mg", "tv.models.shufflenet_v2_x0_5()", "torchvision shufflenet_v2_x0_5()",
         (3, 224, 224)),
    Case("beyond/mobilenet-v2.mg", "tv.models.mobilenet_v2()", "torchvision mobilenet_v2()", (3, 224, 224)),
    Case("beyond/efficientnet-b0.mg", "tv.models.efficientnet_b0()", "torchvision efficientnet_b0()", (3, 224, 224)),
    Case("beyond/deeplabv3-resnet50.mg",
         "tv.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, "
         "aux_loss=False)", "torchvision deeplabv3_resnet50(num_classes=21, aux_loss=False)", (3, 512, 512),
         outputs="[y['out']]"),
    Case("beyond/fpn-resnet-18.mg",
         "tv.models.detection.backbone_utils.resnet_fpn_backbone(backbone_name='resnet18', weights=None, "
         "norm_layer=torch.nn.BatchNorm2d, trainable_layers=5)",
         "torchvision resnet_fpn_backbone('resnet18', norm_layer=BatchNorm2d)", (3, 224, 224),
         outputs="list(y.values())", key_map=fpn_keys),
    Case("beyond/hrnet-w18-small.mg", "timm.create_model('hrnet_w18_small', pretrained=False)",
         "timm hrnet_w18_small", (3, 224, 224), key_map=hrnet_keys),
    Case("beyond/inception-v3.mg", "tv.models.inception_v3(weights=None, aux_logits=False, init_weights=False)",
         "torchvision inception_v3(aux_logits=False, init_weights=False)", (3, 299, 299)),
    Case("beyond/ghostnet-100.mg", "timm.create_model('ghostnet_100', pretrained=False)", "timm ghostnet_100",
         (3, 224, 224)),
    Case("beyond/dla46-c.mg", "timm.create_model('dla46_c', pretrained=False)", "timm dla46_c", (3, 224, 224)),
    Case("beyond/unet-2015.mg", "UNet2015()", "plain torch (`UNet2015` in the tool)", (1, 572, 572)),
]

# Runs in the reference environment: builds each case's reference, draws its weights, runs it once.
REFERENCE_SIDE = r'''
import json, sys
import torch
from torch import nn

class UNet2015(nn.Module):
    """The original U-Net (Ronneberger et al. 2015): unpadded 3x3 convs with ReLU, 2x2 max pools, 2x2
    up-convolutions halving the channels, centre-cropped skips concatenated after the upsampled maps (the
    spec's order), a 1x1 conv to 2 class maps."""
    def __init__(self, w=64, classes=2):
        super().__init__()
        def twice(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.ReLU(), nn.Conv2d(cout, cout, 3), nn.ReLU())
        widths = [w, 2 * w, 4 * w, 8 * w, 16 * w]
        self.down = nn.ModuleList()
        cin = 1
        for c in widths:
            self.down.append(twice(cin, c))
            cin = c
        self.up = nn.ModuleList()               # each step: its up-convolution, then its two convs
        for c in reversed(widths[:-1]):
            self.up.append(nn.ModuleList([nn.ConvTranspose2d(2 * c, c, 2, stride=2), twice(2 * c, c)]))
        self.head = nn.Conv2d(w, classes, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
        for (upconv, merge), skip in zip(self.up, reversed(skips)):
            x = upconv(x)
            dh, dw = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
            x = merge(torch.cat([x, skip[:, :, dh:dh + x.shape[2], dw:dw + x.shape[3]]], 1))   # as the spec's `concat`
        return self.head(x)

def build(expr):
    import torchvision as tv  # noqa: F401  (the expressions use it)
    try:
        import timm  # noqa: F401
    except ImportError:
        pass
    return eval(expr)

def draw(model):
    """Random batch-norm statistics and affine parameters, and layer scales of order 1 (ConvNeXt starts
    them at 1e-6, which would hide its residual branches); the convs keep torch's random init."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.rsplit(".", 1)[-1] in ("layer_scale", "gamma"):
                p.uniform_(0.5, 1.5)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                if m.affine:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.normal_(0, 0.1)
    return model.eval()


def reference_run(model, input_shape, outputs="y"):
    """What the other side needs: the weights, the input and the outputs, tensors only."""
    x = torch.randn(1, *input_shape)
    with torch.no_grad():
        y = model(x)
    outs = eval(outputs, {"y": y})
    outs = [outs] if isinstance(outs, torch.Tensor) else list(outs)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"state": state, "input": x, "outputs": outs,
            "params": torch.tensor(sum(p.numel() for p in model.parameters()))}


def main(job):
    torch.manual_seed(0)
    for case in job["cases"]:
        torch.save(reference_run(draw(build(case["reference"])), case["input"], case["outputs"]), case["file"])
        print(case["spec"], "done", flush=True)


if __name__ == "__main__":
    main(json.load(open(sys.argv[1])))
'''


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def setup(venv: Path) -> None:
    packages = PACKAGES.get(platform.machine())
    if packages is None:
        sys.exit(f"no known torch/torchvision pair for {platform.machine()}: make {venv} by hand "
                 "(torch, a torchvision that imports beside it, timm)")
    print(f"making {venv} with {' '.join(packages)} (a few GB)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv_python(venv)), "-m", "pip", "install", "--quiet", *packages], check=True)


def run_references(cases: list[Case], venv: Path, work: Path) -> dict[str, Path]:
    files = {c.spec: work / f"{i}.pt" for i, c in enumerate(cases)}
    job = {"cases": [{"spec": c.spec, "reference": c.reference, "input": list(c.input), "outputs": c.outputs,
                      "file": str(files[c.spec])} for c in cases]}
    (work / "job.json").write_text(json.dumps(job))
    script = work / "reference_side.py"
    script.write_text(REFERENCE_SIDE)
    env = dict(os.environ, PYTHONPATH="")            # nothing of this checkout in the other environment
    subprocess.run([str(venv_python(venv)), str(script), str(work / "job.json")], check=True, env=env)
    return files


def _flat(y) -> list:
    import torch
    if isinstance(y, torch.Tensor):
        return [y]
    if isinstance(y, dict):
        return [t for v in y.values() for t in _flat(v)]
    return [t for v in y for t in _flat(v)]


def compare(case: Case, file: Path) -> dict:
    """Port the reference's weights onto the spec and compare outputs; a row of the table."""
    import torch

    import mgdsl
    from mgdsl.errors import MgError
    ref = torch.load(file, map_location="cpu", weights_only=True)
    net = mgdsl.load(ROOT / "specs" / case.spec, case.sets)
    row = {"spec": case.spec, "reference": case.source, "input": "x".join(map(str, case.input)),
           "tensors": len(ref["state"]), "params": int(ref["params"])}
    try:
        ours = list(net.build(device="meta", optimize=False).state_dict())
        state = net.port_weights(ref["state"], case.key_map(ours) if case.key_map else None)
    except MgError as e:
        return row | {"ok": False, "why": f"port: {e.message}"}
    model = net.build().eval()
    model.load_state_dict(state)
    with torch.inference_mode():
        ours = _flat(model(ref["input"]))
    theirs = ref["outputs"]
    if len(ours) != len(theirs):
        return row | {"ok": False, "why": f"{len(ours)} outputs, the reference gives {len(theirs)}"}
    worst = 0.0
    for a, b in zip(ours, theirs):
        if tuple(a.shape) != tuple(b.shape):
            return row | {"ok": False, "why": f"output shape {tuple(a.shape)}, the reference's {tuple(b.shape)}"}
        scale = float(b.abs().max()) or 1.0
        worst = max(worst, float((a - b).abs().max()) / scale)
    return row | {"ok": worst <= RTOL, "error": worst, "why": "" if worst <= RTOL else f"differs by {worst:.2e}"}


def table(rows: list[dict]) -> str:
    out = ["| spec | reference | input | tensors ported | params | largest difference / output scale | same function |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        err = f"{r['error']:.1e}" if "error" in r else "-"
        out.append(f"| `{r['spec']}` | {r['reference']} | {r['input']} | {r['tensors']} | {r['params']:,} | {err} | "
                   f"{'yes' if r['ok'] else 'NO: ' + r['why']} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setup", action="store_true", help=f"make the reference environment ({VENV.name}/) and stop")
    p.add_argument("--venv", type=Path, default=VENV, help=f"the reference environment (default {VENV.name}/)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these specs (file names without .mg)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown (for docs/)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = p.parse_args(argv)
    if args.setup:
        setup(args.venv)
        return 0
    if not venv_python(args.venv).exists():
        print(f"no reference environment at {args.venv}: run `python tools/check_function.py --setup` once "
              "(it installs torch, torchvision and timm there)", file=sys.stderr)
        return 2
    cases = [c for c in CASES if not args.only or Path(c.spec).stem in args.only]
    if not cases:
        print(f"--only matches none of: {', '.join(Path(c.spec).stem for c in CASES)}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        files = run_references(cases, args.venv, Path(tmp))
        rows = []
        for c in cases:
            rows.append(compare(c, files[c.spec]))
            r = rows[-1]
            print(f"{c.spec}: {'same function' if r['ok'] else 'DIFFERENT: ' + r['why']}"
                  + (f" (largest difference {r['error']:.1e} of the output scale)" if "error" in r else ""), flush=True)
    print(f"{sum(r['ok'] for r in rows)} of {len(rows)} compute their reference's function "
          f"({time.perf_counter() - start:.0f} s)")
    if args.markdown:
        print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
