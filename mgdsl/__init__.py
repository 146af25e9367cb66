"""mgdsl: a declarative compiler for multigrid convolutional networks (Ke, Maire & Yu, CVPR 2017).

    net = mgdsl.load("specs/r-pmg-30.mg", n=3)
    net.graph          # the networkx graph every back end reads
    model = net.build()  # a fresh torch.nn.Module
"""
__version__ = "0.1.0"

from .errors import MgError, SpecWarning  # noqa: E402
from .network import Network, load, loads  # noqa: E402

__all__ = ["load", "loads", "Network", "MgError", "SpecWarning", "__version__"]
