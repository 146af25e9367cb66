"""Does every network spec compile as one graph with `torch.compile`?

For each network spec (default: every `.mg` file under `specs/` that defines a network) and each mode
(inference: eval mode under `torch.no_grad`; training: train mode, forward and backward of a loss), the
module `mgdsl.load(SPEC).build()` gives is compiled with

    torch.compile(model, fullgraph=True, dynamic=True, backend=...)

and called on batches of 2, 8 and 64 images. It passes when

- nothing breaks the graph (`fullgraph=True` raises at the first break; its reason is reported);
- dynamo makes one graph for all three batch sizes;
- each batch's outputs (and in training, every parameter's gradient) equal those of an identical eager
  copy within a tolerance: |compiled - eager| <= rtol x (the largest |eager|), rtol 1e-3 by default.

    python tools/check_compile.py                          # every spec, inductor (slow: minutes per spec)
    python tools/check_compile.py specs/mg-16.mg --backend aot_eager --modes infer
    python tools/check_compile.py --small --json out.json --markdown

The batch dimension of every input is marked unbacked (`torch._dynamo.decorators.mark_unbacked(x, 0)`):
dynamo then keeps one symbol for it and guards on no particular value. With `dynamic=True` alone, a
batch size is a "backed" symbol whose value torch may branch on, and on the CPU it does for every
convolution: its kernel choice asks whether the batch holds 16 images or more, so batches 2 and 8 share
a graph and batch 64 gets another, for a single `nn.Conv2d` as for any network here (`--batch-dim
dynamic` shows it). Unbacked, batch 1 shares the graph too (no specialisation of sizes 0 and 1).

`--backend aot_eager` traces exactly as inductor does (dynamo, then AOT autograd) but runs the traced
graph without generating code: graph breaks and recompilations show the same, at a fraction of the cost. `--small`
runs networks with a `size` parameter (the zoo beyond the paper) at the smallest input they accept of
64, 75, 96, 128 and 252 pixels.
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SMALL_SIDES = (64, 75, 96, 128, 252)


def network_specs(root: Path = ROOT) -> list[str]:
    """Every spec file under specs/ that defines a network (not the unit libraries)."""
    out = []
    for p in sorted((root / "specs").rglob("*.mg")):
        text = p.read_text(encoding="utf-8")
        if any(line.startswith("network ") for line in text.splitlines()):
            out.append(p.relative_to(root).as_posix())
    return out


def small_params(spec: str) -> dict:
    """For a spec with a `size` parameter, the smallest side of SMALL_SIDES it accepts (below its own)."""
    import mgdsl
    from mgdsl.errors import MgError
    net = mgdsl.load(ROOT / spec)
    own = net.params.get("size")
    if not isinstance(own, int):
        return {}
    for side in SMALL_SIDES:
        if side >= own:
            break
        try:
            mgdsl.load(ROOT / spec, size=side)
            return {"size": side}
        except MgError:
            continue
    return {}


def _flat(y) -> list:
    return [t for item in y for t in _flat(item)] if isinstance(y, (tuple, list)) else [y]


def _error(got, want) -> float:
    """|got - want| over the largest |want|, the worst over paired tensors."""
    worst = 0.0
    for g, w in zip(got, want):
        if g is None or w is None:
            if (g is None) != (w is None):
                return float("inf")
            continue
        if g.shape != w.shape:
            return float("inf")
        scale = max(float(w.abs().max()), 1e-12)
        worst = max(worst, float((g.float() - w.float()).abs().max()) / scale)
    return worst


def check(spec: str, mode: str, backend: str = "inductor", batches=(2, 8, 64), params: dict | None = None,
          seed: int = 0, unbacked: bool = True) -> dict:
    """One spec in one mode: graphs made, graph-break reason (None), worst relative error, seconds."""
    import mgdsl
    net = mgdsl.load(ROOT / spec, **(params or {}))
    out = check_network(net, mode, backend, batches, seed, unbacked)
    out.update(spec=spec, params=params or {})
    return out


def check_network(net, mode: str, backend: str = "inductor", batches=(2, 8, 64), seed: int = 0,
                  unbacked: bool = True) -> dict:
    """`check` of a loaded network (anything with `build()` and `input_shape`). With `unbacked`, each
    input's batch dimension is marked unbacked (see the module docstring)."""
    import torch
    import torch._dynamo as dynamo
    if unbacked and not hasattr(dynamo.decorators, "mark_unbacked"):
        raise SystemExit(f"torch {torch.__version__} cannot mark a dimension unbacked: use --batch-dim dynamic")
    dynamo.reset()
    torch.manual_seed(seed)
    eager = net.build()
    model = copy.deepcopy(eager)
    train = mode == "train"
    eager.train(train)
    model.train(train)
    graphs: list = []
    inner = dynamo.lookup_backend(backend)

    def counting(gm, example_inputs):
        graphs.append(len(gm.graph.nodes))
        return inner(gm, example_inputs)

    if unbacked:
        class AtLeastOne(torch.nn.Module):
            """The model, told that a batch holds at least one image: an unbacked size may be 0, and
            torch's ops ask whether a tensor is empty (Eq(u0, 0)), which only this fact answers."""
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                torch._check(x.size(0) >= 1)
                return self.inner(x)
        target = AtLeastOne(model)
    else:
        target = model
    compiled = torch.compile(target, fullgraph=True, dynamic=True, backend=counting)
    out = {"spec": getattr(net, "path", ""), "mode": mode, "backend": backend, "params": {}, "graphs": 0,
           "batch_dim": "unbacked" if unbacked else "dynamic",
           "break": None, "error": 0.0, "seconds": 0.0, "batches": list(batches)}
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    try:
        for b in batches:
            x = torch.randn(b, *net.input_shape, generator=gen)
            if unbacked:
                dynamo.decorators.mark_unbacked(x, 0)
            results = []
            for m in (compiled, eager):
                torch.manual_seed(seed + b)            # dropout draws the same masks in both
                if train:
                    for p in m.parameters():
                        p.grad = None
                    y = _flat(m(x))
                    sum(t.float().mean() for t in y).backward()
                    results.append([t.detach() for t in y] + [p.grad for p in m.parameters()])
                else:
                    with torch.no_grad():
                        results.append(_flat(m(x)))
            out["error"] = max(out["error"], _error(*results))
    except Exception as e:       # a graph break under fullgraph=True, or a failure to compile
        msg = str(e).strip().splitlines()
        out["break"] = f"{type(e).__name__}: {msg[0] if msg else ''}"[:400]
    out["graphs"] = len(graphs)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def passed(r: dict, rtol: float) -> bool:
    return r["break"] is None and r["graphs"] == 1 and r["error"] <= rtol


