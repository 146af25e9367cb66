"""The PyTorch back end: graph -> passes -> standalone Python source -> module.

`Network.build()` executes exactly the source that `mgdsl compile -o` writes, so the two cannot
drift apart and weights move between them by `load_state_dict`. Modules sit in a tree of
ModuleDicts at their spec paths (state_dict keys like ``s2.resmg1.mgconv2.g16.conv.weight``);
`forward` is straight-line code over a flat list of those modules, with tensor variables reused
as soon as their last reader has run.

Three parts, each in one place:
- passes (``torch_passes``; BN folding in ``mgdsl.graph.passes``) rewrite the graph for a target;
- ``EMITTERS`` maps every node kind to the modules that hold its weights and the expression that
  computes it;
- ``generate`` is the loop: one line per node, in graph order. Runtime helpers the code calls are
  copied from the real module ``torch_runtime``.
`inference=True` writes an eval-only module with batch norm folded into the convs.
"""
from __future__ import annotations

import linecache
import re
import sys
import types
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable

from ..graph.cost import params_of
from ..graph.ir import Graph, Node
from ..version import __version__
from .torch_passes import DEVICE_TARGETS, OPTIMIZATIONS, TARGETS, resolve_options, run_passes, target_of

__all__ = ["EMITTERS", "OPTIMIZATIONS", "TARGETS", "build_module", "generate", "resolve_options", "scope_name", "target_of"]


# -- the emitter table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Refs:
    """What an emitter may refer to: its modules' references (`m[3]`, in the order its `modules`
    rule lists them), its folded weights (`f[1]`, inference only) and whether the code is eval-only."""
    m: list[str]
    f: str | None = None
    inference: bool = False


@dataclass(frozen=True)
class Emitter:
    call: Callable[[Node, list[str], Refs], str]                  # the expression computing the node
    modules: Callable[[Node], list[tuple[str, str, str]]] = lambda r: []   # (path, class, arguments)
    fold: Callable[[Node, list[str]], str] | None = None          # inference: statements appending the
    #                                                               node's folded weights to `f`
    runtime: tuple[str, ...] = ()                                 # torch_runtime sections it needs
    channels_last_weights: bool = False                           # its conv weight is stored channels-last


def _spread(a) -> str:
    """A conv's dilation and groups, written only where they are not 1 (so plain convs read as before)."""
    return "".join(f", {k}={a[k]}" for k in ("dilation", "groups") if a.get(k, 1) != 1)


def _norm_args(a, prefix: str = "") -> str:
    """A norm's eps and momentum arguments, those the spec gave (none: torch's defaults)."""
    return "".join(f", {k}={a[prefix + k]!r}" for k in ("eps", "momentum") if prefix + k in a)


def _conv_modules(r: Node) -> list[tuple[str, str, str]]:
    a = r.attrs
    mods = [(r.id, "nn.Conv2d", f"{a['cin']}, {a['cout']}, {a['kernel']}, stride={a['stride']}, "
                                f"padding={a['pad']}{_spread(a)}, bias={a['bias']}")]
    if a.get("bn"):
        mods.append((a["bn"], "nn.BatchNorm2d", f"{a['cout']}{_norm_args(a, 'bn_')}"))
    return mods


def _wb(c: Refs) -> tuple[str, str]:
    """A conv's weight and bias: folded with its batch norm, or its module's."""
    return (f"{c.f}[0]", f"{c.f}[1]") if c.f else (f"{c.m[0]}.weight", f"{c.m[0]}.bias")


def _conv_up(r: Node, x: list[str], c: Refs) -> str:
    k = r.attrs["split"]
    if c.f:
        return f"F.conv2d({x[0]}, {c.f}[0], {c.f}[2], 1, 1) + F.conv_transpose2d({x[1]}, {c.f}[1], None, 2, 1)"
    w, b = _wb(c)
    return f"F.conv2d({x[0]}, {w}[:, :{k}], {b}, 1, 1) + F.conv_transpose2d({x[1]}, _up_kernel({w}[:, {k}:]), None, 2, 1)"


