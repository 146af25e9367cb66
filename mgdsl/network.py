"""The Python API: `mgdsl.load(path, **params)` -> a checked :class:`Network`, and `check_spec`, the
one front door through which `load`, `mgdsl check` and the language server read a spec."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from .backends.draw import diagram, render
from .backends.export import export
from .backends.port import port_weights
from .backends.torch_source import build_module, generate
from .errors import MgError, Span, SpecNameError, SpecValueError, SpecWarning
from .graph.bind import check_names, network_values
from .graph.check import check_graph
from .graph.cost import macs_of, params_of
from .graph.ir import Graph
from .graph.lower import lower
from .inference import session as inference_session
from .lang import ast as A
from .lang.loader import Loader
from .memory import check_fits
from .summary import summary_html


@dataclass
class Network:
    """A checked network: its graph is the single source of truth for everything downstream."""
    graph: Graph
    warnings: list[SpecWarning] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.graph.info.name

    @property
    def path(self) -> str:
        return self.graph.info.path

    @property
    def params(self) -> dict:
        return dict(self.graph.info.params)

    @property
    def input_shape(self) -> tuple:
        return self.graph.info.input_shape

    @property
    def output_shape(self) -> tuple:
        return self.graph.info.output_shape

    @property
    def output_shapes(self) -> tuple:
        """The shape of every output, in declared order (one for most networks)."""
        return tuple(self.graph.node(o).shape for o in self.graph.info.sinks)

    @property
    def outputs_text(self) -> str:
        return ", ".join(" x ".join(map(str, s)) for s in self.output_shapes)

    @cached_property
    def num_params(self) -> int:
        return sum(params_of(self.graph, n) for n in self.graph)

    @cached_property
    def macs(self) -> int:
        return sum(macs_of(self.graph, n) for n in self.graph)

    def python_source(self, target: str = "portable", **options) -> str:
        """Standalone PyTorch source defining `build()`; it imports nothing but torch. The default
        target uses only public torch API and runs anywhere; `target="cpu"|"cuda"` tunes it for a
        device (see `mgdsl.backends.torch_source.TARGETS`)."""
        return generate(self.graph, target=target, **options)

    def build(self, device="cpu", **options):
        """A fresh, initialised `torch.nn.Module` for this network, on `device` ("meta" for shapes
        only), its code tuned for that device's type. Options switch code-generation optimisations,
        e.g. `optimize=False` for one op per node. A network too big for this machine's memory is
        refused here (`ResourceError`), before anything is allocated."""
        check_fits(self.graph, device)
        return build_module(self.graph, device=device, **options)

    def session(self, weights=None, *, engine: str = "auto", batch: int = 1, device="cpu", **options):
        """The network ready for fast inference: a callable `Session` on the engine (eager with batch
        norm folded, onnxruntime on the ONNX export, torch.compile) that `auto` measures fastest here
        for batches of `batch` images. `weights`: None (fresh), a state_dict, or the path of a state_dict
        file or a training checkpoint. See `mgdsl.inference`."""
        return inference_session(self, weights, engine=engine, batch=batch, device=device, **options)

    def port_weights(self, state_dict, key_map=None) -> dict:
        """This network's state_dict filled from the same network's weights written elsewhere
        (torchvision, timm, plain torch), matched in order and shape (`mgdsl.backends.port`)."""
        return port_weights(self, state_dict, key_map)

    def export(self, path, weights=None, **options) -> dict:
        """Write the network as ONNX (`path` ending in .onnx) or a torch.export program (.pt2), with a
        dynamic batch dimension, in eval mode. `weights`: None (fresh), a state_dict, or the path of a
        state_dict file or a training checkpoint. See `mgdsl.backends.export`."""
        return export(self, path, weights, **options)

    @cached_property
    def _svg(self) -> str:
        svg = render(diagram(self.graph), "svg").decode("utf-8")
        return svg[svg.index("<svg"):]            # no XML prologue: the SVG goes inline into HTML too

    def _repr_svg_(self) -> str:
        """Jupyter shows a network as its diagram (drawn with graphviz-pure: no system Graphviz)."""
        return self._svg

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the summary table by section, then the diagram."""
        return summary_html(self, self._svg)

    def __repr__(self):
        return f"<Network {self.name!r} from {self.path}: {self.num_params:,} params, output {self.output_shape}>"