def markdown(results: list[dict], rtol: float) -> str:
    head = "| spec | mode | graphs | breaks | worst error | seconds | result |\n|---|---|---:|---|---:|---:|---|\n"
    rows = "".join(
        f"| {r['spec']}{' (' + ', '.join(f'{k}={v}' for k, v in r['params'].items()) + ')' if r['params'] else ''} "
        f"| {r['mode']} | {r['graphs']} | {r['break'] or 0} | {r['error']:.1e} | {r['seconds']:.1f} "
        f"| {'pass' if passed(r, rtol) else 'FAIL'} |\n" for r in results)
    return head + rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Exit status 0 when every spec passes in every mode.")
    ap.add_argument("specs", nargs="*", help="spec files (default: every network spec under specs/)")
    ap.add_argument("--backend", default="inductor", help="torch.compile backend (default inductor; "
                    "aot_eager traces the same graphs without generating code)")
    ap.add_argument("--modes", default="infer,train", help="comma-separated: infer, train (default both)")
    ap.add_argument("--batches", default="2,8,64", help="batch sizes, one graph for all (default 2,8,64)")
    ap.add_argument("--batch-dim", choices=("unbacked", "dynamic"), default="unbacked",
                    help="mark each input's batch dimension unbacked (default), or leave it to dynamic=True")
    ap.add_argument("--rtol", type=float, default=1e-3, help="tolerance relative to the largest output")
    ap.add_argument("--small", action="store_true", help="smaller inputs for specs with a `size` parameter")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table at the end")
    args = ap.parse_args(argv)
    import torch
    from tqdm import tqdm
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad_modes = set(modes) - {"infer", "train"}
    if bad_modes:
        ap.error(f"--modes: unknown {', '.join(sorted(bad_modes))} (infer, train)")
    batches = tuple(int(b) for b in args.batches.split(","))
    specs = args.specs or network_specs()
    results = []
    bar = tqdm(total=len(specs) * len(modes), unit="case", file=sys.stderr)
    for spec in specs:
        spec = Path(spec).resolve().relative_to(ROOT).as_posix() if Path(spec).exists() else spec
        params = small_params(spec) if args.small else {}
        for mode in modes:
            bar.set_description(f"{spec} {mode}")
            r = check(spec, mode, args.backend, batches, params, unbacked=args.batch_dim == "unbacked")
            results.append(r)
            if not passed(r, args.rtol):
                tqdm.write(f"FAIL {spec} {mode}: graphs {r['graphs']}, error {r['error']:.1e}, "
                           f"break {r['break']}", file=sys.stderr)
            bar.update()
    bar.close()
    good = sum(passed(r, args.rtol) for r in results)
    print(f"{good}/{len(results)} passed ({len(specs)} specs x {len(modes)} modes, backend {args.backend}, "
          f"batches {','.join(map(str, batches))}, batch dimension {args.batch_dim}; "
          f"torch {torch.__version__}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads); {sum(r['graphs'] != 1 for r in results)} with more than one "
          f"graph, {sum(r['break'] is not None for r in results)} with a graph break or a failure")
    if args.markdown:
        print(markdown(results, args.rtol))
    if args.json:
        Path(args.json).write_text(json.dumps({"torch": torch.__version__, "backend": args.backend,
                                               "rtol": args.rtol, "results": results}, indent=1))
    return 0 if good == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