def _conv_gemm(r: Node, x: list[str], c: Refs) -> str:
    w, b = _wb(c)
    if c.inference:
        return f"_conv_gemm({x[0]}, {w}, {b}, {r.attrs['pad']})[0]"
    return f"_ConvGEMM.apply({x[0]}, {w}, {b}, {r.attrs['pad']})"


def _fold(r: Node, m: list[str]) -> str:
    return f"        f.append(_fold({m[0]}, {m[1]}))"


def _fold_up(r: Node, m: list[str]) -> str:
    k = r.attrs["split"]
    return f"        w, b = _fold({m[0]}, {m[1]})\n        f.append((w[:, :{k}], _up_kernel(w[:, {k}:]), b))"


def _pool(fn: str, ceil: bool):
    return lambda r, x, c: (f"F.{fn}({x[0]}, {r.attrs['kernel']}, {r.attrs['stride']}, {r.attrs['pad']}, "
                            f"ceil_mode={r.attrs.get('ceil', ceil)})")


def _module_call(r: Node, x: list[str], c: Refs) -> str:
    return f"{c.m[0]}({x[0]})"


# the torch call of each activation of ops.ACTIVATIONS
ACT_CALLS = {"relu6": "F.relu6({})", "silu": "F.silu({})", "gelu": "F.gelu({})", "sigmoid": "torch.sigmoid({})",
             "hardswish": "F.hardswish({})", "leaky": "F.leaky_relu({}, 0.01)", "tanh": "torch.tanh({})",
             "hardsigmoid": "F.hardsigmoid({})", "mish": "F.mish({})"}


def _conv_bn(r: Node, x: list[str], c: Refs) -> str:
    a = r.attrs
    spread = f", {a.get('dilation', 1)}, {a.get('groups', 1)}" if _spread(a) else ""
    return f"F.conv2d({x[0]}, {_wb(c)[0]}, {_wb(c)[1]}, {a['stride']}, {a['pad']}{spread})"


def _resize(r: Node, x: list[str], c: Refs) -> str:
    how = "mode='bilinear', align_corners=False" if r.attrs["mode"] == "bilinear" else "mode='nearest'"
    return f"F.interpolate({x[0]}, size={tuple(r.attrs['size'])}, {how})"


def _upsample(r: Node, x: list[str], c: Refs) -> str:
    how = "mode='bilinear', align_corners=False" if r.attrs.get("mode") == "bilinear" else "mode='nearest'"
    return f"F.interpolate({x[0]}, scale_factor={r.attrs['factor']}, {how})"


def _crop(r: Node, x: list[str], c: Refs) -> str:
    (top, left), (h, w) = r.attrs["at"], r.attrs["size"]
    return f"{x[0]}[:, :, {top}:{top + h}, {left}:{left + w}]"


