"""Memory policy of building and training: a network whose weights or activations cannot fit in this
machine's memory is refused before anything is allocated. The language does not know the machine
(`mgdsl check` gives the same verdict everywhere); only `build` and `train` ask this question."""
from __future__ import annotations

import os

from .errors import ResourceError
from .graph.cost import params_of
from .graph.ir import Graph
from .graph.ops import numel


def memory_limit() -> int:
    """Bytes of physical memory on this machine."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 64 << 30


def _gib(b: int) -> str:
    return f"{b / (1 << 30):,.1f} GiB"


def check_fits(G: Graph, device="cpu", bytes_per_value: int = 4) -> None:
    """Raise ResourceError when one image's activations or the float32 weights exceed this machine's
    memory. Only host memory is known here; a device's own memory is checked by torch when it allocates."""
    if str(device) == "meta":
        return
    limit = memory_limit()
    weights = bytes_per_value * sum(params_of(G, n) for n in G)
    acts = bytes_per_value * sum(numel(r.shape) for r in G.records())
    for what, need, hint in (("its weights need", weights, "check the widths"),
                             ("one input image needs", acts, "use a smaller input")):
        if need > limit:
            raise ResourceError(f"\"{G.info.name}\" cannot be built here: {what} {_gib(need)}, more than this "
                                   f"machine's {_gib(limit)} of memory", G.info.layers[0].span if G.info.layers
                                   else G.node("input").span, hint=f"{hint}; nothing has been allocated")
