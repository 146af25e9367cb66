"""Export a network as a file that runs without mgdsl: ONNX (FILE.onnx, for onnxruntime and other
runtimes) or a torch.export program (FILE.pt2, for torch.export.load and AOTInductor). The format
follows the file name. Both take any batch size; batch norm uses its running statistics (eval mode).

Weights: --weights takes a state_dict file (torch.save(model.state_dict(), PATH)), a training run's
checkpoint.pt, or the run folder itself; without it the network gets fresh weights (seeded by --seed).
ONNX needs the optional extra: pip install "mgdsl[onnx]". Example:

  mgdsl export specs/mnist/pmg-11-seg.mg -o pmg.onnx --weights runs/x --set canvas=32 --set w=16"""
from __future__ import annotations

HELP = "export a network as ONNX (.onnx) or a torch.export program (.pt2)"


def configure(p):
    import argparse

    from ..backends.export import OPSET
    from ..cli import add_set_option
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("spec", metavar="SPEC", help="the .mg file")
    p.add_argument("-o", "--output", metavar="FILE.onnx|FILE.pt2", required=True,
                   help="the file to write; its suffix picks the format")
    p.add_argument("--weights", metavar="W",
                   help="a state_dict file, a run's checkpoint.pt or its run folder (default: fresh weights)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh weights when there is no --weights (default 0)")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset version, 17 or newer (default {OPSET})")
    add_set_option(p)


def run(args) -> int:
    from .. import load
    from ..backends.export import format_of, require_onnx
    from ..cli import parse_sets, print_warnings
    if format_of(args.output) == ".onnx":      # fail before any work when the file cannot be written
        require_onnx()
    net = load(args.spec, parse_sets(args.set))
    print_warnings(net)
    if args.weights is None:
        import torch
        torch.manual_seed(args.seed)
    info = net.export(args.output, weights=args.weights, opset=args.opset)
    kind = info["format"] + (f", opset {info['opset']}" if info["opset"] else "")
    weights = "fresh weights" if info["weights"] == "fresh" else f"weights from {args.weights}"
    print(f"wrote {info['path']}: {net.name} as {kind}, {info['bytes'] / 1e6:.1f} MB, {weights}; "
          f"input {_batched(net.input_shape)} -> output {_batched(net.output_shape)}, any batch size N")
    return 0


def _batched(shape) -> str:
    return "[" + ", ".join(["N", *map(str, shape)]) + "]"
