"""The package's shape, as facts that a change cannot quietly undo: no import circles, each room
importing only what it may, layer types apart from the layer API, short top-level steps, and no
module reaching into another's private names."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "mgdsl"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PKG.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, tree: ast.Module, modules: set[str], top_level_only: bool):
    """(imported mgdsl module, the names taken from it, line) for each import of the module; with
    top_level_only, only imports that run when the module is imported (not those inside functions)."""
    is_package = any(m.startswith(module + ".") for m in modules)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:                 # `if TYPE_CHECKING:` and try/except blocks at the top level count too
        nodes = [n for stmt in tree.body for n in ast.walk(stmt) if not isinstance(stmt, (ast.FunctionDef, ast.ClassDef))]
    for n in nodes:
        if isinstance(n, ast.Import):
            for a in n.names:
                if a.name.startswith("mgdsl"):
                    yield a.name, [], n.lineno
        elif isinstance(n, ast.ImportFrom):
            target = _resolve(module, n, is_package)
            if not target.startswith("mgdsl"):
                continue
            names = [a.name for a in n.names]
            subs = [f"{target}.{x}" for x in names if f"{target}.{x}" in modules]
            yield (target, [x for x in names if f"{target}.{x}" not in modules], n.lineno)
            for s in subs:
                yield s, [], n.lineno


def _graph(top_level_only: bool) -> nx.DiGraph:
    mods = _modules()
    G = nx.DiGraph()
    G.add_nodes_from(mods)
    for m, tree in mods.items():
        for target, _, _ in _imports(m, tree, set(mods), top_level_only):
            if target in mods and target != m:
                G.add_edge(m, target)
    return G


def test_no_import_circles_in_the_package():
    for top_level_only in (True, False):
        cycles = list(nx.simple_cycles(_graph(top_level_only)))
        assert not cycles, f"import circles ({'module level' if top_level_only else 'any'}): {cycles[:5]}"


def test_the_language_imports_nothing_of_the_graph_or_the_back_ends():
    mods = _modules()
    for m, tree in mods.items():
        if m.startswith("mgdsl.lang"):
            bad = [t for t, _, _ in _imports(m, tree, set(mods), False)
                   if t.startswith(("mgdsl.graph", "mgdsl.backends", "mgdsl.train", "mgdsl.commands"))]
            assert not bad, f"{m} imports {bad}"


def test_the_graph_imports_no_back_end_and_no_command():
    mods = _modules()
    for m, tree in mods.items():
        if m.startswith("mgdsl.graph"):
            bad = [t for t, _, _ in _imports(m, tree, set(mods), False)
                   if t.startswith(("mgdsl.backends", "mgdsl.train", "mgdsl.commands", "mgdsl.network"))]
            assert not bad, f"{m} imports {bad}"


def test_no_module_imports_another_modules_private_names():
    mods = _modules()
    for m, tree in mods.items():
        for target, names, line in _imports(m, tree, set(mods), False):
            private = [x for x in names if x.startswith("_") and not x.startswith("__")]
            assert not private, f"{m}:{line} imports {private} from {target}"
        for n in ast.walk(tree):
            if isinstance(n, ast.keyword) and n.arg and n.arg.startswith("_"):
                raise AssertionError(f"{m}:{n.value.lineno} passes the private keyword {n.arg}=")


def test_layers_py_holds_only_layer_types_and_what_they_share():
    from mgdsl.graph import layer_api, layers
    tree = ast.parse(inspect.getsource(layers))
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    api = {n for n in dir(layer_api) if not n.startswith("__")}
    assert not defined & api, f"layer_api's names defined again in layers.py: {defined & api}"
    # every function there is a layer type's lowering or something a lowering uses
    lowerings = {lt.lower.__name__ for lt in layer_api.LAYERS.values() if lt.lower.__module__ == layers.__name__}
    used = set()
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            used |= {x.id for x in ast.walk(n) if isinstance(x, ast.Name) and x.id != n.name}
    assert defined <= lowerings | used, defined - lowerings - used


def test_the_lowerers_call_is_a_few_named_steps():
    from mgdsl.graph.lower import Lowerer
    lines = inspect.getsource(Lowerer.call).splitlines()
    assert len(lines) <= 30, f"Lowerer.call is {len(lines)} lines"


# what may be imported inside a function: packages that are slow to import or optional, so that
# `mgdsl check` and every `--help` stay light and torch-free
LATE = {"torch", "numpy", "matplotlib", "PIL", "onnx", "onnxruntime", "onnxscript", "sklearn", "tqdm", "pygls",
        "starlette", "uvicorn", "watchfiles",
        "lsprotocol", "safetensors"}


def _heavy_modules(mods: dict[str, ast.Module]) -> set[str]:
    """The package's modules that import one of LATE at their top level, directly or through another."""
    heavy: set[str] = set()
    changed = True
    while changed:
        changed = False
        for m, tree in mods.items():
            if m in heavy:
                continue
            for stmt in tree.body:
                names = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else \
                    [_resolve(m, stmt, any(x.startswith(m + ".") for x in mods))] if isinstance(stmt, ast.ImportFrom) else []
                if any(n.split(".")[0] in LATE or n in heavy for n in names):
                    heavy.add(m)
                    changed = True
                    break
    return heavy


def test_imports_inside_functions_are_only_the_late_ones_and_say_why():
    mods = _modules()
    heavy = _heavy_modules(mods)
    for m, tree in mods.items():
        lines = (PKG.parent / (m.replace(".", "/") + ("/__init__.py" if (PKG.parent / m.replace(".", "/")).is_dir()
                                                       else ".py"))).read_text(encoding="utf-8").split("\n")
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            local = [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
            for n in local:
                if isinstance(n, ast.Import):
                    names = [a.name for a in n.names]
                else:
                    target = _resolve(m, n, any(x.startswith(m + ".") for x in mods))
                    names = [f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in n.names]
                late = all(x.split(".")[0] in LATE or x in heavy or m.endswith("torch_runtime") for x in names)
                assert late, f"{m}:{n.lineno} imports {names} inside {fn.name}: nothing needs that late; import it at the top"
            if local and not m.endswith("torch_runtime"):    # its sections are copied into generated files
                first = min(n.lineno for n in local)
                said = "#" in lines[first - 1] or lines[first - 2].strip().startswith("#")
                assert said, f"{m}:{first}: say why {fn.name} imports inside the function (a comment on the line)"


def test_no_test_reaches_into_sys_path():
    """Tools are importable through pytest's pythonpath (pyproject.toml), not by editing sys.path."""
    needle = "sys.path." + "insert"
    offenders = [p.name for p in (ROOT / "tests").rglob("*.py") if needle in p.read_text(encoding="utf-8")]
    assert not offenders, offenders