EMITTERS: dict[str, Emitter] = {
    "input": Emitter(lambda r, x, c: "x"),
    "conv": Emitter(_module_call, _conv_modules),
    "convT": Emitter(_module_call, lambda r: [(r.id, "nn.ConvTranspose2d", (
        f"{r.attrs['cin']}, {r.attrs['cout']}, {r.attrs['kernel']}, stride={r.attrs['stride']}, bias={r.attrs['bias']}"))]),
    "bn": Emitter(_module_call, lambda r: [(r.id, "nn.BatchNorm2d", f"{r.attrs['channels']}{_norm_args(r.attrs)}")]),
    "ln": Emitter(lambda r, x, c: f"{c.m[0]}({x[0]}.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)",
                  lambda r: [(r.id, "nn.LayerNorm", f"{r.attrs['channels']}{_norm_args(r.attrs)}")], runtime=("norms",)),
    "gn": Emitter(_module_call, lambda r: [(r.id, "nn.GroupNorm",
                                            f"{r.attrs['groups']}, {r.attrs['channels']}{_norm_args(r.attrs)}")],
                  runtime=("norms",)),
    "layerscale": Emitter(_module_call, lambda r: [(r.id, "_LayerScale", f"{r.attrs['channels']}, {r.attrs['init']!r}")],
                          runtime=("norms",)),
    "droppath": Emitter(lambda r, x, c: f"_drop_path({x[0]}, {r.attrs['p']!r}, self.training)", runtime=("droppath",)),
    "shuffle": Emitter(lambda r, x, c: f"{x[0]}.unflatten(1, ({r.attrs['groups']}, -1)).transpose(1, 2).flatten(1, 2)"),
    "slice": Emitter(lambda r, x, c: f"{x[0]}[:, {r.attrs['start']}:{r.attrs['stop']}]"),
    "relu": Emitter(lambda r, x, c: f"F.relu({x[0]})"),
    "act": Emitter(lambda r, x, c: ACT_CALLS[r.attrs["fn"]].format(x[0])),
    "dropout": Emitter(lambda r, x, c: f"F.dropout({x[0]}, {r.attrs['p']}, self.training)"),
    "mul": Emitter(lambda r, x, c: f"{x[0]} * {x[1]}"),
    "resize": Emitter(_resize),
    "adaptive_avgpool": Emitter(lambda r, x, c: f"F.adaptive_avg_pool2d({x[0]}, {tuple(r.attrs['size'])})"),
    "crop": Emitter(_crop),
    "maxpool": Emitter(_pool("max_pool2d", True)),
    "avgpool": Emitter(_pool("avg_pool2d", False)),
    "gap": Emitter(lambda r, x, c: f"F.adaptive_avg_pool2d({x[0]}, 1)"),
    "upsample": Emitter(_upsample),
    "concat": Emitter(lambda r, x, c: f"torch.cat([{', '.join(x)}], 1)"),
    "add": Emitter(lambda r, x, c: " + ".join(x)),
    "pad": Emitter(lambda r, x, c: f"F.pad({x[0]}, (0, 0, 0, 0, 0, {r.attrs['cout'] - r.attrs['cin']}))"),
    "flatten": Emitter(lambda r, x, c: f"torch.flatten({x[0]}, 1)"),
    "linear": Emitter(_module_call, lambda r: [(r.id, "nn.Linear",
                                                f"{r.attrs['fin']}, {r.attrs['fout']}, bias={r.attrs['bias']}")]),
    # kinds made by passes
    "conv_bn": Emitter(_conv_bn, _conv_modules, _fold, ("fold",)),
    "conv_upT": Emitter(_conv_up, _conv_modules, _fold_up, ("convT", "fold")),
    "conv_gemm": Emitter(_conv_gemm, _conv_modules, _fold, ("gemm", "fold"), channels_last_weights=True),
    "relu_": Emitter(lambda r, x, c: f"torch.relu_({x[0]})"),
    "to_channels_last": Emitter(lambda r, x, c: f"{x[0]}.to(memory_format=torch.channels_last)"),
    "to_default_layout": Emitter(lambda r, x, c: f"_DefaultLayout.apply({x[0]})", runtime=("layout",)),
}


# -- the runtime, copied by section ------------------------------------------------------------------
_SECTION = re.compile(r"^# ---- section (\w+)\n(.*?)^# ---- end\n", re.M | re.S)


@lru_cache(maxsize=1)
def runtime_sections() -> dict[str, str]:
    """torch_runtime.py's sections by name, in file order."""
    text = resources.files("mgdsl.backends").joinpath("torch_runtime.py").read_text(encoding="utf-8")
    text = re.sub(r"  # noqa[^\n]*", "", text)            # lint marks stay in the real module
    return {m.group(1): m.group(2).strip("\n") for m in _SECTION.finditer(text)}


def _runtime(needed: set[str]) -> str:
    return "\n\n\n".join(src for name, src in runtime_sections().items()
                          if name in needed or name in ("core",)) + "\n"


# -- the loop --------------------------------------------------------------------------------------
def _doc_text(text: str) -> str:
    """Text safe inside the generated file's docstring: printable, no quotes or backslashes to end or
    escape it."""
    return "".join(ch if ch.isprintable() and ch not in '"\\' else "?" for ch in text)


