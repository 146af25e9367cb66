#!/usr/bin/env python3
"""Grammar-aware generation of new specs, for tools/fuzz_specs.py (--generate N).

The mutator starts from the project's specs, so it rarely writes what no spec does. This writes
whole networks from the language's own vocabulary, read at run time: the layer types, their
parameters, each parameter's default and choices (mgdsl.graph.layers.LAYERS) and the units of the
prelude (parsed with mgdsl's parser), so a new layer or option is fuzzed the day it is registered.
It tracks the pyramid roughly (how many grids, their sizes, a flat vector after `fc`) so that about
half the specs check and go on through every other command, and on purpose breaks that model now and
then: flat vectors fed into grid layers, every option with every merge mode, units passing saved
pyramids as arguments (`unit f(x)` ... `f y`, `f in`), saved pyramids named like value words
(`depthwise`, `convT`, `CONVT`, `merge`, `Off`), `expand=`, `use NAME on GRIDS`, `grow`, `outputs`,
`upsample to=`, `concat crop=on`, odd input sizes (15, 225, 200) with strided convs and projections,
scientific notation (`1e6`), extra positional values (`se 64 16`). The language's control constructs come
from a stream of their own (so the rest of a spec is drawn as before they existed): `if`/`else` blocks
around lines (conditions that hold, and now and then one that is no switch or names nothing), units with
a switch taken by position (`gated 8 yes`) and units that use themselves under an `if` (`tree 8 2`), and
`ch` in widths (`conv 2 * ch`).

    python tools/gen_specs.py --seed 3 -n 5          # print five generated specs
"""
from __future__ import annotations

import argparse
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache

ODD_SIZES = [15, 225, 200, 7, 9, 17, 31, 33, 28, 100]
EVEN_SIZES = [8, 16, 32, 64, 12, 24, 48]
PLAIN_NAMES = ["a", "b", "c", "x1", "skip", "h", "low", "p2", "e1", "mid", "branch", "s"]
ACTIVE_SELECTORS = ["finest", "coarsest", "coarsest 2", "finest 2"]
# ends a generated line that must check whenever the lines before it do (an error there is a wrong refusal)
SURE = "# must check"


# -- the vocabulary, from the registries ---------------------------------------------------------------------------
@dataclass
class ParamInfo:
    name: str
    default: object
    choices: tuple
    doc: str
    kind: str                       # tensor, widths, switch, choice, prob, int, word


@dataclass
class LayerInfo:
    name: str
    params: list[ParamInfo]
    head: bool
    doc: str


@dataclass
class UnitInfo:
    name: str
    params: list[tuple[str, str | None]]      # (name, default as text or None)


@dataclass
class Vocabulary:
    layers: dict[str, LayerInfo]
    units: dict[str, UnitInfo]
    value_words: list[str]                     # every word a parameter takes: names that shadow them
    param_by_name: dict[str, ParamInfo] = field(default_factory=dict)


