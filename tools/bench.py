"""Benchmark networks compiled by mgdsl against hand-written PyTorch (tools/handwritten.py).

For each spec, in one process with the variants interleaved (a, b, a, b, ...), it reports medians of:
- a training step: forward, loss, backward, gradients set to None (no optimiser step);
- inference: eval mode under torch.no_grad, for the compiled module, the hand-written one and the
  compiled inference-only module (`mgdsl compile --inference`: batch norm folded into the convs);
- peak memory of a training step (CPU: the torch profiler's memory timeline; CUDA:
  torch.cuda.max_memory_allocated);
- spec -> module latency (load + build), and the cost model (load + params and MACs summed over the
  graph) against fvcore's FlopCountAnalysis on the built module;
and the ratios compiled / hand-written. Before timing it checks that both have the same parameter
count and, with the weights copied across, the same outputs.

    python tools/bench.py                       # the five default specs on CPU, 2 threads
    python tools/bench.py --ablate              # also the compiled module with each optimisation toggled
    python tools/bench.py --latency-only specs/r-pmg-30.mg   # only spec -> module and the cost model
    python tools/bench.py --device cuda         # batch 128; adds bf16 autocast, torch.compile of the
                                                # training step, and the hand-written net in channels-last
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from mgdsl.tables import Table, markdown  # noqa: E402  (the checkout's mgdsl, put on the path above)

DEFAULT_SPECS = ["specs/vgg-16.mg", "specs/mg-16.mg", "specs/r-mg-22.mg", "specs/r-pmg-30.mg",
                 "specs/mnist/pmg-11-seg.mg"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("specs", nargs="*", default=DEFAULT_SPECS, help="spec files (default: the five benchmarked)")
    p.add_argument("--batch", type=int, help="batch size (default: 8 on CPU and the paper's 128 on CUDA; 2 and "
                                             "64 for inputs of 64x64 and more)")
    p.add_argument("--repeats", type=int, default=9, help="timed steps per variant (default 9)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first (default 2)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--clock", choices=("wall", "thread"), default="wall",
                   help="wall time (default), or the CPU time of the calling thread: with --threads 1 it "
                        "ignores time lost to other processes on a shared machine")
    p.add_argument("--dtypes", help="comma-separated fp32, bf16 (autocast) (default: fp32 on CPU, both on CUDA)")
    p.add_argument("--no-compile", dest="compile", action="store_false",
                   help="on CUDA, skip the torch.compile variants of the training step")
    p.add_argument("--json", metavar="FILE", help="append each spec's measurements to FILE as a JSON line")
    p.add_argument("--report", metavar="FILE", help="print the tables of the JSON lines in FILE (from --json) and exit")
    p.add_argument("--ablate", action="store_true",
                   help="also time the compiled module with each optimisation switched from the device's default")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--no-latency", action="store_true", help="skip compile latency and cost-model timings")
    p.add_argument("--latency-only", action="store_true",
                   help="time only compile latency and the cost model (no training or inference steps, no "
                        "hand-written baseline needed)")
    p.add_argument("--baseline", help="hand-written model for a spec outside the default set, as "
                                      "SPEC_NAME=BASELINE_KEY (a key of handwritten.BASELINES)", action="append")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.latency_only and args.no_latency:
        raise SystemExit("--latency-only and --no-latency exclude each other")
    import warnings  # the ablation runs code generated for the other target on purpose
    warnings.filterwarnings("ignore", ".*was generated for", UserWarning)
    if args.report:
        return replay(args.report)
    args.dtypes = (args.dtypes or ("fp32,bf16" if args.device.startswith("cuda") else "fp32")).split(",")
    if set(args.dtypes) - set(SUFFIX):
        raise SystemExit(f"--dtypes: choose from fp32 and bf16, not {args.dtypes}")
    import torch
    torch.set_num_threads(args.threads)
    global CLOCK
    if args.clock == "thread":
        if args.threads != 1 or args.device != "cpu":
            raise SystemExit("--clock thread measures one CPU thread: use it with --threads 1 on the CPU")
        CLOCK = time.thread_time
    from handwritten import BASELINES
    baselines = dict(BASELINES)
    for item in args.baseline or []:
        spec_name, key = item.split("=")
        baselines[spec_name] = BASELINES[key]
    specs = [s for s in args.specs if Path(s).exists()]
    for s in set(args.specs) - set(specs):
        print(f"(skipping {s}: not found)", file=sys.stderr)
    device = torch.device(args.device)
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows, ablations, latency = [], [], []
    for spec in specs:
        name = Path(spec).name
        row = abl = None
        if not args.latency_only:
            if name not in baselines:
                print(f"(skipping {spec}: no hand-written baseline)", file=sys.stderr)
                continue
            row, abl = bench_spec(spec, baselines[name], args, device)
            rows.append(row)
            ablations.append(abl)
        if not args.no_latency:
            latency.append(bench_latency(spec, torch, baselines.get(name)))
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"torch": torch.__version__, "device": device_name(device, torch),
                                    "args": vars(args), "row": row, "ablation": abl,
                                    "latency": latency[-1] if latency else None}) + "\n")
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    meta = {"torch": torch.__version__, "device": device_name(device, torch), "loads": (load0, load1)}
    print(report(rows, ablations, latency, vars(args), meta))
    return 0


def replay(path) -> int:
    """The report of a --json file, e.g. one written on a machine that was given back."""
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    if not lines:
        raise SystemExit(f"{path}: no measurements")
    meta = {"torch": lines[0]["torch"], "device": lines[0]["device"], "loads": (float("nan"), float("nan"))}
    print(report([d["row"] for d in lines if d["row"]], [d["ablation"] for d in lines if d["ablation"]],
                 [d["latency"] for d in lines if d["latency"]], lines[0]["args"], meta))
    return 0


# -- models and steps ---------------------------------------------------------------------------

def copy_weights(compiled, hand):
    """Copy the compiled module's weights into the hand-written one, module by module in order."""
    from torch import nn
    mine = list(compiled._m)
    theirs = [m for m in hand.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.Linear))]
    if len(mine) != len(theirs):
        raise SystemExit(f"the hand-written model has {len(theirs)} weight modules, the spec {len(mine)}")
    for a, b in zip(mine, theirs):
        b.load_state_dict(a.state_dict())


