"""Binding a network's parameters, and the names the layers reserve.

A network's parameters get their values in this order: the defaults of its `network` line, then the
values of the `network "X" from "base.mg" (...)` lines that derive from it (outermost last), then the
values given by the caller (`--set`, keyword arguments of `mgdsl.load`); defaults that depend on other
parameters are evaluated again with the final values.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ..errors import Source, Span, SpecNameError, SpecTypeError, UsageError
from ..lang import ast as A
from .layer_api import LAYERS, is_value_word
from .lower import Scope, evaluate_list
from .values import Arg, Sym, Window


def check_names(modules: Iterable[A.Module]) -> None:
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


def given_span(name: str, value: object) -> Span:
    """Where a value given by the caller (`--set name=value`) is shown in error reports."""
    text = f"{name}={value}"
    return Span(Source(f"<--set {text}>", text), 1, len(name) + 2, 1, len(text) + 1)


_NUMBER = re.compile(r"\d+(\.\d+)?")          # the grammar's NUMBER: no sign, exponent, underscore, inf or nan
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def given_value(v: object, name: str = "") -> object:
    """A value given as text (`--set n=3`) read as the language reads a value in a spec: a number in
    the grammar's syntax, a negative one, or a word; anything else is refused."""
    if not isinstance(v, str):
        return v
    text = v.strip()
    body = text[1:] if text.startswith("-") else text
    if _NUMBER.fullmatch(body):
        number = float(body) if "." in body else int(body)
        return -number if text.startswith("-") else number
    if _WORD.fullmatch(text):
        return Sym(text)
    if (window := re.fullmatch(r"(\d{1,9})x(\d{1,9})", text)) is not None:      # a kernel of two sides, 1x7
        return Window(text, (int(window.group(1)), int(window.group(2))))
    sci = re.fullmatch(r"-?\d+(\.\d+)?[eE][+-]?\d+", text)
    hint = f"write the number out, as a spec would: {float(text):.15g}" if sci and abs(float(text)) < 1e16 \
        else "give a number like 3 or 0.5, a window like 1x7, or a word like off"
    raise UsageError(f"--set {name}={v}: that is not a value a spec can hold", hint=hint)


def network_values(net: A.NetworkDef, overrides: list[tuple[str, A.Param]], given: Mapping[str, object],
                   shown: str) -> dict[str, Arg]:
    """The value of every parameter of `net` (the network with a body): its defaults, the `from`
    lines' `overrides` (outermost last) and the caller's `given` values; `shown` is the network's name
    as the caller knows it (the derived network's)."""
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
    for k, v in given.items():
        if k not in declared:
            raise UsageError(f"\"{shown}\" has no parameter '{k}'",
                             hint=f"its parameters are: {', '.join(declared) or 'none'}")
        values[k] = Arg((given_value(v, k),), given_span(k, v))
    # defaults that depend on other parameters see the final values
    scope.env = {k: (v, False) for k, v in values.items()}
    for p in net.params:
        if p.name not in given and not any(o.name == p.name for _, o in overrides):
            assert p.default is not None, "checked above"
            values[p.name] = evaluate_list([p.default], p.default.span, scope)
            scope.env[p.name] = (values[p.name], False)
    return values
