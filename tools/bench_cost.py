"""Benchmark: `mgdsl cost` (counts read off the graph) against counting the same networks from
built modules, the way hook- and trace-based tools do.

Each contender runs as a fresh process over the same specs, so interpreter start-up and imports
count for both: `mgdsl cost SPECS --format json` against a child of this script that builds every
module and counts it with torch's FlopCounterMode (dispatch level, one forward each) or fvcore's
FlopCountAnalysis (a JIT trace plus a forward each). The totals are compared too, so the bench
also fails loudly if the two paths disagree.

    python tools/bench_cost.py                 # the 36 CIFAR-100 specs of Table 1
    python tools/bench_cost.py --repeat 5 --baseline both specs/r-*.mg
    python tools/bench_cost.py --format md      # the timings as README.md's table
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mgdsl.tables import Table, render  # noqa: E402  (the checkout's mgdsl, put on the path above)


def count_with(tool: str, specs: list[str]) -> dict:
    """Child mode: build each spec's module and count params and conv/linear MACs with `tool`."""
    import torch

    import mgdsl
    out = {}
    for spec in specs:
        net = mgdsl.load(spec)
        try:
            model = net.build(optimize=False).eval()     # one op per graph node, as the counters expect
        except TypeError:
            model = net.build().eval()
        x = torch.zeros(1, *net.input_shape)
        with torch.no_grad():
            if tool == "flopcounter":
                from torch.utils.flop_counter import FlopCounterMode
                with FlopCounterMode(display=False) as fc:
                    model(x)
                macs = fc.get_total_flops() // 2
            else:
                from fvcore.nn import FlopCountAnalysis
                fa = FlopCountAnalysis(model, x)
                fa.unsupported_ops_warnings(False)
                fa.uncalled_modules_warnings(False)
                ops = fa.by_operator()
                macs = sum(ops.get(k, 0) for k in ("conv", "linear", "addmm"))
        out[spec] = [sum(p.numel() for p in model.parameters()), int(macs)]
    return out


def _timed(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd[:4])} ...\n{r.stderr}")
    return dt, r.stdout


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("specs", nargs="*", help="specs to count (default: specs/*.mg, the 36 CIFAR-100 nets)")
    p.add_argument("--repeat", type=int, default=3, help="runs of `mgdsl cost` (the median is reported)")
    p.add_argument("--baseline", choices=("flopcounter", "fvcore", "both"), default="both")
    p.add_argument("--format", choices=("table", "md"), default="table",
                   help="the timings as aligned text (default) or a Markdown table")
    p.add_argument("--count-with", choices=("flopcounter", "fvcore"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    specs = args.specs or sorted(os.path.relpath(s, ROOT) for s in glob.glob(str(ROOT / "specs" / "*.mg")))
    if args.count_with:
        json.dump(count_with(args.count_with, specs), sys.stdout)
        return 0

    ours_cmd = [sys.executable, "-m", "mgdsl", "cost", *specs, "--format", "json"]
    runs = [_timed(ours_cmd) for _ in range(max(1, args.repeat))]
    ours_s = statistics.median(t for t, _ in runs)
    ours = {d["spec"]: [d["params"], d["macs"]] for d in json.loads(runs[0][1])}
    print(f"{len(specs)} specs, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    timings = Table(["method", "time"], [["`mgdsl cost` (parse, lower, count)",
                                          f"{ours_s:.2f} s (median of {len(runs)}: "
                                          + ", ".join(f"{t:.2f}" for t, _ in runs) + ")"]])
    status = 0
    for tool in (("flopcounter", "fvcore") if args.baseline == "both" else (args.baseline,)):
        t, out = _timed([sys.executable, __file__, "--count-with", tool, *specs])
        theirs = json.loads(out)
        label = {"flopcounter": "build the modules + FlopCounterMode", "fvcore": "build the modules + fvcore trace"}[tool]
        timings.rows.append([label, f"{t:.1f} s ({t / ours_s:.0f}x slower)"])
        for spec in specs:
            if theirs[spec][0] != ours[spec][0] or (tool == "flopcounter" and theirs[spec][1] != ours[spec][1]):
                print(f"  disagreement on {spec}: ours {ours[spec]}, {tool} {theirs[spec]}")
                status = 1
    print(render([timings], args.format), end="")
    print("under 2 s: " + ("yes" if ours_s < 2 else "NO"))
    return status or (0 if ours_s < 2 else 1)


if __name__ == "__main__":
    sys.exit(main())
