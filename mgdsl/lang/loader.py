"""Reading spec files: imports, `network ... from` bases, the prelude, and cycles among them."""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..errors import ImportCycleError, Source, Span, SpecNameError, UsageError
from . import ast as A
from .parser import decode, parse

PRELUDE = "<prelude>"
PRELUDE_PATH = "mgdsl/prelude.mg"        # how errors and spans name the prelude


def prelude_file() -> Path | None:
    """The prelude on disk, when the package is installed as files (an editor can open it)."""
    try:
        p = Path(str(resources.files("mgdsl.lang").joinpath("prelude.mg")))
    except (TypeError, ValueError):
        return None
    return p if p.is_file() else None


def _display(p: Path) -> str:
    try:
        rel = os.path.relpath(p)
        return rel if not rel.startswith(".." + os.sep + "..") else str(p)
    except ValueError:
        return str(p)


class Loader:
    """Parses each file once and resolves what it imports."""

    def __init__(self, unsaved: dict[str, str] | None = None):
        self.modules: dict[str, A.Module] = {}
        self.unsaved = unsaved or {}     # resolved path -> text an editor holds, read instead of the file

    def prelude(self) -> A.Module:
        if PRELUDE not in self.modules:
            text = resources.files("mgdsl.lang").joinpath("prelude.mg").read_text(encoding="utf-8")
            mod = parse(Source(PRELUDE_PATH, text))
            self._bind_units(mod, {})
            self.modules[PRELUDE] = mod
        return self.modules[PRELUDE]

    def load(self, path: str | os.PathLike, span: Span | None = None, chain: tuple[str, ...] = ()) -> A.Module:
        p = Path(path)
        key = str(p.resolve())
        if key in chain:
            loop = " -> ".join(_display(Path(c)) for c in chain[chain.index(key):]) + f" -> {_display(p)}"
            raise ImportCycleError(f"spec files import each other in a circle: {loop}", span,
                                   hint="move the shared units into a file that imports neither")
        if key in self.modules:
            return self.modules[key]
        shown = str(path) if span is None else _display(p)
        try:
            data = self.unsaved[key].encode("utf-8") if key in self.unsaved else p.read_bytes()
        except FileNotFoundError:
            cls = UsageError if span is None else SpecNameError
            raise cls(f"no such file: {shown}", span,
                      hint="paths in `import` and `from` are relative to the file that names them" if span else None) from None
        except IsADirectoryError:
            raise (UsageError if span is None else SpecNameError)(f"{shown} is a folder, not a .mg file", span) from None
        except OSError as e:
            raise (UsageError if span is None else SpecNameError)(f"cannot read {shown}: {e.strerror}", span) from None
        mod = parse(decode(data, shown))
        visible = dict(self.prelude().units_table)
        for imp in mod.imports:
            dep = self.load(p.parent / imp.path, imp.span, chain + (key,))
            visible.update(dep.own_units)
        if mod.network is not None and mod.network.base is not None:
            self.load(p.parent / mod.network.base, mod.network.base_span, chain + (key,))
        self._bind_units(mod, visible)
        self.modules[key] = mod
        return mod

    def base_of(self, mod: A.Module) -> A.Module:
        """The module a `network ... from "file"` line names (already loaded by `load`)."""
        here = Path(mod.source.path).parent
        return self.modules[str((here / mod.network.base).resolve())]

    @staticmethod
    def _bind_units(mod: A.Module, visible: dict):
        own: dict[str, A.UnitDef] = {}
        for u in mod.units:
            if u.name in own:
                raise SpecNameError(f"unit '{u.name}' is defined twice in this file", u.span,
                                    hint=f"the first definition is at {own[u.name].span}")
            seen = set()
            for prm in u.params:
                if prm.name in seen or prm.name == "in":
                    raise SpecNameError(f"parameter '{prm.name}' of unit '{u.name}' is " +
                                        ("reserved for the unit's input" if prm.name == "in" else "declared twice"), prm.span)
                seen.add(prm.name)
            own[u.name] = u
        table = {**visible, **own}
        for u in own.values():
            u.units = table
        mod.own_units, mod.units_table = own, table