def check_same(net, compiled, hand, torch):
    n_c = sum(p.numel() for p in compiled.parameters())
    n_h = sum(p.numel() for p in hand.parameters())
    assert n_c == n_h == net.num_params, f"{net.name}: parameters {n_c} (compiled) vs {n_h} (hand-written)"
    copy_weights(compiled, hand)
    compiled.eval(), hand.eval()
    x = torch.randn(2, *net.input_shape, device=next(compiled.parameters()).device)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False      # compare in full float32 (timings keep the default)
    try:
        with torch.no_grad():
            a, b = compiled(x), hand(x)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    err = ((a - b).abs().max() / b.abs().max()).item()
    assert err < 1e-4, f"{net.name}: compiled and hand-written outputs differ (relative {err:.2e})"
    compiled.train(), hand.train()


def make_loss(net, torch):
    """Cross-entropy over classes, or per-pixel binary cross-entropy for maps (as in the paper)."""
    import torch.nn.functional as F
    out = net.output_shape

    def targets(batch, device):
        if len(out) == 1:
            return torch.randint(0, out[0], (batch,), device=device)
        return torch.randint(0, 2, (batch, *out), device=device).float()

    def loss(y, t):
        return F.cross_entropy(y.float(), t) if len(out) == 1 else F.binary_cross_entropy_with_logits(y.float(), t)
    return targets, loss


def train_step(model, x, t, loss, autocast):
    import torch
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
        y = model(x)
    loss(y, t).backward()
    for p in model.parameters():
        p.grad = None


def infer_step(model, x, autocast):
    import torch
    with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=autocast):
        model(x)


def device_name(device, torch) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()


CLOCK = time.perf_counter


def timed(fn, device) -> float:
    sync(device)
    t = CLOCK()
    fn()
    sync(device)
    return CLOCK() - t


