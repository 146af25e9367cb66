#!/usr/bin/env python
"""Reproduce the shape of the paper's Tables 2-3 (synthetic MNIST segmentation and spatial
transformation): train U-NET-11, SG-11, PMG-11 and R-PMG-20 on both tasks with `mgdsl train`, then
write a results table beside the paper's numbers and the training curves.

    python tools/repro_mnist.py --quick                 # 32 px canvas, width 16, two runs at a time on 2 cores
    python tools/repro_mnist.py --device cuda --amp bf16  # the paper's scale (64 px, w = 64, 200 epochs)

The quick recipe (QUICK below) departs from the paper in scale and in two training settings, all
stated in the tables' captions: each run is the first N steps of the paper's own 200-epoch schedule
(stopped early, not squeezed: the rate stays near 0.1), and segmentation weighs positive pixels x10
in the per-map BCE (`--pos-weight 10`; ~2% of a label map is positive, and plain BCE stalls above
the constant predictor's loss in a short run).

Runs go to --runs (default runs/repro-mnist[-quick]); an interrupted invocation picks up where it
stopped (every run is resumed from its checkpoint). Results go to docs/repro-mnist.md (the table and
a description of the scale) and docs/figures/repro-mnist-curves.png."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETS = ["U-NET-11", "SG-11", "PMG-11", "R-PMG-20"]
TASKS = {"mnist-seg": ("seg", "Table2_MNIST_segmentation", "segmentation (Table 2)"),
         "mnist-spt": ("spt", "Table3_MNIST_spatial_transformation", "spatial transformation (Table 3)")}


# the quick CPU recipe: scale, run length per task, and per-task departures from the paper's loss
QUICK = {"canvas": 32, "width": 16, "batch": 32, "test_size": 500,
         "steps": {"mnist-seg": 1000, "mnist-spt": 600},
         "pos_weight": {"mnist-seg": 10.0, "mnist-spt": 1.0}}


def quick_flags(task: str) -> list[str]:
    """The `mgdsl train` flags by which the quick recipe's loss departs from the paper's on a task."""
    w = QUICK["pos_weight"].get(task, 1.0)
    return ["--pos-weight", f"{w:g}"] if w != 1.0 else []


BEGIN, END = "<!-- results: written by tools/repro_mnist.py -->", "<!-- end of results -->"
DOC_TEMPLATE = f"""# Reproducing the synthetic MNIST tables

{BEGIN}
{END}

