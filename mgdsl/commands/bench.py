"""Measure how fast networks run on this machine, beside what the cost model counts: per spec and
engine, the median time of a step and its spread (10th to 90th percentile), images per second, peak
memory, the GFLOP/s that the cost model's MACs give (2 FLOPs a MAC; a training step counts three
forwards), and that rate as a share of this machine's peak, which a GEMM and a convolution probe
measure first, in the same process.

Engines: eager (the module `mgdsl.load(SPEC).build()` gives), compile (torch.compile of it; the
first call, which compiles, is not timed), onnxruntime (inference on mgdsl's own ONNX export; pip
install "mgdsl[onnx]") and session (inference through `Network.session()`, which picks the fastest
of eager with batch norm folded and onnxruntime for the batch size; choosing is part of its setup).
Several engines are timed in turn, run by run, after their warm-up, so that the machine's other work
falls on all of them alike. A step is inference (eval mode, under torch.inference_mode) or, with
--train, a training step: forward, a loss (the mean of the outputs), backward, no optimiser step.

--by layer profiles the eager module once more and prints the time of each spec layer on each grid
beside its MACs: forward ops count for the layer that wrote them, backward ops for the layer whose
forward op made them (docs/benchmark.md says how). Examples:

  mgdsl bench specs/r-pmg-30.mg --by layer
  mgdsl bench specs/beyond/resnet-18.mg --engine eager --engine onnxruntime --batch 1
  mgdsl bench specs/mg-16.mg --train --format json"""
from __future__ import annotations

import argparse
import os
import sys

from .. import benchmark as B
from ..errors import UsageError
from ..network import load
from ..tables import Table, json_text, render
from .options import add_set_option, parse_sets, print_warnings

HELP = "time networks per engine (latency, throughput, memory, GFLOP/s, share of peak); --by layer"

ENGINES = B.ENGINES


def _engines(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in ENGINES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown engine {', '.join(bad) or repr(text)}; choose from "
                                         f"{', '.join(ENGINES)}")
    return names


def _positive(what: str, least: int):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} wants a whole number, not {text!r}") from None
        if n < least:
            raise argparse.ArgumentTypeError(f"{what} must be at least {least}, not {n}")
        return n
    return parse