def interleaved(variants: dict, device, warmup: int, repeats: int) -> dict:
    """Median seconds per variant, timed round-robin so that load changes hit all of them alike."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in variants}
    for _ in range(repeats):
        for k, fn in variants.items():
            times[k].append(timed(fn, device))
    return {k: statistics.median(v) for k, v in times.items()}


def peak_memory(fn, device, torch) -> float | None:
    """Peak bytes held by torch tensors during `fn()`."""
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats()
        fn()
        sync(device)
        return torch.cuda.max_memory_allocated()
    try:   # CPU has no allocator statistics: read the profiler's memory timeline (a private API)
        from torch.profiler import ProfilerActivity, profile
        from torch.profiler._memory_profiler import MemoryProfileTimeline
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                     with_stack=True) as prof:
            fn()
        _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline(torch.device("cpu"))
        return max(sum(s) for s in sizes)
    except Exception as e:   # noqa: BLE001 - a missing measurement must not stop the benchmark
        print(f"(peak memory unavailable: {e})", file=sys.stderr)
        return None


SUFFIX = {"fp32": "", "bf16": "+bf16"}    # how a dtype is named in the variant keys


def bench_spec(spec, baseline, args, device):
    import torch

    import mgdsl
    from mgdsl.backends.torch_source import OPTIMIZATIONS, TARGETS, target_of
    net = mgdsl.load(spec)
    big = net.input_shape[-1] >= 64
    batch = args.batch or ((64 if big else 128) if device.type == "cuda" else (2 if big else 8))
    torch.manual_seed(0)
    compiled = net.build(device=device.type)
    hand = baseline().to(device)
    check_same(net, compiled, hand, torch)
    folded = net.build(device=device.type, inference=True)
    folded.load_state_dict(compiled.state_dict())
    x = torch.randn(batch, *net.input_shape, device=device)
    targets, loss = make_loss(net, torch)
    t = targets(batch, device)
    models = {"mgdsl": compiled, "hand": hand}
    # a second reference: the hand-written module after a hand-writer's one-line layout change
    models["hand+cl"] = baseline().to(device, memory_format=torch.channels_last)
    models["hand+cl"].load_state_dict(hand.state_dict())
    train, infer = {}, {}
    for dtype in args.dtypes:
        ac, suffix = dtype == "bf16", SUFFIX[dtype]
        for key, model in models.items():
            xin = x.contiguous(memory_format=torch.channels_last) if key.endswith("+cl") else x
            train[key + suffix] = (lambda m=model, a=ac, xin=xin: train_step(m, xin, t, loss, a))
            infer[key + suffix] = (lambda m=model, a=ac, xin=xin: infer_step(m, xin, a))
            if device.type == "cuda" and args.compile and key != "hand+cl":   # training step only
                cm = torch.compile(model)
                train[key + suffix + "+compile"] = (lambda m=cm, a=ac, xin=xin: train_step(m, xin, t, loss, a))
        infer["mgdsl-folded" + suffix] = (lambda a=ac: infer_step(folded, x, a))
    ablate = {}
    if args.ablate:
        target = target_of(device)
        variants = {"plain": {"optimize": False}}
        if target != "cpu":
            variants["cpu target"] = {"target": "cpu"}
        for k in OPTIMIZATIONS:
            on = k in TARGETS[target]
            variants[f"no {k}" if on else f"with {k}"] = {k: not on}
        for label, opts in variants.items():
            m = net.build(device=device.type, **opts)
            m.load_state_dict(compiled.state_dict())
            for dtype in args.dtypes:
                ablate[label + SUFFIX[dtype]] = (lambda m=m, a=dtype == "bf16": train_step(m, x, t, loss, a))
    for m in models.values():
        m.train()
    train_t = interleaved({**train, **ablate}, device, args.warmup, args.repeats)
    for m in models.values():
        m.eval()
    infer_t = interleaved(infer, device, args.warmup, args.repeats)
    for m in models.values():
        m.train()
    memory = {}
    base = SUFFIX["fp32" if "fp32" in args.dtypes else "bf16"]
    if not args.no_memory:
        for key in ("mgdsl", "hand"):
            memory[key] = peak_memory(train[key + base], device, torch)
    row = {"spec": spec, "name": net.name, "batch": batch, "params": net.num_params, "macs": net.macs,
           "executed_macs": executed_macs(compiled, net, device, torch), "train": train_t, "infer": infer_t,
           "memory": memory, "base": base}
    sfx = [SUFFIX[d] for d in args.dtypes]
    abl = {"spec": spec, "name": net.name, "train": {k: train_t[k] for k in ablate},
           "base": {s: train_t["mgdsl" + s] for s in sfx}, "hand": {s: train_t["hand" + s] for s in sfx}}
    return row, abl


def executed_macs(model, net, device, torch) -> int | None:
    """MACs the optimised module really runs on one sample (PyTorch's dispatch-level counter)."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
        extra = {}
        if hasattr(torch.ops.mkldnn, "_linear_pointwise"):     # the GEMM convs' matmul: X @ W.T
            extra[torch.ops.mkldnn._linear_pointwise] = \
                lambda x, w, *rest, **kw: 2 * x[0] * x[1] * w[0]
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=extra) as fc:
            model(torch.zeros(1, *net.input_shape, device=device))
        model.train()
        return fc.get_total_flops() // 2
    except Exception:   # noqa: BLE001
        return None


