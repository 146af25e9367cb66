"""The Python API: `mgdsl.load(path, **params)` -> a checked :class:`Network`."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

from .errors import Source, Span, SpecNameError, SpecTypeError, SpecValueError, SpecWarning, UsageError
from .graph.check import check_graph
from .graph.cost import macs_of, params_of
from .graph.ir import Graph
from .graph.layers import LAYERS, is_value_word
from .graph.lower import Scope, evaluate_list, lower
from .graph.values import Arg, Sym
from .lang import ast as A
from .lang.loader import Loader


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
        from .backends.torch_source import generate
        return generate(self.graph, target=target, **options)

    def build(self, device="cpu", **options):
        """A fresh, initialised `torch.nn.Module` for this network, on `device` ("meta" for shapes
        only), its code tuned for that device's type. Options switch code-generation optimisations,
        e.g. `optimize=False` for one op per node. A network too big for this machine's memory is
        refused here (`ResourceError`), before anything is allocated."""
        from .backends.torch_source import build_module
        from .memory import check_fits
        check_fits(self.graph, device)
        return build_module(self.graph, device=device, **options)

    def export(self, path, weights=None, **options) -> dict:
        """Write the network as ONNX (`path` ending in .onnx) or a torch.export program (.pt2), with a
        dynamic batch dimension, in eval mode. `weights`: None (fresh), a state_dict, or the path of a
        state_dict file or a training checkpoint. See `mgdsl.backends.export`."""
        from .backends.export import export
        return export(self, path, weights, **options)

    @cached_property
    def _svg(self) -> str:
        from .backends.draw import diagram, render
        svg = render(diagram(self.graph), "svg").decode("utf-8")
        return svg[svg.index("<svg"):]            # no XML prologue: the SVG goes inline into HTML too

    def _repr_svg_(self) -> str:
        """Jupyter shows a network as its diagram (drawn with graphviz-pure: no system Graphviz)."""
        return self._svg

    def _repr_html_(self) -> str:
        """Jupyter's rich display: the summary table by section, then the diagram."""
        from .summary import summary_html
        return summary_html(self, self._svg)

    def __repr__(self):
        return f"<Network {self.name!r} from {self.path}: {self.num_params:,} params, output {self.output_shape}>"


def _override_span(name, value) -> Span:
    text = f"{name}={value}"
    return Span(Source(f"<--set {text}>", text), 1, len(name) + 2, 1, len(text) + 1)


def _as_value(v):
    if isinstance(v, str):
        for conv in (int, float):
            try:
                return conv(v)
            except ValueError:
                pass
        return Sym(v)
    return v


def _resolve(loader: Loader, mod: A.Module) -> tuple[A.Module, A.NetworkDef, list[tuple[str, A.Param]]]:
    """Follow `network "X" from "base.mg" (...)` lines to the network that has a body."""
    overrides: list[tuple[str, A.Param]] = []
    net = mod.network
    name = net.name
    while net.base is not None:
        overrides = [(net.name, p) for p in net.params] + overrides
        mod = loader.base_of(mod)
        if mod.network is None:
            raise SpecNameError(f"{mod.source.path} defines no network to take \"{name}\" from", net.base_span)
        net = mod.network
    return mod, net, overrides


def load(path: str | os.PathLike, _loader: Loader | None = None, **params) -> Network:
    """Parse, lower and check a spec file. Keyword arguments override the network's parameters."""
    loader = _loader or Loader()
    mod = loader.load(path)
    return _network(loader, mod, params)


def loads(text: str, path: str = "<string>", **params) -> Network:
    """Like :func:`load`, for spec text held in memory (imports are relative to the current folder)."""
    from .lang.parser import parse
    loader = Loader()
    mod = parse(Source(path, text))
    loader._bind_units(mod, dict(loader.prelude().units_table))
    return _network(loader, mod, params)


def check_unit_names(modules) -> None:
    """Units may not take a built-in layer type's name, and parameters not the name of a word the
    layers take as a value (a parameter called `off` would turn every `bias=off` into its own value);
    the language itself has no list of either."""
    for m in modules:
        for u in m.units:
            if u.name in LAYERS:
                raise SpecNameError(f"'{u.name}' is a built-in layer type and cannot be redefined", u.span,
                                    hint="give the unit another name")
        owners = [(f"unit '{u.name}'", u.params) for u in m.units]
        if m.network is not None:
            owners.append((f'network "{m.network.name}"', m.network.params))
        for owner, params in owners:
            for prm in params:
                if is_value_word(prm.name):
                    raise SpecNameError(f"a parameter of {owner} cannot be called '{prm.name}': that word is already "
                                        f"a value in layer arguments (like bias=off or pool merge)", prm.span,
                                        hint="give the parameter another name")


def _network(loader: Loader, mod: A.Module, params: dict) -> Network:
    check_unit_names([mod, *loader.modules.values()])
    if mod.network is None:
        raise SpecNameError(f"{mod.source.path} defines no network", Span(mod.source, 1, 1),
                            hint="it may only define units: import it from a spec that has a `network` line")
    name = mod.network.name
    body_mod, net, overrides = _resolve(loader, mod)
    declared = {p.name: p for p in net.params}
    scope = Scope("", {}, {}, {})
    values: dict[str, Arg] = {}
    for p in net.params:
        if p.default is None:
            raise SpecTypeError(f"network parameter '{p.name}' has no default value", p.span,
                                hint=f"give one, as in ({p.name} = 2)")
        values[p.name] = evaluate_list([p.default], p.default.span, scope)
        scope.env[p.name] = (values[p.name], False)
    for _, p in overrides:
        if p.name not in declared:
            raise SpecNameError(f"\"{net.name}\" has no parameter '{p.name}'", p.span,
                                hint=f"its parameters are: {', '.join(declared) or 'none'}")
        if p.default is None:
            raise SpecTypeError(f"'{p.name}' needs a value here", p.span)
        values[p.name] = evaluate_list([p.default], p.default.span, scope)
        scope.env[p.name] = (values[p.name], False)
    for k, v in params.items():
        if k not in declared:
            raise UsageError(f"\"{name}\" has no parameter '{k}'",
                             hint=f"its parameters are: {', '.join(declared) or 'none'}")
        values[k] = Arg((_as_value(v),), _override_span(k, v))
    # defaults that depend on other parameters see the final values
    scope.env = {k: (v, False) for k, v in values.items()}
    for p in net.params:
        if p.name not in params and not any(o.name == p.name for _, o in overrides):
            values[p.name] = evaluate_list([p.default], p.default.span, scope)
            scope.env[p.name] = (values[p.name], False)
    try:
        G = lower(net, body_mod.units_table or dict(loader.prelude().units_table), values, name, mod.source.path)
    except RecursionError:
        raise SpecValueError("the spec nests expressions or units too deeply to evaluate", net.span) from None
    return Network(G, check_graph(G))