def _resolve(loader: Loader, mod: A.Module) -> tuple[A.Module, A.NetworkDef, list[tuple[str, A.Param]]]:
    """Follow `network "X" from "base.mg" (...)` lines to the network that has a body."""
    overrides: list[tuple[str, A.Param]] = []
    net = mod.network
    assert net is not None, "only called for a file with a network"
    name = net.name
    while net.base is not None:
        overrides = [(net.name, p) for p in net.params] + overrides
        mod = loader.base_of(mod)
        if mod.network is None:
            raise SpecNameError(f"{mod.source.path} defines no network to take \"{name}\" from", net.base_span)
        net = mod.network
    return mod, net, overrides


def _lower(loader: Loader, mod: A.Module, params: Mapping[str, object]) -> Network:
    """The checked network of a parsed file (which has a `network` line)."""
    assert mod.network is not None, "only called for a file with a network"
    name = mod.network.name
    body_mod, net, overrides = _resolve(loader, mod)
    values = network_values(net, overrides, params, name)
    try:
        G = lower(net, body_mod.units_table or dict(loader.prelude().units_table), values, name, mod.source.path)
    except RecursionError:
        raise SpecValueError("the spec nests expressions or units too deeply to evaluate", net.span) from None
    return Network(G, check_graph(G))


@dataclass
class Checked:
    """What checking one spec found, as `mgdsl check`, `mgdsl.load` and the language server all see it."""
    diagnostics: list                    # MgError | SpecWarning, in report order
    net: Network | None = None           # the network, when the spec has one and it is valid
    units: list[str] | None = None       # a file that only defines units: their names
    module: A.Module | None = None       # the file's syntax tree, when it parsed

    @property
    def ok(self) -> bool:
        return self.net is not None or self.units is not None


def check_spec(path: str | os.PathLike, params: Mapping[str, object] | None = None, /, *,
               loader: Loader | None = None, module: A.Module | None = None) -> Checked:
    """Check one spec, the one way every front end does: a file that only defines units is parsed and
    name-checked; any other file must have a network, which is lowered and checked (`params`
    overriding its parameters). An MgError does not escape: it becomes the one diagnostic. `loader`
    carries the unsaved text of an editor's open files; `module`, a file already parsed (`loads`)."""
    loader = loader if loader is not None else Loader()
    mod = module
    try:
        if mod is None:
            mod = loader.load(path)
        check_names([mod, *loader.modules.values()])
        if mod.network is None:
            if mod.units:                   # a library of units: parsed and name-checked
                return Checked([], units=[u.name for u in mod.units], module=mod)
            raise SpecNameError(f"{mod.source.path} defines no network", Span(mod.source, 1, 1),
                                hint="it may only define units: import it from a spec that has a `network` line")
        net = _lower(loader, mod, dict(params or {}))
    except MgError as e:
        return Checked([e], module=mod)
    return Checked(list(net.warnings), net=net, module=mod)


def _network_of(checked: Checked) -> Network:
    if checked.net is not None:
        return checked.net
    if checked.units is not None:
        mod = checked.module
        assert mod is not None
        raise SpecNameError(f"{mod.source.path} defines no network", Span(mod.source, 1, 1),
                            hint="it may only define units: import it from a spec that has a `network` line")
    raise checked.diagnostics[0]


def load(path: str | os.PathLike, params: Mapping[str, object] | None = None, /, *, loader: Loader | None = None,
         **overrides) -> Network:
    """Parse, lower and check a spec file. `params` (a mapping) and keyword arguments override the
    network's parameters; `loader` shares parsed files between calls."""
    return _network_of(check_spec(path, {**(params or {}), **overrides}, loader=loader))


def loads(text: str, /, path: str = "<string>", *, loader: Loader | None = None, **params) -> Network:
    """Like :func:`load`, for spec text held in memory (its imports are relative to `path`'s folder)."""
    loader = loader if loader is not None else Loader()
    mod = loader.loads(text, path)
    return _network_of(check_spec(path, params, loader=loader, module=mod))
