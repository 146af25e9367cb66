"""Port the weights of the same network written elsewhere (torchvision, timm, plain torch) onto a spec:
the file's tensors are matched with the spec's parameters and buffers in order, each shape checked (a
linear layer's weight may fill a 1x1 conv), and written as the spec's state_dict, which `mgdsl export
--weights`, `Network.build().load_state_dict` and the generated code's `build()` take. The first entry
that does not fit is named on both sides; a key map (`--map FILE`, lines of `mgdsl_key their_key`) pins
entries whose order differs. Files are read as weights only: a file that would run code is refused.
Nothing is written unless every entry fits. --list prints the spec's entries in order.

  mgdsl port specs/beyond/resnet-18.mg --from resnet18.pth -o resnet18-mgdsl.pt"""
from __future__ import annotations

import argparse

from ..atomic import write_atomic
from ..backends.port import port_weights, read_foreign, read_key_map
from ..errors import UsageError
from ..network import load
from .options import add_set_option, parse_sets, print_warnings

HELP = "map a foreign state_dict (torchvision, timm, plain torch) onto a spec's parameters, in order"


def configure(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("spec", metavar="SPEC", help="the .mg file")
    p.add_argument("--from", dest="source", metavar="FILE", help="the weights: .pth/.pt (torch.save) or .safetensors")
    p.add_argument("-o", "--output", metavar="FILE.pt", help="where to write the spec's state_dict")
    p.add_argument("--map", metavar="FILE", help="key map: lines of `mgdsl_key their_key` for entries out of order")
    p.add_argument("--list", action="store_true", help="print the spec's entries, in order, with their shapes")
    add_set_option(p)


def run(args) -> int:
    import torch  # here: `mgdsl port --help` needs no torch

    net = load(args.spec, parse_sets(args.set))
    print_warnings(net)
    if args.list:
        for key, t in net.build(device="meta", optimize=False).state_dict().items():
            print(f"{key}  {'x'.join(map(str, t.shape)) or 'scalar'}")
        return 0
    if not args.source or not args.output:
        raise UsageError("give --from FILE and -o FILE.pt (or --list)",
                         hint="e.g. mgdsl port specs/beyond/resnet-18.mg --from resnet18.pth -o w.pt")
    state = port_weights(net, read_foreign(args.source), read_key_map(args.map) if args.map else None)
    write_atomic(args.output, writer=lambda f: torch.save(state, f))
    print(f"wrote {args.output}: {len(state)} entries of {net.name} from {args.source}")
    return 0