_HEADER = '''"""{name}: generated by mgdsl {version} from {path}, {tuned}.

Standalone PyTorch code (it imports nothing but torch). `build()` returns the network with fresh
weights; its state_dict keys are the spec's layer paths, the same as `mgdsl.load(...).build()`.
Input {input}; output {output}; {params:,} parameters.{note}
"""
'''

_CLASS = '''

class {cls}(nn.Module):
    def __init__(self, device="cpu"):
        super().__init__()
        self._m = [
'''

_INIT_END = '''\
        ]
        _init(self._m)
'''

_INFERENCE_END = '''\
        ]
        _init(self._m)
        self._folded = None
        self.register_load_state_dict_post_hook(lambda module, keys: module._forget())
        super().train(False)

    def train(self, mode=True):
        """Inference only: batch norm is folded with its running statistics, so always in eval mode."""
        return super().train(False)

    def _forget(self):
        self._folded = None

    def _apply(self, fn, *args, **kwargs):
        self._folded = None
        return super()._apply(fn, *args, **kwargs)

    @torch.no_grad()
    def _fold_all(self):
        """The folded weights, computed once from the current parameters and running statistics."""
        m, f = self._m, []
{fold}
        self._folded = f
        return f
'''

_FOOTER = '''

def build(device="cpu"):
    """The network with fresh weights on `device` ("meta": shapes only, no memory, no init)."""
    return {cls}(device)
'''


def generate(G: Graph, cls: str = "Net", optimize: bool = True, inference: bool = False,
             target: str = "portable", taps: bool = False, scopes: bool = False, **flags) -> str:
    """Standalone PyTorch source for graph `G`, for `target` ("portable", "cpu" or "cuda"; see
    `TARGETS` and `OPTIMIZATIONS` for `optimize` and the flags). With `taps`, every forward also keeps
    each node's output in `module.taps` (node id -> tensor), for tools and tests that look inside a
    network (with `optimize=False` no op overwrites a value afterwards). With `scopes`, each run of
    statements of one spec layer on one grid runs inside
    ``torch.profiler.record_function("mgdsl:LAYER@GRID")``, so a profile names the spec's layers
    (`mgdsl bench --by layer`); the statements themselves are the same."""
    opts = resolve_options(optimize, target, **flags)
    P = run_passes(G, opts, inference)
    recs = [r for r in P.records() if r.kind != "input"]            # graph order is topological
    pos = {r.id: i for i, r in enumerate(recs)}
    last_use = {r.id: pos[r.id] for r in recs}
    last_use["input"] = -1
    for r in recs:
        for i in r.inputs:
            last_use[i] = max(last_use.get(i, -1), pos[r.id])
    for o in P.info.sinks:
        last_use[o] = len(recs)

    info = G.info
    c, h, w = info.input_shape
    tuned = f"tuned for {target.upper()}" if target in DEVICE_TARGETS else "portable (public torch API only)"
    head = _HEADER.format(name=_doc_text(info.name), version=__version__, path=_doc_text(info.path), tuned=tuned,
                          input=f"N x {c} x {h} x {w}", output=_outputs_text(G),
                          params=sum(params_of(G, n) for n in G),
                          note="\nInference only: batch norm is folded into the convs (always in eval mode; no "
                               "training)." if inference else "")
    needed: set[str] = set()
    modules: list[str] = []
    fold: list[str] = []
    mref: dict[str, list[str]] = {}
    fref: dict[str, str] = {}
    for r in P.records():                  # every weight module, emitted or folded, keeps its key
        e = EMITTERS[r.kind]
        refs = []
        for j, (path, mcls, args) in enumerate(e.modules(r)):
            refs.append(f"m[{len(modules)}]")
            layout = ", channels_last=True" if e.channels_last_weights and j == 0 else ""
            modules.append(f'            _put(self, "{path}", _new({mcls}, {args}, device=device{layout})),')
        mref[r.id] = refs
        if inference and e.fold is not None and r.attrs.get("bn"):
            fref[r.id] = f"f[{len(fold)}]"
            fold.append(e.fold(r, refs))
        needed.update(s for s in e.runtime if s != "fold" or inference)

    var = {"input": "x"}
    body, free, fresh = [], [], 0
    scope = None
    for r in recs:
        if scopes and (r.layer, r.grid) != scope:
            scope = (r.layer, r.grid)
            body.append(f"        with torch.profiler.record_function({scope_name(*scope)!r}):")
        x = [var[i] for i in r.inputs]
        expr = EMITTERS[r.kind].call(r, x, Refs(mref[r.id], fref.get(r.id), inference))
        dying = [var[i] for i in dict.fromkeys(r.inputs) if last_use[i] == pos[r.id] and var[i] != "x"]
        free.extend(dying)
        if free:
            v = free.pop()
        else:
            fresh += 1
            v = f"t{fresh}"
        if last_use[r.id] == pos[r.id]:      # nothing reads it: computed for fidelity, then dropped
            free.append(v)
        var[r.id] = v
        pad = "    " if scopes else ""
        body.append(f"        {pad}{v} = {expr}  # {r.id}")
        if taps:
            body.append(f"        {pad}self.taps[{r.id!r}] = {v}")
    if P.info.outputs:        # several outputs: a tuple, in declared order
        body.append(f"        return ({', '.join(var[o] for o in P.info.outputs)},)")
    else:
        body.append(f"        return {var[P.info.output]}")

    checked = target in DEVICE_TARGETS
    if checked:
        needed.add("target_check")
    forward = "\n    def forward(self, x):\n"
    if checked:
        forward += ("        if x.device.type != TARGET:\n"
                    "            _check_target(self, x, NETWORK, TARGET)\n")
    forward += "        m = self._m\n"
    if taps:
        forward += "        self.taps = {'input': x}\n"
    if inference:
        end = _INFERENCE_END.format(fold="\n".join(fold) or "        pass")
        forward += "        f = self._fold_all() if self._folded is None else self._folded\n"
    else:
        end = _INIT_END
    if "norms" in needed:                   # modules _init does not know: layer norm, group norm, layer scale
        end = end.replace("        _init(self._m)\n", "        _init(self._m)\n        _init_norms(self._m)\n", 1)
    consts = (f"\n\nNETWORK, TARGET = {info.name!r}, {target!r}    # TARGET: the device type this code is tuned for\n"
              if checked else "")
    return (head + runtime_sections()["imports"] + "\n\n\n" + _runtime(needed) + consts
            + _CLASS.format(cls=cls) + "\n".join(modules) + "\n" + end + forward + "\n".join(body) + "\n"
            + _FOOTER.format(cls=cls))