def _kind(p) -> str:
    """The generator's kind of a parameter, read from the registry's typed kind (mgdsl.graph.layer_api)."""
    from mgdsl.graph import layer_api as api
    k = p.kind
    if isinstance(k, api.Saved):
        return "tensor"
    if isinstance(k, api.Choice):
        return "choice"
    if isinstance(k, api.PerGrid) and p.name == "widths":
        return "widths"
    if isinstance(k, api.Switch):
        return "switch"
    if isinstance(k, api.Real):
        return "prob" if k.hi <= 1 else "real"
    if isinstance(k, api.WholeOr):
        return "int+word"
    if isinstance(k, api.WholeOrWindow) or isinstance(k, api.PerGrid) and k.windows:
        return "int+window"
    return "int"


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The layer types and prelude units of the mgdsl this runs with."""
    from importlib import resources

    from mgdsl.errors import Source
    from mgdsl.graph.layer_api import LAYERS, SWITCH
    from mgdsl.lang.parser import parse
    layers, words, by_name = {}, set(SWITCH), {}
    for name, lt in LAYERS.items():
        params = []
        for p in lt.params:
            info = ParamInfo(p.name, p.default, tuple(p.choices), p.doc or "", _kind(p))
            params.append(info)
            by_name.setdefault(p.name, info)
            words |= set(info.choices)
        layers[name] = LayerInfo(name, params, lt.head, lt.doc)
    text = resources.files("mgdsl.lang").joinpath("prelude.mg").read_text(encoding="utf-8")
    mod = parse(Source("<prelude>", text))
    units = {}
    for u in mod.units:
        units[u.name] = UnitInfo(u.name, [(p.name, _expr_text(p.default)) for p in u.params])
    return Vocabulary(layers, units, sorted(words | {"same", "in"}), by_name)


def _expr_text(e) -> str | None:
    if e is None:
        return None
    for attr in ("name", "value", "text"):
        if hasattr(e, attr):
            return str(getattr(e, attr))
    return str(e)


# -- the generator --------------------------------------------------------------------------------------------------
@dataclass
class Pyramid:
    sizes: list[int]                           # one square side per grid, finest first
    width: int = 8
    flat: bool = False


class Gen:
    """One spec. `wild` is the chance of each deliberate break of the pyramid model."""

    def __init__(self, rng: random.Random, vocab: Vocabulary, wild: float):
        self.r, self.v, self.wild = rng, vocab, wild
        self.saved: dict[str, Pyramid] = {}
        self.params: dict[str, int] = {}
        self.lines: list[str] = []
        self.local_units: dict[str, list[str]] = {}   # name -> its parameter names
        self.pyr = Pyramid([32])
        self.across = 32                               # the input's width (its height is pyr.sizes[0])
        self.c: random.Random = random.Random(0)      # the control constructs' own stream (set per spec)
        self.controls: list[str] = []                 # the units control_units() defined

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    # values ------------------------------------------------------------------------------------------------------
    def width(self) -> str:
        r = self.r.random()
        if r < 0.05 * self.wild * 4:
            return self.r.choice(["1e6", "0", "1e1", "2.5", "-4", "w * 0", "99999999"])
        if self.params.get("w") and r < 0.4:
            return self.r.choice(["w", "2w", "w/2", "w // 2", "w + 4", "3w/4"])
        return str(self.r.choice([4, 6, 8, 12, 16, 3, 10]))

    def widths(self, n: int) -> str:
        if self.chance(0.1):
            return "same"
        if n > 1 and self.chance(0.5):
            k = n if not self.chance(self.wild) else self.r.choice([n - 1, n + 1])
            return ", ".join(self.width() if not self.chance(0.1) else "same" for _ in range(max(k, 1)))
        return self.width()

    def tensor(self, many: bool = False) -> str:
        names = list(self.saved)
        if not names and not self.chance(self.wild):
            return "in" if "in" in self.saved else self.r.choice(PLAIN_NAMES)
        if not names or self.chance(self.wild * 0.3):
            return self.r.choice(["nope", "in", *self.v.value_words[:3]])
        if many and len(names) > 1 and self.chance(0.5):
            return ", ".join(self.r.sample(names, self.r.randint(2, min(3, len(names)))))
        return self.r.choice(names)

    def value(self, p: ParamInfo, positional: bool = False) -> str:
        k = p.kind
        if self.chance(self.wild * 0.15):                # a value of the wrong kind
            return self.r.choice(["on", "7", "2.5", "banana", "merge", "depthwise", "1e6", "-1", "[3, 1]", "w"])
        if k == "tensor":
            return self.tensor(many="one or more" in p.doc)
        if k == "widths":
            return self.widths(1 if "new grid" in p.doc else len(self.pyr.sizes))
        if k == "switch":
            return self.r.choice(["on", "off", "on", "off", "yes", "no", "true", "false", "1", "0"])
        if k == "choice":
            return self.r.choice(p.choices)
        if k == "prob":
            return self.r.choice(["0.1", "0.5", "0", "0.25", "0.9"])
        if k == "int+word" and self.chance(0.5):
            return self.r.choice(p.choices)
        if k == "int+window" and self.chance(0.2):      # a window of two sides (`kernel=1x7`), sometimes broken
            return self.r.choice(["1x3", "3x1", "1x5", "5x3"] + (["0x3", "2x3", "1x"] if self.chance(self.wild) else []))
        base = p.default if isinstance(p.default, int) and not isinstance(p.default, bool) else 2
        pool = [base, 1, 2, 3, base + 1] + ([max(base - 1, 0)] if self.chance(self.wild) else [])
        if p.name in ("kernel", "upkernel"):
            pool = [base, 2, 4, 1, 3] if isinstance(p.default, int) and p.default % 2 == 0 else [1, 3, 3, 5]
        n = self.r.choice(pool)
        if len(self.pyr.sizes) > 1 and p.name == "kernel" and self.chance(0.2):
            return ", ".join(str(self.r.choice([1, 3])) for _ in self.pyr.sizes)
        if p.name == "expand":
            return self.r.choice(["2", "4", "1", "2", "6"] + (["1 / 2", "0.5"] if self.chance(self.wild * 4) else []))
        if p.name == "groups" and self.chance(0.3):
            return "2"
        return str(n)

    # layers ------------------------------------------------------------------------------------------------------
    def call(self, layer: LayerInfo, extra: dict[str, str] | None = None) -> str:
        parts = [layer.name]
        params = list(layer.params)
        first = params[0] if params else None
        given = dict(extra or {})
        if first is not None and first.name not in given and (first.default is not None or self.chance(0.7)):
            from mgdsl.graph.layer_api import REQUIRED
            if first.default is REQUIRED or first.kind in ("widths", "tensor") or self.chance(0.3):
                parts.append(self.value(first, positional=True))
                if self.chance(self.wild * 0.1):
                    parts.append(self.value(first))          # an extra positional value: `se 64 16`
        keen = 0.5 if given.get("merge") == "sum" else 0.25      # the summing mg-conv has the most options
        for p in params[1:]:
            if p.name in given:
                continue
            if self.chance(keen + 0.25 * self.wild):
                given[p.name] = self.value(p)
        if not self.chance(self.wild):
            self._agree(layer, parts, given)
        parts += [f"{k}={v}" for k, v in given.items()]
        if self.chance(0.12) and len(self.pyr.sizes) > 1 and not layer.head and "," not in parts[1:2][0:1][0] \
                if len(parts) > 1 else False:
            parts.append("on " + self.selector())
        return " ".join(parts)

    def _agree(self, layer: LayerInfo, parts: list[str], given: dict[str, str]):
        """Keep options that need each other together, as their help says: a value documented as
        `WORD (...; merge=sum)` brings merge=sum with it; act= and relu= do not go together, nor
        widths and expand=."""
        by = {p.name: p for p in layer.params}
        for k, v in list(given.items()):
            p = by.get(k)
            if p is None:
                continue
            needs = re.findall(r"(\w+)=(\w+)", " ".join(re.findall(rf"\b{re.escape(v)}\b\s*\(([^)]*)\)", p.doc)))
            if v != str(p.default) and re.match(r"[^|]*\((\w+)=(\w+)[;)]", p.doc) and not p.choices:
                needs += re.findall(r"\((\w+)=(\w+)[;)]", p.doc)[:1]
            for nk, nv in needs:
                if nk in by and nk != k:
                    given[nk] = nv
        if given.get("groups") not in (None, "1", "depthwise"):
            given["groups"] = "depthwise"
        if given.get("groups") == "depthwise" and len(parts) > 1 and layer.params[0].kind == "widths":
            del parts[1:]
        if "act" in given and "relu" in given:
            del given[self.r.choice(["act", "relu"])]
        if "expand" in given and len(parts) > 1 and layer.params and layer.params[0].kind == "widths":
            del parts[1:]

    def selector(self) -> str:
        if self.chance(0.4):
            i = self.r.randrange(len(self.pyr.sizes))
            s = self.pyr.sizes[i]
            return f"{s}x{s if self.across == self.pyr.sizes[0] else max(1, self.across >> i)}"
        return self.r.choice(ACTIVE_SELECTORS)

    def effect(self, name: str, text: str):
        """Follow what a known layer does to the pyramid (unknown ones change nothing here)."""
        p = self.pyr
        if name == "pool":
            if "merge" in text and len(p.sizes) > 1:
                p.sizes.pop()
            elif "drop" in text and len(p.sizes) > 1:
                p.sizes.pop()
            p.sizes = [max(1, (s + 1) // 2) for s in p.sizes]
        elif name == "drop" and len(p.sizes) > 1:
            m = re.match(r"drop (\d+)", text)
            del p.sizes[max(1, len(p.sizes) - (int(m.group(1)) if m else 1)):]
        elif name == "grow":
            p.sizes.append(max(1, (p.sizes[-1] + 1) // 2))
        elif name == "gap":
            p.sizes = [1 for _ in p.sizes]
        elif name == "upsample":
            p.sizes = [s * 2 for s in p.sizes]
        elif name in ("conv", "upconv") and re.search(r"stride=2\b", text):
            p.sizes = [max(1, (s + 1) // 2) for s in p.sizes]
        elif name == "upconv":
            p.sizes = [s * 2 for s in p.sizes]
        elif name == "fc":
            p.flat = True
            p.sizes = [1]
        elif name == "use":
            m = re.match(r"use (\w+)", text)
            if m and m.group(1) in self.saved:
                self.pyr = Pyramid(list(self.saved[m.group(1)].sizes), flat=self.saved[m.group(1)].flat)

    def step(self, in_unit: bool = False) -> str:
        """One step of a line: a layer or a unit call."""
        v = self.v
        names = [n for n, lt in v.layers.items() if not lt.head]
        r = self.r.random()
        if r < 0.15 and (v.units or self.local_units):
            return self.unit_call()
        if self.pyr.flat and not self.chance(self.wild):
            name = self.r.choice(["dropout", "fc"]) if "dropout" in v.layers else "fc"
            if name == "fc":
                return self.call(v.layers["fc"])
        else:
            name = self.r.choice(names)
        if name in ("use", "crop", "scale", "concat", "add", "upsample") and not self.saved and not in_unit:
            name = "conv"
        if name == "use" and in_unit and self.chance(0.3):
            text = "use in"
        elif name == "upsample" and self.saved and self.chance(0.4):
            text = self.call(v.layers[name], {"to": self.tensor()})
        elif name == "concat" and self.chance(0.3):
            text = self.call(v.layers[name], {"crop": "on"})
        elif name == "mgconv" and self.chance(0.5):
            text = self.call(v.layers[name], {"merge": "sum"})
        elif name == "drop" and len(self.pyr.sizes) == 1 and not self.chance(self.wild):
            name, text = "relu", "relu"
        elif name == "pool" and min(self.pyr.sizes) < 2 and not self.chance(self.wild):
            name, text = "bn", "bn"
        elif name == "gap" and (len(self.pyr.sizes) > 1 or self.chance(0.5)) and not self.chance(self.wild):
            name, text = "bn", "bn"
        elif name == "scale" and not self.chance(self.wild):
            gates = [n for n, p in self.saved.items() if set(p.sizes) == {1} and len(p.sizes) == len(self.pyr.sizes)]
            if gates:
                text = f"scale {self.r.choice(gates)}"
            else:
                name, text = "bn", "bn"
        else:
            text = self.call(v.layers[name])
        self.effect(name, text)
        return text

    def unit_call(self) -> str:
        units = list(self.v.units) + list(self.local_units)
        name = self.r.choice(units)
        if name in self.local_units:
            params = self.local_units[name]
            args = [self.tensor() if p.startswith(("x", "skip", "t")) else self.width() for p in params]
            if params and self.chance(0.3) and self.saved:
                return f"{name} {self.tensor()}"            # a pyramid by position
            return " ".join([name, ", ".join(args)] if args else [name])
        u = self.v.units[name]
        parts = [name]
        if u.params and self.chance(0.7):
            parts.append(self.widths(len(self.pyr.sizes)))
        for pname, _ in u.params[1:]:
            info = self.v.param_by_name.get(pname)
            if info is not None and self.chance(0.3):
                parts.append(f"{pname}={self.value(info)}")
        if self.chance(self.wild * 0.2):
            parts.append("16")                                   # `se 64 16`
        return " ".join(parts)

    def line(self, in_unit: bool = False) -> str:
        if not in_unit and not self.pyr.flat and self.chance(0.08):
            name = self.r.choice(PLAIN_NAMES)                  # a strided step and its projected shortcut
            self.saved[name] = Pyramid(list(self.pyr.sizes))
            self.effect("conv", "conv stride=2")
            sure = f"  {SURE}" if self.wild == 0 else ""      # torch builds this whatever the grid's size
            return f"{name} = bn\nconv {self.r.choice([4, 8, 12])} stride=2\nadd {name} shortcut=proj{sure}"
        steps = [self.step(in_unit) for _ in range(self.r.choice([1, 1, 1, 2, 3]))]
        text = "; ".join(steps)
        if self.chance(0.1):
            times = self.r.choice(["2", "0", "3"] + (["n"] if "n" in self.params else []))
            text = f"{times} × {text}" if self.chance(0.7) else f"{times} * {text}"
        if self.chance(0.3) and not in_unit:
            name = self.save_name()
            self.saved[name] = Pyramid(list(self.pyr.sizes), flat=self.pyr.flat)
            text = f"{name} = {text}"
        return text

    def save_name(self) -> str:
        if self.chance(0.15 + 0.3 * self.wild):
            return self.r.choice(self.v.value_words + list(self.v.layers) + ["CONVT", "Off", "In", "e6", "w"])
        return self.r.choice(PLAIN_NAMES)

    # the whole spec ----------------------------------------------------------------------------------------------
    def unit_defs(self) -> list[str]:
        out = []
        for i in range(self.r.choice([0, 0, 1, 2])):
            name = self.r.choice(["f", "g", "block", "se", "fold", "branchy", "conv2", "u1"]) + ("" if i == 0 else str(i))
            kind = self.r.random()
            saved, pyr = dict(self.saved), self.pyr
            self.pyr = Pyramid(list(pyr.sizes))
            if kind < 0.4:                             # takes a pyramid: unit f(x)
                params = ["x"]
                self.saved = {"x": Pyramid(list(pyr.sizes)), "in": Pyramid(list(pyr.sizes))}
                body = [self.r.choice(["conv 8 kernel=1", "conv expand=2 stride=2", "bn; relu"]),
                        self.r.choice(["add x shortcut=proj", "add x", "concat x", "upsample to=x", "add in",
                                       "scale x", "concat in, x crop=on"])]
            elif kind < 0.7:                           # a width: unit g(c, s = 2)
                params = ["c", "s = 2"] if self.chance(0.5) else ["c"]
                self.saved = {"in": Pyramid(list(pyr.sizes))}
                body = [self.r.choice(["conv c kernel=1", "gap; conv c kernel=1 bn=off act=sigmoid", "conv c stride=1"]),
                        self.r.choice(["scale in", "add in shortcut=proj", "concat in", "relu"])]
            else:                                      # calls another unit, or takes a pyramid and calls with `in`
                params = []
                self.saved = {"in": Pyramid(list(pyr.sizes))}
                body = [self.line(in_unit=True) for _ in range(self.r.choice([1, 2]))]
                if self.local_units and self.chance(0.5):
                    other, ps = self.r.choice(list(self.local_units.items()))
                    body.append(f"{other} in" if ps and ps[0] == "x" else f"{other} 8")
            self.saved, self.pyr = saved, pyr
            self.local_units[name] = [p.split()[0] for p in params]
            out.append(f"unit {name}({', '.join(params)}):")
            out += ["    " + b for b in body]
        return out

    # control constructs: if/else, a unit's later arguments by position, ch, recursion --------------------------
    def control_units(self) -> list[str]:
        c, out = self.c, []
        if c.random() < 0.4:
            out += ["unit gated(c, gate = off):", "    conv " + c.choice(["ch*2", "c", "2 * ch"]) + " kernel=1",
                    "    if gate:", "        conv c kernel=1", "    else:", "        conv c"]
            self.controls.append("gated")
        if c.random() < 0.3:
            out += ["unit tree(c, depth):", "    if depth > 0:", "        a = tree c depth - 1", "        tree c depth - 1",
                    "        concat a; conv c kernel=1", "    else:", "        conv c"]
            self.controls.append("tree")
        return out

    def control_call(self) -> str | None:
        """A call of a unit of control_units(), or a conv whose width reads ch."""
        c, wild = self.c, self.c.random() < self.wild
        if self.pyr.flat:
            return None
        width = c.choice(["4", "8", "ch", "2 * ch"])
        name = c.choice(self.controls + ["ch"])
        if name == "gated":
            gate = c.choice(["yes", "no", "off", "true", "gate=on", "gate=off"] if not wild else ["on", "3", "maybe", "on 5"])
            return f"gated {width} {gate}"
        if name == "tree":
            return f"tree {width} {c.choice([0, 1, 2] if not wild else [40, -1, 'w'])}"
        return c.choice(["conv ch kernel=1", "conv 2 * ch kernel=1", "conv ch + 4"] if not wild else
                        ["conv ch/3", "conv [ch, 2]", "ch × relu"])

    def conditional(self, text: str) -> str:
        """A line in an `if` block whose condition holds (with an `else` the pyramid model never sees), or,
        now and then, a condition that is no switch or names nothing."""
        c = self.c
        conds = ["on", "yes", "1 == 1", "2 > 1", "not off", "on and 2 > 1", "off or yes"] + \
            [f"{k} == {v}" for k, v in self.params.items()] + [f"{k} >= 1 and not {k} < 1" for k in self.params]
        if c.random() < self.wild:
            conds = ["w", "nope", "[1, 2]", "merge", "on > 1", "on or nope", "not", "and on"]
        body = "\n".join("    " + ln for ln in text.split("\n"))
        if c.random() < 0.3:
            return f"if {c.choice(['off', 'no', '1 == 2'])}:\n    conv 8\nelse:\n{body}"
        return f"if {c.choice(conds)}:\n{body}"

    def spec(self, title: str) -> str:
        r = self.r
        self.c = random.Random(f"control-{title}")
        odd = self.chance(0.4)
        side = r.choice(ODD_SIZES if odd else EVEN_SIZES)
        k = r.choice([1, 1, 2, 2, 3, 4])
        if odd and not self.chance(self.wild):
            k = 1                                      # an odd side cannot be halved into a pyramid
        params = {}
        if self.chance(0.5):
            params["w"] = r.choice([4, 8, 16])
        if self.chance(0.3):
            params["n"] = r.choice([1, 2])
        if self.chance(0.3):
            params["size"] = side
        if self.chance(0.15 * self.wild * 4):
            params[r.choice(self.v.value_words)] = 3                  # a parameter named like a value word
        self.params = params
        head = [f"# generated spec {title}"]
        units = self.unit_defs() + self.control_units()
        ptext = " (" + ", ".join(f"{k_} = {v}" for k_, v in params.items()) + ")" if params else ""
        if self.chance(self.wild * 0.2):
            ptext = " (w = 1e6)"
        head.append(f'network "{title}"{ptext}')
        self.across = side
        if "size" not in params and self.chance(0.2):         # a grid that is not square
            self.across = r.choice([side * 2, side + 1, max(1, side // 2), side + 8])
        head.append(f"input {r.choice([3, 1, 3, 4])} @ " + ("size" if "size" in params else f"{side}x{self.across}"))
        while side % (1 << (k - 1)) and not self.chance(self.wild):
            k -= 1
        sizes = [side]
        for _ in range(k - 1):
            sizes.append(sizes[-1] // 2)
        if k > 1:
            head.append("grids " + (str(k) if self.chance(0.5) or self.across != side else
                                    ", ".join(f"{s}x{s}" for s in sizes)))
        self.pyr = Pyramid(sizes)
        body = []
        if self.chance(0.7):
            body.append(f"conv {self.widths(k)}" + (" stride=2" if self.chance(0.3) else ""))
            self.effect("conv", body[-1])
        for _ in range(r.randint(1, 7)):
            if self.chance(0.06):
                body.append(f"section {r.choice(['stem', 'body', 'mid', 's9', 'head2'])}")
            line = self.line()
            body.append(self.conditional(line) if self.c.random() < 0.12 and SURE not in line else line)
            if self.c.random() < 0.15 and (call := self.control_call()):
                body.append(call)
        body += self.ending()
        text = "\n".join(head + units + body)
        if text.endswith(SURE):                   # the last line also answers for how the network ends
            text = text[:-len(SURE)].rstrip()
        return text + "\n"

    def ending(self) -> list[str]:
        r, p = self.r.random(), self.pyr
        out = []
        if r < 0.15 and self.saved:
            return [f"outputs {self.tensor(many=True)}"]
        if r < 0.25:
            return []                                    # headless
        if len(p.sizes) > 1 and not self.chance(self.wild):
            out.append(self.r.choice([f"drop {len(p.sizes) - 1}", "pool merge" if len(p.sizes) == 2 else
                                      f"drop {len(p.sizes) - 1}"]))
        if r < 0.45:
            out.append(f"maps {self.r.choice([1, 2, 10])}")
        else:
            out.append("fc 10" + (" pool=avg" if not p.flat and self.chance(0.6) else ""))
        return out


def generate(rng: random.Random, wild: float | None = None) -> str:
    """One new spec; `wild` (default: drawn per spec) is how often it breaks the pyramid model on purpose."""
    w = rng.choice([0.0, 0.0, 0.05, 0.1, 0.25]) if wild is None else wild
    return Gen(rng, vocabulary(), w).spec(f"G{rng.randrange(10**6)}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-n", type=int, default=3, help="how many specs to print")
    a = p.parse_args(argv)
    for i in range(a.n):
        print(generate(random.Random(f"{a.seed}-{i}-generated")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
