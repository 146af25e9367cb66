#!/usr/bin/env python3
"""Write every output mgdsl derives from every spec into one folder, so that two checkouts can be
compared file by file (`diff -r`): a refactor or a hardening change must leave them byte-identical.

For each spec under specs/ (and the prelude's units through them) it writes:
  NAME.check.txt        what `mgdsl check` prints (or the error report)
  NAME.cost.json        `mgdsl cost --format json`
  NAME.TARGET[.inference][.plain].py   the generated PyTorch source for each target, with and without
                        batch-norm folding (--inference) and optimisation (--no-optimize)
  NAME.layers.dot, NAME.layers-expand.dot, NAME.ops.dot, NAME.svg   the diagrams

  python tools/snapshot_outputs.py OUT_DIR [--no-svg]
  diff -r OLD_DIR NEW_DIR
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_cli(argv: list[str]) -> str:
    from mgdsl.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return f"rc={rc}\n--- stdout\n{out.getvalue()}--- stderr\n{err.getvalue()}"


def snapshot(out: Path, svg: bool = True) -> int:
    import mgdsl
    from mgdsl.backends.draw import diagram, render
    from mgdsl.backends.torch_passes import TARGETS
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for p in sorted((ROOT / "specs").rglob("*.mg")):
        rel = p.relative_to(ROOT).as_posix()
        name = rel.replace("/", "__")[:-3]
        (out / f"{name}.check.txt").write_text(_run_cli(["check", rel]), encoding="utf-8")
        try:
            net = mgdsl.load(rel)
        except mgdsl.MgError:
            continue                          # a unit library: its check output says so
        (out / f"{name}.cost.json").write_text(_run_cli(["cost", "--format", "json", rel]), encoding="utf-8")
        for target in sorted(TARGETS):
            for inference in (False, True):
                for optimize in (True, False):
                    suffix = f"{target}{'.inference' if inference else ''}{'' if optimize else '.plain'}"
                    src = net.python_source(target=target, inference=inference, optimize=optimize)
                    (out / f"{name}.{suffix}.py").write_text(src, encoding="utf-8")
        (out / f"{name}.layers.dot").write_text(diagram(net.graph), encoding="utf-8")
        (out / f"{name}.layers-expand.dot").write_text(diagram(net.graph, expand=True), encoding="utf-8")
        (out / f"{name}.ops.dot").write_text(diagram(net.graph, detail="ops"), encoding="utf-8")
        if svg:
            (out / f"{name}.svg").write_bytes(render(diagram(net.graph), "svg"))
        n += 1
    return n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="the folder to write (created if missing)")
    p.add_argument("--no-svg", action="store_true", help="skip rendering the SVG diagrams (the DOT is kept)")
    a = p.parse_args(argv)
    n = snapshot(a.out, svg=not a.no_svg)
    print(f"wrote the outputs of {n} networks to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