![training curves](figures/repro-mnist-curves.png)
"""


def paper_rows() -> dict:
    """(table, method) -> (mean IoU, mean error) as printed, from the packaged paper_tables.csv."""
    from mgdsl.paper import paper_rows as rows
    return {(r["table"], r["method"]): (r["mean_iou_pct"], r["mean_error_pct"]) for r in rows()}


def spec_path(net: str, task: str) -> Path:
    return ROOT / "specs" / "mnist" / f"{net.lower()}-{TASKS[task][0]}.mg"


def final_eval(run_dir: Path) -> dict:
    from mgdsl.train.curves import read_log
    evals = [r for r in read_log(str(run_dir)) if r.get("kind") == "eval"]
    return evals[-1] if evals else {}


def plot(results: dict, runs: Path, out: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mgdsl.atomic import write_atomic
    from mgdsl.train.curves import read_log
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for col, task in enumerate(TASKS):
        for net in NETS:
            rows = read_log(str(runs / f"{net.lower()}-{task}"))
            train = [r for r in rows if "loss" in r]
            evals = [r for r in rows if r.get("kind") == "eval"]
            if train:
                axes[0][col].plot([r["step"] for r in train], [r["loss"] for r in train], lw=1, label=net)
            if evals:
                axes[1][col].plot([r["step"] for r in evals], [r["mean_iou"] for r in evals], marker="o",
                                  ms=3, label=net)
        axes[0][col].set_title(TASKS[task][2])
        axes[0][col].set_yscale("log"), axes[0][col].set_ylabel("training loss (BCE)")
        axes[1][col].set_ylabel("test mean IoU (%)"), axes[1][col].set_xlabel("step")
        axes[0][col].legend(fontsize=8), axes[1][col].legend(fontsize=8)
    import textwrap
    fig.suptitle(textwrap.fill(title, 120), fontsize=9)
    fig.tight_layout()
    write_atomic(out, writer=lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)


def caption(task: str, runs: Path, nets: list[str]) -> str:
    """What the runs of a task did differently from the paper, read back from their config.json
    and logs (so a caption cannot claim a recipe the runs did not use)."""
    from mgdsl.train.curves import read_log
    parts, seen = [], {}
    for net in nets:
        run = runs / f"{net.lower()}-{task}"
        cfg_path = run / "config.json"
        if not cfg_path.is_file():
            continue
        saved = json.loads(cfg_path.read_text())
        cfg, plan = saved["run"], saved["plan"]
        lrs = [r["lr"] for r in read_log(str(run)) if "lr" in r]
        seen.setdefault("scale", (cfg["params"].get("canvas"), cfg["params"].get("w"), plan["total_steps"],
                                  cfg["batch_size"], plan.get("schedule_steps"), cfg.get("test_size")))
        seen.setdefault("pos_weight", set()).add(cfg.get("pos_weight", 1.0))
        if lrs:
            seen.setdefault("last_lr", {})[plan["schedule_kind"]] = lrs[-1]
    if "scale" not in seen:
        return ""
    canvas, w, steps, batch, sched, test = seen["scale"]
    if canvas and canvas != 64:
        parts.append(f"canvas {canvas} px (paper 64)")
    if w and w != 64:
        parts.append(f"width w = {w} (paper 64)")
    if sched and steps < sched:
        from mgdsl.train.schedule import Schedule
        kinds = sorted(seen["last_lr"])
        last = " / ".join(f"{seen['last_lr'][k]:.3g}" for k in kinds)
        end = " / ".join(f"{0.1 * Schedule(k, sched)(sched - 1):.1g}" for k in kinds)
        parts.append(f"{steps:,} steps of batch {batch} (paper: {sched:,} of 64): the paper's schedule "
                     f"stopped early, not squeezed, so lr goes from 0.1 to {last} ({' / '.join(kinds)} schedule) "
                     f"where the paper's decays to {end}")
    weights = sorted(seen["pos_weight"])
    if weights != [1.0]:
        parts.append("loss: per-map BCE with positive pixels weighted x" + "/".join(f"{x:g}" for x in weights)
                     + " (`--pos-weight`; the paper: plain BCE)")
    if test:
        parts.append(f"{test} test images")
    return "Departures from the paper: " + "; ".join(parts) + "." if parts else ""


def table(results: dict, paper: dict, captions: dict | None = None) -> str:
    lines = []
    for task, (_, key, name) in TASKS.items():
        if not any(t == task for _, t in results):
            continue
        lines += [f"**{name}**", ""]
        if (captions or {}).get(task):
            lines += [captions[task], ""]
        lines += [
                  "| network | params | mean IoU (%) | mean error (%) | paper IoU | paper error | train time |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for net in NETS:
            r = results.get((net, task))
            if not r:
                continue
            p_iou, p_err = paper.get((key, net), ("", ""))
            lines.append(f"| {net} | {r['params']:,} | {r['mean_iou']:.2f} | {r['mean_error']:.2f} | "
                         f"{p_iou or '-'} | {p_err or '-'} | {r['seconds']:.0f} s |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="the CPU recipe: canvas 32, width 16, batch 32; 1,000 steps for segmentation (with "
                         "--pos-weight 10), 600 for spatial transformation, on the paper's schedule stopped early")
    ap.add_argument("--canvas", type=int, help="input size (default 64, quick 32)")
    ap.add_argument("--width", type=int, help="network width w (default 64, quick 16)")
    ap.add_argument("--steps", type=int,
                    help="stop each run after N steps (default: the paper's 200 epochs; quick: per task)")
    ap.add_argument("--pos-weight", type=float,
                    help="BCE weight of positive pixels for every task (default 1, the paper's; quick: 10 for "
                         "segmentation)")
    ap.add_argument("--batch-size", type=int, help="default 64, quick 32")
    ap.add_argument("--train-size", type=int, help="generated training images (default: the paper's)")
    ap.add_argument("--test-size", type=int, help="test images (default: the paper's; quick 500)")
    ap.add_argument("--nets", default=",".join(NETS), help="comma-separated subset of " + ",".join(NETS))
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset of " + ",".join(TASKS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", choices=("bf16",))
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch CPU threads (quick default 1: oversubscribed cores are slow)")
    ap.add_argument("--jobs", type=int,
                    help="runs trained at once, each in its own process (quick on a CPU: one per core; else 1)")
    ap.add_argument("--mnist", help="folder with the MNIST IDX files (default: embedded digits)")
    ap.add_argument("--runs", help="folder for the runs")
    ap.add_argument("--docs", default=str(ROOT / "docs"), help="where repro-mnist.md and figures/ go")
    ap.add_argument("--no-docs", action="store_true", help="print the table only")
    args = ap.parse_args(argv)
    canvas = args.canvas or (QUICK["canvas"] if args.quick else 64)
    width = args.width or (QUICK["width"] if args.quick else 64)
    batch = args.batch_size or (QUICK["batch"] if args.quick else 64)
    test_size = args.test_size or (QUICK["test_size"] if args.quick else None)
    runs = Path(args.runs or ROOT / "runs" / ("repro-mnist-quick" if args.quick else "repro-mnist"))
    nets, tasks = args.nets.split(","), args.tasks.split(",")

    from mgdsl import load
    jobs = args.jobs or ((os.cpu_count() or 1) if args.quick and args.device == "cpu" else 1)
    planned = []
    for task in tasks:
        for net in nets:
            spec = spec_path(net, task)
            run = runs / f"{net.lower()}-{task}"
            steps = args.steps or (QUICK["steps"][task] if args.quick else None)
            length = ["--steps", str(steps)] if steps else ["--epochs", "200"]
            if args.pos_weight is not None:
                loss = ["--pos-weight", f"{args.pos_weight:g}"]
            else:
                loss = quick_flags(task) if args.quick else []
            cmd = ["train", str(spec), "--task", task, "--out", str(run), *length, *loss, "--batch-size", str(batch),
                   "--set", f"canvas={canvas}", "--set", f"w={width}", "--device", args.device, "--resume",
                   "--workers", str(args.workers), "--log-every", "10"]
            threads = args.threads or (1 if args.quick and args.device == "cpu" else None)
            for flag, v in (("--train-size", args.train_size), ("--test-size", test_size), ("--threads", threads),
                            ("--amp", args.amp), ("--mnist", args.mnist)):
                if v:
                    cmd += [flag, str(v)]
            planned.append((net, task, spec, run, cmd))
    t_all = time.perf_counter()
    rcs = _train_all(planned, jobs)
    wall = time.perf_counter() - t_all
    failed = [(net, task, rc) for (net, task, *_), rc in zip(planned, rcs) if rc]
    for net, task, rc in failed:
        print(f"{net} on {task} failed (exit {rc})", file=sys.stderr)
    if failed:
        return failed[0][2]
    results = {}
    for net, task, spec, run, _ in planned:
        ev = final_eval(run)
        seconds = json.loads((run / "repro-time.json").read_text())["seconds"]
        results[(net, task)] = {"mean_iou": ev["mean_iou"], "mean_error": ev["mean_error"], "seconds": seconds,
                                "params": load(spec, canvas=canvas, w=width).num_params}
    print(f"trained {len(planned)} runs in {wall / 60:.1f} min of wall time, {jobs} at a time", file=sys.stderr)
    if args.steps or args.quick:
        steps_text = " / ".join(f"{args.steps or QUICK['steps'][t]} steps ({t})" for t in tasks)
    else:
        steps_text = "200 paper epochs"
    scale = (f"canvas {canvas}x{canvas}, width w = {width}, {steps_text} of batch {batch}, "
             f"test set {test_size or 'as the paper'}, "
             f"digits: {'MNIST' if args.mnist else 'embedded (scikit-learn 8x8, upscaled)'}")
    text = table(results, paper_rows(), {t: caption(t, runs, nets) for t in tasks})
    print(f"\nScale: {scale}\n\n{text}")
    if not args.no_docs:
        docs = Path(args.docs)
        (docs / "figures").mkdir(parents=True, exist_ok=True)
        plot(results, runs, docs / "figures" / "repro-mnist-curves.png", f"mgdsl repro: {scale}")
        from mgdsl.atomic import write_atomic
        doc = docs / "repro-mnist.md"
        old = doc.read_text() if doc.exists() else DOC_TEMPLATE
        head, _, rest = old.partition(BEGIN)
        _, _, tail = rest.partition(END)
        write_atomic(doc, f"{head}{BEGIN}\nScale: {scale}\n\n{text}{END}{tail}")
        print(f"wrote {doc} and {docs / 'figures' / 'repro-mnist-curves.png'}")
    return 0


def _train_one(net: str, task: str, run: Path, cmd: list[str], in_process: bool) -> int:
    """One `mgdsl train` invocation; its wall time is added to the run's repro-time.json (summed over
    invocations, since an interrupted run is resumed)."""
    print(f"== {net} on {task}: mgdsl {' '.join(cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    if in_process:
        from mgdsl.cli import main as mgdsl_main
        rc = mgdsl_main(cmd)
    else:                                     # a process of its own, its output in the run folder
        run.mkdir(parents=True, exist_ok=True)
        with open(run / "repro-train.log", "a") as log:
            rc = subprocess.run([sys.executable, "-m", "mgdsl", *cmd], stdout=log, stderr=subprocess.STDOUT,
                                cwd=ROOT).returncode
    if rc == 0:
        seconds = time.perf_counter() - t0
        timing = run / "repro-time.json"
        if timing.exists():
            seconds += json.loads(timing.read_text())["seconds"]
        timing.write_text(json.dumps({"seconds": seconds}))
    print(f"== {net} on {task}: {'done' if rc == 0 else f'exit {rc}'}", file=sys.stderr, flush=True)
    return rc


def _train_all(planned: list, jobs: int) -> list[int | None]:
    """Train every planned run, `jobs` at a time (each run is single-threaded in the quick recipe, so
    two cores train two runs at once); results do not depend on `jobs`."""
    if jobs <= 1:
        rcs: list[int | None] = []
        for net, task, _, run, cmd in planned:
            rcs.append(_train_one(net, task, run, cmd, in_process=True))
            if rcs[-1]:
                break                         # the rest are not started (None)
        return rcs + [None] * (len(planned) - len(rcs))
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda p: _train_one(p[0], p[1], p[3], p[4], in_process=False), planned))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
