"""The training loop behind `mgdsl train`: paper defaults, atomic checkpoints and exact resumption.

Exactness: the batch of step s is a pure function of (seed, s) and everything else that evolves
(weights, BN statistics, optimizer momenta, schedule position, RNG states) lives in the checkpoint,
so a run stopped anywhere and resumed ends with the same weights as one that never stopped.
Distributed runs use torch.distributed as set up by `torchrun` (env:// rendezvous); each rank
trains on its contiguous shard of the global batch and only rank 0 writes files."""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, fields

from ..atomic import write_atomic
from ..errors import TrainingError, UsageError
from . import checkpoint as ckpt
from . import curves
from .schedule import PAPER_EPOCHS, Schedule, is_residual, paper_length
from .tasks import TaskSpec, make_task

CONFIG = "config.json"


@dataclass
class RunConfig:
    """Everything that decides the weights a run ends with; saved as RUN_DIR/config.json."""
    spec: str
    task: str
    params: dict = field(default_factory=dict)
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str | None = None          # exp | step | const; None: step for residual nets, else exp
    schedule_length: int | None = None   # steps the schedule spans; None: the paper's 200 epochs
    pos_weight: float = 1.0              # weight of positive pixels in the per-map BCE (1: the paper's loss)
    overfit: int | None = None           # train and evaluate on the same first N training images
    seed: int = 1
    data_seed: int = 1
    mnist: str | None = None
    data: str | None = None
    train_size: int | None = None
    test_size: int | None = None
    log_every: int = 10
    eval_every: int | None = None        # None: 10 evaluations per run
    ckpt_every: int = 100
    eval_batch: int = 100
    eval_size: int | None = 200          # test images scored during training; the last evaluation uses all

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def departures(cfg: RunConfig) -> dict:
    """{flag: value} of the settings that change the paper's loss, data or schedule length, for any
    reported number to mention (empty for the paper's recipe)."""
    out = {"pos-weight": cfg.pos_weight} if cfg.pos_weight != 1.0 else {}
    if cfg.overfit:
        out["overfit"] = cfg.overfit
    if cfg.schedule_length:
        out["schedule-length"] = cfg.schedule_length
    return out


# settings that may change between a run and its resumption without changing its result
RUNTIME_ONLY = ("log_every", "eval_every", "ckpt_every", "eval_batch", "eval_size", "test_size")


@dataclass
class Runtime:
    device: str = "cpu"
    amp: str | None = None               # "bf16"
    compile: bool = False
    channels_last: bool = False
    workers: int = 0
    progress: bool = True
    stop_at: int | None = None           # stop (and save) after this step, as a signal would


def setup_network(cfg: RunConfig, device="cpu"):
    """(Network, fresh module, Task) for a config; the module's init is seeded by cfg.seed, and its
    code is tuned for `device` (the weights do not depend on it)."""
    import torch

    from .. import load
    from ..backends.torch_source import target_of
    net = load(cfg.spec, cfg.params)
    torch.manual_seed(cfg.seed)
    model = net.build(target=target_of(device))
    task = make_task(TaskSpec(cfg.task, cfg.data_seed, cfg.mnist, cfg.data, cfg.train_size, cfg.test_size,
                              cfg.pos_weight, cfg.overfit), net.input_shape, net.output_shape)
    return net, model, task


