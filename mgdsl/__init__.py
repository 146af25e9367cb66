"""mgdsl: a declarative compiler for multigrid convolutional networks (Ke, Maire & Yu, CVPR 2017).

    net = mgdsl.load("specs/r-pmg-30.mg", n=3)
    net.graph          # the networkx graph every back end reads
    model = net.build()  # a fresh torch.nn.Module

    loader = mgdsl.Loader()                   # parses each file once, across calls
    nets = [mgdsl.load(p, loader=loader) for p in paths]
    checked = mgdsl.check_spec("x.mg")        # never raises: diagnostics, and the network if valid
"""
from .errors import MgError, SpecWarning
from .lang.loader import Loader
from .network import Checked, Network, check_spec, load, loads
from .version import __version__

__all__ = ["load", "loads", "check_spec", "Checked", "Loader", "Network", "MgError", "SpecWarning", "__version__"]