SCOPE_PREFIX = "mgdsl:"


def scope_name(layer: str, grid: str) -> str:
    """The profiler scope of one spec layer's statements on one grid (`generate(scopes=True)`)."""
    return f"{SCOPE_PREFIX}{layer}@{grid}"


def _outputs_text(G: Graph) -> str:
    shapes = [G.node(o).shape for o in G.info.sinks]
    text = ", ".join("N x " + " x ".join(map(str, s)) for s in shapes)
    return f"a tuple ({text})" if G.info.outputs else text


_counter = 0
_compiled: dict[str, Callable] = {}


def build_module(G: Graph, device="cpu", **options):
    """Execute the generated source and return a fresh module on `device`, generated for that
    device's target unless `target` says otherwise. The compiled code is cached per source text, so
    building the same network again costs only its construction and init."""
    global _counter
    options.setdefault("target", target_of(device))
    src = generate(G, **options)
    ns_build = _compiled.get(src)
    if ns_build is None:
        _counter += 1
        filename = f"<mgdsl {G.info.name} #{_counter}>"
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)   # readable tracebacks
        # a real module in sys.modules: torch.compile, tracing into the forward of a built module that
        # sits inside the user's own, looks its functions' module up by name
        mod = types.ModuleType(f"mgdsl_generated_{_counter}")
        sys.modules[mod.__name__] = mod
        exec(compile(src, filename, "exec"), mod.__dict__)
        ns_build = _compiled[src] = mod.__dict__["build"]
    return ns_build(device)