def bench_latency(spec, torch, hand=None, repeats=5):
    """Median seconds: load + build; two baselines in the same process: drawing the conv weights alone
    (plain torch: the same tensors, empty, filled with normal_ by two generators in two threads, the
    least any build with the paper's init can cost), and constructing the hand-written module (torch's
    default init) where `hand` makes one; the cost model (load + summing the graph); fvcore on the
    module."""
    import threading

    import mgdsl
    from mgdsl.graph.cost import macs_of, params_of

    def compile_once():
        return mgdsl.load(spec).build()

    shapes = [m.weight.shape for m in compile_once().modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    sizes = list(itertools.accumulate(s.numel() for s in shapes))
    half = next((i for i, n in enumerate(sizes, 1) if 2 * n >= sizes[-1]), 0)     # two equal halves

    def weights_alone():
        def fill(part, seed):
            gen = torch.Generator().manual_seed(seed)
            for s in part:
                torch.empty(s).normal_(0.0, 0.01, generator=gen)
        worker = threading.Thread(target=fill, args=(shapes[half:], 1))
        worker.start()
        fill(shapes[:half], 0)
        worker.join()

    def cost_model():
        net = mgdsl.load(spec)
        return sum(params_of(net.graph, n) for n in net.graph), sum(macs_of(net.graph, n) for n in net.graph)

    def wall(fn):     # always wall time: the build draws weights in a second thread
        t = time.perf_counter()
        out = fn()
        took = time.perf_counter() - t
        del out       # freeing the module is not part of the latency
        return took

    variants = {"build": compile_once, "weights": weights_alone, **({"hand": hand} if hand else {})}
    times: dict = {k: [] for k in variants}
    for _ in range(repeats):                      # interleaved, like the steps
        for k, fn in variants.items():
            times[k].append(wall(fn))
    result = {k: statistics.median(v) for k, v in times.items()}
    cost = statistics.median(wall(cost_model) for _ in range(repeats))
    fv = None
    try:
        from fvcore.nn import FlopCountAnalysis
        net = mgdsl.load(spec)
        model = net.build(optimize=False).eval()
        x = torch.zeros(1, *net.input_shape)

        def fvcore_count():
            fca = FlopCountAnalysis(model, x)
            fca.unsupported_ops_warnings(False)
            fca.uncalled_modules_warnings(False)
            return fca.total()
        with torch.no_grad():
            fv = statistics.median(wall(fvcore_count) for _ in range(max(1, repeats // 2)))
    except ImportError:
        pass
    return {"spec": spec, **result, "cost": cost, "fvcore": fv}


# -- report -------------------------------------------------------------------------------------

def _ms(s):
    return "-" if s is None else f"{s * 1e3:.1f}"


def _mib(b):
    return "-" if b is None else f"{b / 2 ** 20:.0f}"


def report(rows, ablations, latency, args: dict, meta: dict) -> str:
    loads = meta["loads"]
    steps = (f"{args['clock']} clock, medians of {args['repeats']} interleaved steps after {args['warmup']} warm-up"
             if rows else "latency only")
    out = [f"torch {meta['torch']}, {args['device']} ({meta['device']}), {args['threads']} threads, {steps}"
           + ("." if loads[0] != loads[0] else f"; load average {loads[0]:.2f} at start, {loads[1]:.2f} at end."), ""]
    if not rows:
        return "\n".join(out + _latency_table(latency))
    out += ["Training step (forward + loss + backward, no optimiser step) and inference (eval, no_grad), "
            "milliseconds; ratio = mgdsl / hand-written.", ""]
    head = ["network", "batch", "train mgdsl", "train hand", "ratio", "infer mgdsl", "infer hand", "ratio",
            "infer folded", "ratio", "peak MiB mgdsl", "peak MiB hand", "MACs (paper)", "MACs run"]
    cells_of = []
    for r in rows:
        tr, inf, b = r["train"], r["infer"], r["base"]
        cells = [r["name"], str(r["batch"]), _ms(tr["mgdsl" + b]), _ms(tr["hand" + b]),
                 f"{tr['mgdsl' + b] / tr['hand' + b]:.2f}", _ms(inf["mgdsl" + b]), _ms(inf["hand" + b]),
                 f"{inf['mgdsl' + b] / inf['hand' + b]:.2f}", _ms(inf["mgdsl-folded" + b]),
                 f"{inf['mgdsl-folded' + b] / inf['hand' + b]:.2f}",
                 _mib(r["memory"].get("mgdsl")), _mib(r["memory"].get("hand")),
                 f"{r['macs'] / 1e6:.1f}M", "-" if r["executed_macs"] is None else f"{r['executed_macs'] / 1e6:.1f}M"]
        cells_of.append(cells)
    out.append(markdown(Table(head, cells_of)))
    variants = [k[len("mgdsl"):] for k in (rows[0]["train"] if rows else {}) if k.startswith("mgdsl")]
    if len(variants) > 1 or any(k.startswith("hand+cl") for k in (rows[0]["train"] if rows else {})):
        out += ["", "Training step by variant (+bf16: autocast to bfloat16; +compile: torch.compile of the "
                    "module): ms mgdsl / ms hand-written = ratio; hand+cl is the hand-written module in "
                    "channels-last, for reference.", ""]
        table = Table(["network"] + [v.lstrip("+") or "fp32" for v in variants], [])
        for r in rows:
            tr, cells = r["train"], [r["name"]]
            for v in variants:
                cell = f"{_ms(tr['mgdsl' + v])} / {_ms(tr['hand' + v])} = {tr['mgdsl' + v] / tr['hand' + v]:.2f}"
                if "hand+cl" + v in tr:
                    cell += f" (hand+cl {_ms(tr['hand+cl' + v])}: {tr['mgdsl' + v] / tr['hand+cl' + v]:.2f})"
                cells.append(cell)
            table.rows.append(cells)
        out.append(markdown(table))
    if any(a["train"] for a in ablations):
        keys = list(ablations[0]["train"])
        out += ["", "Ablation: training step ms of the compiled module with one optimisation switched from "
                    "the device's default (in brackets: ratio to the hand-written step of the same dtype).", ""]
        suffixes = list(ablations[0]["base"])
        table = Table(["network"] + ["default" + s for s in suffixes] + keys, [])
        for a in ablations:
            cells = [a["name"]] + [f"{_ms(a['base'][s])} ({a['base'][s] / a['hand'][s]:.2f})" for s in suffixes]
            for k in keys:
                s = "+bf16" if k.endswith("+bf16") else ""
                cells.append(f"{_ms(a['train'][k])} ({a['train'][k] / a['hand'][s]:.2f})")
            table.rows.append(cells)
        out.append(markdown(table))
    return "\n".join(out + ([""] + _latency_table(latency) if latency else []))


def _latency_table(latency) -> list[str]:
    out = ["Spec -> module and cost model, wall-clock milliseconds (medians of 5, interleaved; imports "
           "excluded). Weights alone: the build's conv weights allocated and drawn by plain torch in two "
           "threads, the floor of any build with the paper's init. Hand-written: constructing "
           "tools/handwritten.py's module (torch's default init).", ""]
    table = Table(["spec", "load + build", "weights alone", "build - weights", "hand-written", "build / hand-written",
                   "cost model (load + sums)", "fvcore FlopCountAnalysis", "fvcore / cost model"], [])
    for lat in latency:
        ratio = "-" if lat["fvcore"] is None else f"{lat['fvcore'] / lat['cost']:.0f}x"
        build, weights, hand = lat["build"], lat.get("weights"), lat.get("hand")
        over = None if weights is None else build - weights
        vs_hand = "-" if hand is None else f"{build / hand:.2f}"
        table.rows.append([lat["spec"], _ms(build), _ms(weights), _ms(over), _ms(hand), vs_hand, _ms(lat["cost"]),
                           _ms(lat["fvcore"]), ratio])
    return out + markdown(table).split("\n")


if __name__ == "__main__":
    sys.exit(main())