def configure(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("specs", nargs="+", metavar="SPEC", help=".mg files to time")
    p.add_argument("--batch", type=_positive("--batch", 1), default=8, metavar="N", help="images per step (default 8)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--train", dest="train", action="store_true",
                      help="time a training step (forward, loss, backward)")
    mode.add_argument("--infer", dest="train", action="store_false", help="time inference (the default)")
    p.add_argument("--engine", type=_engines, action="append", metavar="NAME",
                   help=f"{', '.join(ENGINES)} (repeatable, or comma-separated; default eager)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--by", choices=("layer",), help="layer: time per spec layer and grid beside its MACs (eager)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json for scripts")
    add_set_option(p)
    p.add_argument("--repeat", type=_positive("--repeat", 1), default=15, metavar="N",
                   help="timed steps per engine (default 15)")
    p.add_argument("--warmup", type=_positive("--warmup", 0), default=3, metavar="N",
                   help="untimed steps per engine first (default 3)")
    p.add_argument("--threads", type=_positive("--threads", 1), metavar="N",
                   help="CPU threads for torch and onnxruntime (default: torch's own choice)")


def run(args) -> int:
    engines = list(dict.fromkeys(e for group in (args.engine or [["eager"]]) for e in group))
    for only_infer in ("onnxruntime", "session"):
        if args.train and only_infer in engines:
            raise UsageError(f"--engine {only_infer} runs inference only, not --train",
                             hint=f"drop {only_infer}, or time inference (--infer)")
    if args.by and "eager" not in engines:
        raise UsageError("--by layer profiles the eager engine", hint="add --engine eager")
    if args.device != "cpu" and args.device.split(":")[0] != "cuda":
        raise UsageError(f"--device {args.device}: unknown device", hint="use cpu or cuda")
    missing = [s for s in args.specs if not os.path.isfile(s)]
    if missing:
        raise UsageError(f"no spec file {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                         hint="give the path of a .mg file, e.g. specs/r-pmg-30.mg")
    sets = parse_sets(args.set)
    nets = []
    for path in args.specs:
        net = load(path, sets)
        print_warnings(net)
        nets.append(net)
    if "onnxruntime" in engines:
        B.require_onnxruntime()

    import torch  # here: `mgdsl bench --help` stays torch-free

    if args.threads:
        torch.set_num_threads(args.threads)
    device = B.check_device(args.device)
    from tqdm import tqdm  # here, as torch: a progress bar only for work
    total = len(nets) * B.steps_needed(engines, args.repeat, args.warmup, bool(args.by))
    results = []
    with tqdm(total=total, desc="mgdsl bench", unit="step", file=sys.stderr, disable=None, leave=False) as bar:
        bar.set_postfix_str("probing the machine's peak")
        machine = B.probe_machine(device)
        for net in nets:
            bar.set_postfix_str(net.name)
            try:
                results.append(B.bench(net, engines, batch=args.batch, train=args.train, device=device,
                                       repeat=args.repeat, warmup=args.warmup, by_layer=bool(args.by),
                                       progress=bar))
            except torch.OutOfMemoryError as e:
                raise UsageError(f"{net.name} at batch {args.batch} does not fit in the memory of {device}: "
                                 f"{str(e).splitlines()[0]}", hint="try a smaller --batch") from None
    if args.format == "json":
        sys.stdout.write(json_text(as_json(machine, results, args)))
    else:
        sys.stdout.write(as_text(machine, results, args))
    return 0


# -- output ---------------------------------------------------------------------------------------------
def _ms(s: float) -> str:
    return f"{s * 1e3:,.2f}" if s < 0.1 else f"{s * 1e3:,.1f}"


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}" if whole else "-"


def _engine_numbers(r, e, machine) -> dict:
    med = e.median
    rate = r.flops_per_step / med if med > 0 else 0.0
    return {"engine": e.engine, "median_ms": med * 1e3, "p10_ms": e.quantile(0.1) * 1e3,
            "p90_ms": e.quantile(0.9) * 1e3, "min_ms": min(e.times) * 1e3, "max_ms": max(e.times) * 1e3,
            "runs": len(e.times), "images_per_s": r.batch / med if med > 0 else None,
            "peak_bytes": e.peak_bytes, "gflops": rate / 1e9,
            "fraction_of_peak": rate / machine.peak_flops if machine.peak_flops else None,
            "setup_s": e.setup_s, "times_ms": [t * 1e3 for t in e.times]}


def _layers_json(r) -> dict | None:
    if r.layers is None:
        return None
    total_t = sum(t.seconds for t in r.layers)
    total_m = sum(t.macs for t in r.layers)
    eager = next(e for e in r.engines if e.engine == "eager")
    return {"layers": [{"layer": t.layer, "grid": t.grid, "ms": t.seconds * 1e3,
                        "time_share": t.seconds / total_t if total_t else None,
                        "macs": t.macs, "mac_share": t.macs / total_m if total_m else None} for t in r.layers],
            "sum_ms": total_t * 1e3, "other_ms": (r.other_s or 0.0) * 1e3, "measured_ms": eager.median * 1e3,
            "profiled_step_ms": r.profiled_total_s * 1e3 if r.profiled_total_s is not None else None}


def as_json(machine, results, args) -> dict:
    return {"machine": {"device": machine.device, "name": machine.name, "threads": machine.threads,
                        "gemm_gflops": machine.gemm_flops / 1e9, "conv_gflops": machine.conv_flops / 1e9,
                        "peak_gflops": machine.peak_flops / 1e9, "probes": machine.probes},
            "results": [{"spec": r.spec, "name": r.name, "mode": r.mode, "batch": r.batch, "device": r.device,
                         "repeat": args.repeat, "warmup": args.warmup, "macs_per_image": r.macs,
                         "flops_per_step": r.flops_per_step,
                         "engines": [_engine_numbers(r, e, machine) for e in r.engines],
                         "by_layer": _layers_json(r)} for r in results]}


def _amount(n: int) -> str:
    """A count as people read it: 7,936 or 1,031.9M or 16.51G."""
    return f"{n / 1e9:,.2f}G" if n >= 1e10 else f"{n / 1e6:,.1f}M" if n >= 1e6 else f"{n:,}"


def _mib(b) -> str:
    return "-" if b is None else f"{b / (1 << 20):,.0f}"


def as_text(machine, results, args) -> str:
    out = [f"{machine.name}, {machine.threads} thread{'s' * (machine.threads != 1)}; measured peak: GEMM "
           f"{machine.gemm_flops / 1e9:,.0f} GFLOP/s, conv {machine.conv_flops / 1e9:,.0f} GFLOP/s"]
    for r in results:
        rows = []
        for e in r.engines:
            n = _engine_numbers(r, e, machine)
            frac = n["fraction_of_peak"]
            rows.append([e.engine, _ms(e.median), f"{_ms(e.quantile(0.1))} - {_ms(e.quantile(0.9))}",
                         f"{n['images_per_s']:,.1f}" if n["images_per_s"] else "-", _mib(e.peak_bytes),
                         f"{n['gflops']:,.1f}", "-" if frac is None else f"{100 * frac:.1f}%", f"{e.setup_s:.2f}"])
        what = "training step" if r.mode == "train" else "inference"
        tables = [Table(["engine", "median ms", "p10 - p90 ms", "images/s", "peak MiB", "GFLOP/s", "of peak",
                         "setup s"], rows, align="lrrrrrrr",
                        title=f"{r.name} ({r.spec}): {what}, batch {r.batch}, {r.device}; {args.repeat} runs per "
                              f"engine after {args.warmup} warm-up" + (", interleaved" if len(r.engines) > 1 else ""),
                        footer=f"MACs {_amount(r.macs * r.batch)} per batch (cost model), "
                               f"{_amount(r.flops_per_step)} FLOP per step"
                               + (" (3 x the forward)" if r.mode == "train" else ""))]
        if r.layers is not None:
            tables.append(_layer_table(r))
        out.append(render(tables, "table").rstrip("\n"))
    return "\n\n".join(out) + "\n"


def _layer_table(r) -> Table:
    total_t = sum(t.seconds for t in r.layers)
    total_m = sum(t.macs for t in r.layers)
    eager = next(e for e in r.engines if e.engine == "eager")
    rows = [[t.layer, t.grid, _ms(t.seconds), _share(t.seconds, total_t), f"{t.macs * r.batch / 1e6:,.2f}",
             _share(t.macs, total_m),
             f"{2 * t.macs * r.batch * (3 if r.mode == 'train' else 1) / t.seconds / 1e9:,.1f}"
             if t.seconds > 0 and t.macs else "-"] for t in r.layers]
    rows.append(["sum", "", _ms(total_t), "100.0", f"{total_m * r.batch / 1e6:,.2f}", "100.0",
                 f"{r.flops_per_step / total_t / 1e9:,.1f}" if total_t else "-"])
    measured = eager.median
    other = f"; outside the layers (the loss, dropping the gradients) {_ms(r.other_s)} ms" if r.other_s else ""
    return Table(["layer", "grid", "ms", "% time", "MACs (M)", "% MACs", "GFLOP/s"], rows, align="llrrrrr",
                 title=f"{r.name} by layer and grid (eager, profiled; each the mean over the middle half of the "
                       f"profiled steps by time)",
                 footer=f"the per-layer times add up to {_ms(total_t)} ms, {_share(total_t, measured)}% of the "
                        f"measured median step of {_ms(measured)} ms{other}")