def plan(cfg: RunConfig, net, task) -> dict:
    """Derived run-length and schedule settings (a pure function of the config). The run's length
    (--steps / --epochs) only says when to stop; the schedule spans the paper's 200 epochs unless
    --schedule-length squeezes it into fewer steps."""
    if cfg.epochs:
        total = cfg.epochs * task.steps_per_epoch
    elif cfg.steps:
        total = cfg.steps
    else:
        raise UsageError("say how long to train: --steps N or --epochs N",
                         hint=f"a paper epoch of {cfg.task} is {task.steps_per_epoch} steps; the paper trains 200")
    if cfg.schedule_length:
        length, epochs = cfg.schedule_length, max(1, min(PAPER_EPOCHS, cfg.schedule_length))
    else:
        length, epochs = paper_length(task.steps_per_epoch)
    kind = cfg.schedule or ("step" if is_residual(net.graph) else "exp")
    return {"total_steps": total, "schedule_steps": length, "schedule_epochs": epochs, "schedule_kind": kind,
            "eval_every": cfg.eval_every or max(1, total // 10)}


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the torchrun environment; (0, 1, 0) without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def pick_device(name: str, local_rank: int):
    import torch
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is visible to torch", hint="use --device cpu")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise UsageError(f"unknown --device '{name}'", hint="use cpu or cuda")
    return torch.device("cpu")


class StopSignals:
    """SIGINT / SIGTERM ask the loop to stop after the current step (and save); a second one aborts."""

    def __init__(self):
        self.signum = None
        self._old = {}

    def __enter__(self):
        import threading
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def _check_resumable(run_dir: str, cfg: RunConfig, resume: bool) -> dict | None:
    """The checkpoint to resume from, or None for a fresh start; refuse to clobber another run."""
    cpath, jpath = ckpt.path_in(run_dir), os.path.join(run_dir, CONFIG)
    if not os.path.exists(cpath):
        return None
    if not resume:
        raise UsageError(f"{run_dir} already holds a run (checkpoint.pt)",
                         hint="add --resume to continue it, or choose another --out")
    if os.path.exists(jpath):
        with open(jpath) as f:
            saved = json.load(f)
        old, old_plan = saved.get("run", {}), saved.get("plan", {})
        if old_plan and "schedule_steps" not in old_plan and cfg.schedule_length != old_plan.get("total_steps"):
            raise UsageError(f"the run in {run_dir} was started by an older mgdsl, whose schedule spanned the "
                             f"run's own {old_plan.get('total_steps')} steps",
                             hint=f"resume it with --schedule-length {old_plan.get('total_steps')} to keep "
                                  "that schedule")
        mine = asdict(cfg)
        diff = [k for k in mine if k not in RUNTIME_ONLY and k in old and old[k] != mine[k]]
        if diff:
            raise UsageError(f"--resume: this command differs from the run in {run_dir} in: "
                             + ", ".join(f"{k} ({old[k]!r} there, {mine[k]!r} here)" for k in diff),
                             hint="resume with the same spec, task, --set values, seed, batch size and lr")
    return ckpt.load(cpath)


def _autocast(device, amp):
    import contextlib

    import torch
    if not amp:
        return contextlib.nullcontext()
    if amp != "bf16":
        raise UsageError(f"--amp {amp}: only bf16 is supported")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def evaluate(model, task, split: str, device, runtime: Runtime | None = None, batch: int = 100,
             limit: int | None = None) -> dict:
    """The paper's metrics for `model` on a split (the module is left in train mode afterwards)."""
    import torch
    runtime = runtime or Runtime()
    metric = task.new_metric()
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for x, y in task.eval_batches(split, batch, limit):
            x = x.to(device)
            if runtime.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(device, runtime.amp):
                logits = model(x)
            metric.add_logits(logits.float().cpu(), y)
    model.train(was_training)
    return metric.summary()


class _StepBatches:
    """Map-style data set whose item s is rank's shard of the global batch of step s."""

    def __init__(self, task, seed, batch, rank, world):
        self.task, self.seed, self.batch, self.rank, self.world = task, seed, batch, rank, world

    def __getitem__(self, step):
        return self.task.train_batch(self.seed, step, self.batch, self.rank, self.world)

    def __len__(self):
        return 1 << 62


def train(cfg: RunConfig, run_dir: str, runtime: Runtime | None = None, resume: bool = False) -> int:
    """Train (or resume) the run in `run_dir`. Everything that can be checked before the first step
    (flags, spec, data files) is checked before the folder is touched, and a run that fails before
    its first step removes the files it wrote (and the folder, if it made it)."""
    runtime = runtime or Runtime()
    rank, world, local_rank = distributed()
    device = pick_device(runtime.device, local_rank)
    cfg.spec = os.path.abspath(cfg.spec)
    if world > 1 and cfg.batch_size % world:
        raise UsageError(f"--batch-size {cfg.batch_size} does not split evenly over {world} processes")
    if runtime.amp not in (None, "bf16"):
        raise UsageError(f"--amp {runtime.amp}: only bf16 is supported")
    net, model, task = setup_network(cfg, device)
    task.check_data()
    p = plan(cfg, net, task)
    made = not os.path.exists(run_dir)
    before = set() if made else set(os.listdir(run_dir)) if os.path.isdir(run_dir) else None
    if before is None:
        raise UsageError(f"--out {run_dir} is a file, not a folder")
    if rank == 0:
        os.makedirs(run_dir, exist_ok=True)
    started = []                       # becomes non-empty once the first step is done
    try:
        if world > 1:
            import torch.distributed as dist
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
            try:
                return _train(cfg, run_dir, runtime, resume, rank, world, local_rank, device, net, model, task,
                              p, started)
            finally:
                dist.destroy_process_group()
                _HELD.clear()
        return _train(cfg, run_dir, runtime, resume, rank, world, local_rank, device, net, model, task, p, started)
    except BaseException:
        if rank == 0 and not started:
            _remove_new_files(run_dir, before, made)
        raise


def _remove_new_files(run_dir: str, before: set, made: bool) -> None:
    """Undo a run that failed before its first step: remove the files that were not in the folder
    before it started, and the folder itself if this run made it (and it is empty again)."""
    for name in set(os.listdir(run_dir)) - before:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path) or os.path.islink(path):
            os.remove(path)
    if made and not os.listdir(run_dir):
        os.rmdir(run_dir)


def _train(cfg, run_dir, runtime, resume, rank, world, local_rank, device, net, model, task, p, started) -> int:
    import torch
    from tqdm import tqdm
    total = p["total_steps"]
    lead = rank == 0
    state = _check_resumable(run_dir, cfg, resume) if os.path.isdir(run_dir) else None
    model.to(device)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, Schedule(p["schedule_kind"], p["schedule_steps"],
                                                            p["schedule_epochs"]))
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        ckpt.set_rng_state(state["rng"])
        start = int(state["step"])
        if lead:
            curves.truncate_log(run_dir, start)
    elif lead:
        curves.truncate_log(run_dir, 0)
    if lead:
        write_atomic(os.path.join(run_dir, CONFIG), json.dumps(
            {"run": asdict(cfg), "plan": p, "network": net.name, "params": net.num_params,
             "input_shape": list(net.input_shape), "output_shape": list(net.output_shape),
             "world_size": world, "runtime": asdict(runtime)}, indent=2) + "\n")

    runner = torch.compile(model) if runtime.compile else model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        runner = DDP(runner, device_ids=[local_rank] if device.type == "cuda" else None,
                     find_unused_parameters=has_dead_weights(net.graph))

    def save(step):
        if lead:
            ckpt.save(ckpt.path_in(run_dir), {
                "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "step": step, "data_position": step, "rng": ckpt.rng_state(), "config": asdict(cfg),
                "network": net.name})
        if world > 1:
            torch.distributed.barrier()

    def log_eval(step):
        if lead:
            limit = None if step == total else cfg.eval_size
            split = "train" if cfg.overfit else "test"     # --overfit scores the training images
            res = evaluate(model, task, split, device, runtime, cfg.eval_batch, limit)
            curves.append_log(run_dir, {"kind": "eval", "step": step, "split": split,
                                        "images": min(limit or task.size(split), task.size(split)), **res})
            curves.plot(run_dir, f"{net.name} on {cfg.task}")
            return res
        return {}

    if start >= total:
        if lead:
            print(f"{run_dir}: the run is already complete ({start} of {total} steps)", file=sys.stderr)
        return 0

    loader = torch.utils.data.DataLoader(_StepBatches(task, cfg.seed, cfg.batch_size, rank, world),
                                         batch_size=None, sampler=range(start, total),
                                         num_workers=runtime.workers, pin_memory=device.type == "cuda")

    def new_bar():
        return tqdm(total=total, initial=start, disable=not (lead and runtime.progress), dynamic_ncols=True,
                    desc=f"{net.name} {cfg.task}", unit="step", file=sys.stderr,
                    mininterval=0.1 if sys.stderr.isatty() else 30)     # a log file gets a line every 30 s
    bar = None                  # drawn once the first step is done: a run that fails before shows none
    shown: dict = {}
    sums, n_logged, t0, seen = 0.0, 0, time.perf_counter(), 0
    step = start
    runner.train()
    try:
        with StopSignals() as stop:
            for x, y in loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if runtime.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _autocast(device, runtime.amp):
                    logits = runner(x)
                loss = task.loss(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                flags = torch.tensor([loss.detach().float().cpu().item(), float(stop.signum is not None)])
                if world > 1:                      # nccl reduces only tensors on the GPU
                    flags = flags.to(device)
                    torch.distributed.all_reduce(flags)
                    flags = flags.cpu()
                    flags[0] /= world
                value = float(flags[0])
                if not math.isfinite(value):
                    raise TrainingError(
                        f"the loss became {value} at step {step + 1}; training stopped",
                        hint=f"the last good checkpoint in {run_dir} is kept; try a lower --lr "
                             f"(now {cfg.lr}) or --amp off")
                lr = opt.param_groups[0]["lr"]       # the rate this step uses
                opt.step()
                sched.step()
                step += 1
                if not started:
                    started.append(step)
                seen += cfg.batch_size
                sums += value
                n_logged += 1
                if step % cfg.log_every == 0 or step == total:
                    rate = seen / max(time.perf_counter() - t0, 1e-9)
                    if lead:
                        curves.append_log(run_dir, {"kind": "train", "step": step, "loss": sums / n_logged,
                                                    "lr": lr, "images_per_s": rate})
                    shown.update(loss=f"{sums / n_logged:.4f}", img_s=f"{rate:.0f}")
                    sums, n_logged = 0.0, 0
                if step % p["eval_every"] == 0 or step == total:
                    res = log_eval(step)
                    shown.update({k: f"{v:.2f}" for k, v in res.items()})
                    if world > 1:
                        torch.distributed.barrier()
                bar = bar or new_bar()
                bar.update(1)
                bar.set_postfix(shown, refresh=False)
                stopping = flags[1] > 0 or step == runtime.stop_at
                if step % cfg.ckpt_every == 0 or step == total or stopping:
                    save(step)
                if stopping:
                    bar.close()
                    name = signal.Signals(stop.signum).name if stop.signum else "--stop-at"
                    if lead:
                        print(f"{name}: stopped at step {step} of {total}; checkpoint saved in {run_dir} "
                              f"(run the same command with --resume to finish)", file=sys.stderr)
                    return 128 + stop.signum if stop.signum else 0
    finally:
        if bar is not None:
            bar.close()
    if world > 1:
        _check_ranks_agree(model)
    if lead:
        last = [r for r in curves.read_log(run_dir) if r.get("kind") == "eval"][-1:]
        summary = ", ".join(f"{k} {v:.2f}" for k, v in (last[0] if last else {}).items()
                            if k in task.metric_names)
        extra = departures(cfg)
        if extra:
            summary += " (trained with " + " ".join(f"--{k} {v:g}" for k, v in extra.items()) + ")"
        print(f"{net.name} on {cfg.task}: {total} steps done; {summary}; wrote {run_dir}/"
              f"{{{ckpt.CHECKPOINT},{curves.LOG},{curves.PLOT},{CONFIG}}}", file=sys.stderr)
    return 0


def has_dead_weights(G) -> bool:
    """Whether some weights never reach the output (a grid computed, then dropped), which DDP must
    be told about: it otherwise waits forever for their gradients."""
    from ..graph.cost import params_of, reaches_output
    live = reaches_output(G)
    return any(params_of(G, n) > 0 for n in G if n not in live)


# Tensors given to the last collectives, held until the process group is destroyed. A gloo worker
# thread drops its reference to them after the collective has completed; if that reference is the
# last, freeing the tensor needs the GIL, which the main thread holds while the process group's
# destructor joins that same thread: a deadlock at teardown, seen with torch 2.4 (about one run in
# five; docs/hardening.md). Held here, the worker thread never frees them.
_HELD: list = []


def _check_ranks_agree(model) -> None:
    """DDP keeps replicas identical by construction; verify it once at the end, cheaply."""
    import torch
    import torch.distributed as dist
    sums = torch.stack([p.detach().double().sum() for p in model.parameters()])
    lo, hi = sums.clone(), sums.clone()
    _HELD.extend((lo, hi))
    dist.all_reduce(lo, dist.ReduceOp.MIN)
    dist.all_reduce(hi, dist.ReduceOp.MAX)
    if not torch.equal(lo, hi):
        raise TrainingError("the distributed processes ended with different weights",
                            hint="this is a bug in mgdsl or torch.distributed; please report it")


def load_run(run_dir: str, device_name: str = "cpu"):
    """(config, network, module with the checkpoint's weights, task, device) of a run folder."""
    jpath = os.path.join(run_dir, CONFIG)
    if not os.path.isfile(jpath):
        raise UsageError(f"{run_dir} is not a run folder (no {CONFIG})", hint="pass the --out folder of `mgdsl train`")
    with open(jpath) as f:
        cfg = RunConfig.from_dict(json.load(f)["run"])
    device = pick_device(device_name, 0)
    net, model, task = setup_network(cfg, device)
    state = ckpt.load(ckpt.path_in(run_dir))
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return cfg, net, model, task, device
