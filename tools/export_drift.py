"""Where do an ONNX file and its eager module part? Float32 rounding through the depth of a network.

Builds a spec's module in the state the export checks use (`warm_up`; `--warm-up-steps 0` for batch
norm calibration only), writes it as ONNX in memory, and evaluates one random input four ways: eager
float32, eager float64 (the same weights in double precision, as the reference), and onnxruntime's
CPU provider with all graph optimisations and with none. For every conv of the ONNX graph (batch norm
is folded into it) it prints the relative rms difference from float64 of the matching eager
activation (the batch norm output, or the conv output where there is none) for each of the three
float32 evaluations, and at the end the tolerance ratios of the network output (rtol 1e-3,
atol 1e-4; a pass is <= 1) between every pair.

A wrong operator shows as a jump in the onnxruntime columns that the eager float32 column does not
have; rounding amplified by the network shows as all three columns growing together. (The convs'
outputs become outputs of the graph here, which can change the fusions onnxruntime picks, so its
final numbers differ a little from those of `tools/check_export.py`.)

    python tools/export_drift.py specs/beyond/deeplabv3-resnet50.mg --warm-up-steps 0 --every 3
    python tools/export_drift.py specs/beyond/deeplabv3-resnet50.mg --set size=128
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RTOL, ATOL = 1e-3, 1e-4


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _taps(model):
    """The modules whose outputs match the ONNX graph's convs, in forward order (filled by hooks)."""
    import torch
    found: list = []
    modules = dict(model.named_modules())
    for name, module in model.named_modules():
        parent = modules[name.rpartition(".")[0]] if "." in name else model
        has_norm = any(isinstance(c, torch.nn.modules.batchnorm._BatchNorm) for c in parent.children())
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) or (
                isinstance(module, torch.nn.Conv2d) and not has_norm):
            module.register_forward_hook(lambda m, i, o, name=name: found.append((name, o.detach().double())))
    return found


def _rel(a, b) -> float:
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item()


def _ratio(a, b) -> float:
    return ((a - b).abs() / (ATOL + RTOL * b.abs())).max().item()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a parameter of the spec")
    ap.add_argument("--warm-up-steps", type=int, default=10, metavar="N",
                    help="Adam steps of warm_up (default 10; 0: batch norm calibration only)")
    ap.add_argument("--every", type=int, default=1, metavar="K", help="print every K-th conv (and the last ten)")
    ap.add_argument("--seed", type=int, default=0, help="the input's seed")
    args = ap.parse_args(argv)

    import onnx
    import onnxruntime as ort
    import torch

    import mgdsl
    from mgdsl.backends.export import exported_program, metadata, onnx_model
    from mgdsl.testing import module_for_export, warm_up
    net = mgdsl.load(args.spec, **{k: _value(v) for k, v in (s.split("=", 1) for s in args.set)})
    torch.manual_seed(0)
    single = warm_up(module_for_export(net, None), net.input_shape, steps=args.warm_up_steps)
    double = module_for_export(net, None)
    double.load_state_dict(single.state_dict())
    double = double.double().eval()
    proto = onnx_model(exported_program(single, net.input_shape), metadata(net, "fresh"))   # before the hooks
    taps32, taps64 = _taps(single), _taps(double)
    x = torch.randn(1, *net.input_shape, generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        y32, y64 = single(x), double(x.double())
    if isinstance(y32, (tuple, list)):
        y32, y64 = y32[0], y64[0]
        print("(several outputs: the first is compared)")

    convs = [n.output[0] for n in proto.graph.node if n.op_type == "Conv"]
    matched = len(convs) == len(taps32)
    if matched:
        for c in convs:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(c, onnx.TensorProto.FLOAT, None))
    else:
        print(f"{len(convs)} ONNX convs, {len(taps32)} eager taps: only the output is compared")
    runs = {}
    for tag, level in (("all", ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
                       ("none", ort.GraphOptimizationLevel.ORT_DISABLE_ALL)):
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        runs[tag] = [torch.from_numpy(o).double() for o in session.run(None, {"input": x.numpy()})]

    if matched:
        print(f"{'#':>3} {'eager activation':44} {'rms':>8} {'eager32':>9} {'ort all':>9} {'ort none':>9}"
              "   relative rms difference from float64")
        n_out = len(runs["all"]) - len(convs)
        for i, ((name, a32), (_, a64)) in enumerate(zip(taps32, taps64)):
            o_all, o_none = runs["all"][n_out + i], runs["none"][n_out + i]
            if o_all.shape != a64.shape:
                print(f"conv {i}: shape {tuple(o_all.shape)} in ONNX, {tuple(a64.shape)} in eager: stopped")
                break
            if i % args.every == 0 or i >= len(taps32) - 10:
                print(f"{i:3d} {name:44} {a64.pow(2).mean().sqrt().item():8.3g} {_rel(a32, a64):9.2e} "
                      f"{_rel(o_all, a64):9.2e} {_rel(o_none, a64):9.2e}")
    y32, y64 = y32.double(), y64.double()
    o_all, o_none = runs["all"][0], runs["none"][0]
    print(f"\noutput rms {y64.pow(2).mean().sqrt().item():.3g}, largest |output| {y64.abs().max().item():.3g}")
    print("tolerance ratio (rtol 1e-3, atol 1e-4; <= 1 passes) of the output:")
    for label, got, want in (("eager float32 vs float64", y32, y64), ("onnxruntime (all) vs float64", o_all, y64),
                             ("onnxruntime (none) vs float64", o_none, y64),
                             ("onnxruntime (all) vs eager float32", o_all, y32),
                             ("onnxruntime (none) vs eager float32", o_none, y32)):
        print(f"  {label:38} {_ratio(got, want):7.2f}   (largest difference {(got - want).abs().max().item():.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
