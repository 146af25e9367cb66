"""Reading spec files: imports, `network ... from` bases, the prelude, and cycles among them."""
from __future__ import annotations

import os
import stat
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import ImportCycleError, MgError, Source, Span, SpecNameError, SpecSyntaxError, UsageError
from . import ast as A
from .parser import KEYWORDS, MAX_SPEC_BYTES, decode, parse

PRELUDE = "<prelude>"
PRELUDE_PATH = "mgdsl/lang/prelude.mg"   # how errors and spans name the prelude: its path in the package


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


def read_spec(p: Path, shown: str, span: Span | None) -> bytes:
    """The bytes of a spec file: only a regular file (a named pipe or a device is refused without
    waiting on it), read in pieces and refused once it passes MAX_SPEC_BYTES, so a huge file is
    never held whole. Errors point at the `import` or `from` line that names the file, if any."""
    def fail(message, cls=None, hint=None):
        return (cls or (UsageError if span is None else SpecNameError))(message, span, hint=hint)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise fail(f"no such file: {shown}", hint="paths in `import` and `from` are relative to the file that "
                                                  "names them" if span else None) from None
    except IsADirectoryError:
        raise fail(f"{shown} is a folder, not a .mg file") from None
    except OSError as e:
        raise fail(f"cannot read {shown}: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise fail(f"{shown} is a folder, not a .mg file")
        if not stat.S_ISREG(mode):
            raise fail(f"{shown} is not a regular file (a named pipe, socket or device?); specs are read "
                       "only from files")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SPEC_BYTES:
                raise fail(f"{shown} is larger than {MAX_SPEC_BYTES // 1024} KiB; specs are limited to "
                           f"{MAX_SPEC_BYTES // 1024} KiB", cls=SpecSyntaxError, hint="is it really a .mg spec?")
        return b"".join(chunks)
    except MgError:
        raise
    except OSError as e:
        raise fail(f"cannot read {shown}: {e.strerror}") from None
    finally:
        os.close(fd)


class Loader:
    """Parses each file once and resolves what it imports.

    `unsaved` maps resolved paths to text an editor holds, read instead of the files; `prelude` is the
    text of the prelude to use instead of the packaged one. `Loader.default_prelude`, when set, is that
    text for every Loader made without one: a tool that mutates the prelude (tools/fuzz_specs.py) sets
    it, and every front end, `mgdsl check` included, then reads that prelude."""

    default_prelude: str | None = None

    def __init__(self, unsaved: dict[str, str] | None = None, prelude: str | None = None):
        self.modules: dict[str, A.Module] = {}
        self.unsaved = unsaved or {}
        self.prelude_text = prelude if prelude is not None else Loader.default_prelude

    def prelude(self) -> A.Module:
        if PRELUDE not in self.modules:
            text = self.prelude_text if self.prelude_text is not None else \
                resources.files("mgdsl.lang").joinpath("prelude.mg").read_text(encoding="utf-8")
            self.modules[PRELUDE] = _bound_prelude(text)
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
        data = self.unsaved[key].encode("utf-8") if key in self.unsaved else read_spec(p, shown, span)
        mod = parse(decode(data, shown))
        self._link(mod, p.parent, chain + (key,))
        self.modules[key] = mod
        return mod

    def loads(self, text: str, path: str = "<string>") -> A.Module:
        """A file's syntax tree from text held in memory, its imports (relative to `path`'s folder)
        loaded and its units bound, as `load` does for a file."""
        mod = parse(Source(path, text))
        self._link(mod, Path(path).parent, ())
        return mod

    def _link(self, mod: A.Module, folder: Path, chain: tuple[str, ...]) -> None:
        """Load what a module imports or derives from, and bind the units it can see."""
        visible = dict(self.prelude().units_table)
        for imp in mod.imports:
            dep = self.load(folder / imp.path, imp.span, chain)
            visible.update(dep.own_units)
        if mod.network is not None and mod.network.base is not None:
            self.load(folder / mod.network.base, mod.network.base_span, chain)
        self._bind_units(mod, visible)

    def base_of(self, mod: A.Module) -> A.Module:
        """The module a `network ... from "file"` line names (already loaded by `load`)."""
        here = Path(mod.source.path).parent
        assert mod.network is not None and mod.network.base is not None, "only called for a derived network"
        return self.modules[str((here / mod.network.base).resolve())]

    @staticmethod
    def _bind_units(mod: A.Module, visible: dict):
        if mod.network is not None:
            check_network(mod.network)
        own: dict[str, A.UnitDef] = {}
        for u in mod.units:
            if u.name in own:
                raise SpecNameError(f"unit '{u.name}' is defined twice in this file", u.span,
                                    hint=f"the first definition is at {own[u.name].span}")
            if u.name in KEYWORDS:
                raise SpecNameError(f"a unit cannot be called '{u.name}': it is a word of the language "
                                    f"({KEYWORDS[u.name]})", u.span, hint="give the unit another name")
            check_params(u.params, f"unit '{u.name}'")
            own[u.name] = u
        table = {**visible, **own}
        for u in own.values():
            u.units = table
        mod.own_units, mod.units_table = own, table



@lru_cache(maxsize=4)
def _bound_prelude(text: str) -> A.Module:
    """The prelude's syntax tree with its units bound, parsed once per text: nothing changes a bound
    module afterwards, so every Loader can share it (a long-lived front end loads specs many times)."""
    mod = parse(Source(PRELUDE_PATH, text))
    Loader._bind_units(mod, {})
    return mod


def check_params(params: list[A.Param], owner: str):
    """Parameter names: each once, and not `in` (a unit's input). Names that the layers give a meaning
    as values (`off`, `merge`, ...) are refused where the layers are known (mgdsl.network)."""
    seen: dict[str, A.Param] = {}
    for prm in params:
        if prm.name == "in":
            raise SpecNameError(f"parameter 'in' of {owner} is reserved for a unit's input", prm.span,
                                hint="give the parameter another name")
        if prm.name in KEYWORDS:
            raise SpecNameError(f"a parameter of {owner} cannot be called '{prm.name}': it is a word of the language "
                                f"({KEYWORDS[prm.name]})", prm.span, hint="give the parameter another name")
        if prm.name in seen:
            raise SpecNameError(f"parameter '{prm.name}' of {owner} is declared twice", prm.span,
                                hint=f"the first declaration is at {seen[prm.name].span}; keep one")
        seen[prm.name] = prm


def check_network(net: A.NetworkDef):
    """The network line: its parameters, and a name that can be printed (it is written into the
    generated code's docstring and the diagrams)."""
    if not net.name.strip() or not net.name.isprintable():
        raise SpecNameError(f"the network name {net.name!r} is empty or holds characters that cannot be printed",
                            net.span, hint='use a name like "R-PMG-30"')
    check_params(net.params, f'network "{net.name}"')
