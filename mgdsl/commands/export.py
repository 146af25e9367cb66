"""Export a network as a file that runs without mgdsl: ONNX (FILE.onnx, for onnxruntime and other
runtimes) or a torch.export program (FILE.pt2, for torch.export.load and AOTInductor). The format
follows the file name. Both take any batch size; batch norm uses its running statistics (eval mode).

Weights: --weights takes a state_dict file (torch.save(model.state_dict(), PATH)), a training run's
checkpoint.pt, or the run folder itself; without it the network gets fresh weights (seeded by --seed).
ONNX needs the optional extra: pip install "mgdsl[onnx]". Example:

  mgdsl export specs/mnist/pmg-11-seg.mg -o pmg.onnx --weights runs/x --set canvas=32 --set w=16"""
from __future__ import annotations

import argparse
import os
import stat

from ..backends.export import MIN_OPSET, OPSET, check_opset, format_of
from ..errors import UsageError
from ..network import load
from ..train.checkpoint import CHECKPOINT
from .options import add_set_option, parse_sets, print_warnings

HELP = "export a network as ONNX (.onnx) or a torch.export program (.pt2)"


def configure(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("spec", metavar="SPEC", help="the .mg file")
    p.add_argument("-o", "--output", metavar="FILE.onnx|FILE.pt2", required=True,
                   help="the file to write; its suffix picks the format")
    p.add_argument("--weights", metavar="W",
                   help="a state_dict file, a run's checkpoint.pt or its run folder (default: fresh weights)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh weights when there is no --weights (default 0)")
    p.add_argument("--opset", type=int, metavar="N",
                   help=f"ONNX opset version (default {OPSET}): from {MIN_OPSET} to the newest the installed onnx "
                        "package knows; the message names the opset the file holds")
    add_set_option(p)


def run(args) -> int:
    opset = OPSET if args.opset is None else args.opset
    if format_of(args.output) == ".onnx":      # fail before any work when the file cannot be written
        check_opset(opset)
    elif args.opset is not None:
        raise UsageError(f"--opset is for ONNX files; {args.output} is a torch.export program, which has none",
                         hint="drop --opset, or write FILE.onnx")
    net = load(args.spec, parse_sets(args.set))
    print_warnings(net)
    if args.weights is not None:
        check_weights_file(args.weights, net)
    else:
        import torch  # here, not at the top: `mgdsl export --help` stays torch-free
        torch.manual_seed(args.seed)
    info = net.export(args.output, weights=args.weights, opset=opset)
    kind = info["format"] + (f", opset {info['opset']}" if info["opset"] else "")
    weights = "fresh weights" if info["weights"] == "fresh" else f"weights from {args.weights}"
    print(f"wrote {info['path']}: {net.name} as {kind}, {info['bytes'] / 1e6:.1f} MB, {weights}; "
          f"input {_batched(net.input_shape)} -> output {_batched(net.output_shape)}, any batch size N")
    return 0


def check_weights_file(weights: str, net) -> None:
    """Refuse, before torch reads it, a --weights file far larger than this network's weights could
    make: a state_dict or a training checkpoint (weights, their momentum buffers and a little more)
    holds at most 16 bytes a parameter (float64 weights and momenta) and some MiB besides."""
    path = os.path.join(weights, CHECKPOINT) if os.path.isdir(weights) else weights
    try:
        st = os.stat(path)
    except OSError:
        return                                  # read_weights says what is missing
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"--weights {weights}: not a regular file (a named pipe or a device?)",
                         hint="pass a state_dict file, a checkpoint.pt, or the --out folder of `mgdsl train`")
    limit = 16 * net.num_params + (64 << 20)
    if st.st_size > limit:
        raise UsageError(f"--weights {weights}: the file holds {st.st_size / 2**20:,.0f} MiB, more than weights of "
                         f"{net.name} ({net.num_params:,} parameters) can take (at most {limit / 2**20:,.0f} MiB)",
                         hint="is it the checkpoint of this spec, with the same --set parameters?")


def _batched(shape) -> str:
    return "[" + ", ".join(["N", *map(str, shape)]) + "]"
