"""The training loop behind `mgdsl train`: paper defaults, atomic checkpoints and exact resumption.

Exactness: the batch of step s is a pure function of (seed, s) and everything else that evolves
(weights, BN statistics, optimizer momenta, schedule position, RNG states) lives in the checkpoint,
so a run stopped anywhere and resumed ends with the same weights as one that never stopped.
Distributed runs use torch.distributed as set up by `torchrun` (env:// rendezvous); each rank
trains on its contiguous shard of the global batch and only rank 0 writes files.

`train` checks what it can, then builds a `Run` (settings, network, task, plan, optimizer, schedule
and what the loop carries from step to step) and hands it to `loop`, whose phases are the Run's
methods, in the order of nanoGPT's train.py."""
from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from ..atomic import write_atomic
from ..backends.torch_source import target_of
from ..errors import TrainingError, UsageError
from ..graph.cost import params_of, reaches_output
from ..network import load
from . import checkpoint as ckpt
from . import curves
from .schedule import PAPER_EPOCHS, Schedule, is_residual, paper_length
from .tasks import Task, TaskSpec, make_task

if TYPE_CHECKING:
    import networkx as nx
    import torch

    from ..network import Network

CONFIG = "config.json"
MAX_CONFIG_BYTES = 1 << 20           # `mgdsl train` writes about 2 KiB


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
    def from_dict(cls, d: dict) -> RunConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def departures(cfg: RunConfig) -> dict:
    """{flag: value} of the settings that change the paper's loss, data or schedule length, for any
    reported number to mention (empty for the paper's recipe)."""
    out: dict[str, float] = {"pos-weight": cfg.pos_weight} if cfg.pos_weight != 1.0 else {}
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


@dataclass(frozen=True)
class Plan:
    """The run's length and schedule, a pure function of its config; config.json's "plan" (these
    names, in this order). The run's length (--steps / --epochs) only says when to stop; the schedule
    spans the paper's 200 epochs unless --schedule-length squeezes it into fewer steps."""
    total_steps: int
    schedule_steps: int
    schedule_epochs: int
    schedule_kind: str                   # exp | step | const
    eval_every: int

    @classmethod
    def of(cls, cfg: RunConfig, net: Network, task: Task) -> Plan:
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
        return cls(total, length, epochs, kind, cfg.eval_every or max(1, total // 10))


def setup_network(cfg: RunConfig, device: Any = "cpu") -> tuple[Network, torch.nn.Module, Task]:
    """(Network, fresh module, Task) for a config; the module's init is seeded by cfg.seed, and its
    code is tuned for `device` (the weights do not depend on it)."""
    import torch  # not at the top: `mgdsl train --help` and the task list need no torch
    net = load(cfg.spec, cfg.params)
    torch.manual_seed(cfg.seed)
    model = net.build(target=target_of(device))
    task = make_task(TaskSpec(cfg.task, cfg.data_seed, cfg.mnist, cfg.data, cfg.train_size, cfg.test_size,
                              cfg.pos_weight, cfg.overfit), net.input_shape, net.output_shape)
    return net, model, task


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the torchrun environment; (0, 1, 0) without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def pick_device(name: str, local_rank: int) -> torch.device:
    import torch  # not at the top: see setup_network
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

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def read_config(run_dir: str) -> dict:
    """config.json of a run folder, as `mgdsl train` wrote it; a UsageError for a file that is
    missing, not a regular file, over MAX_CONFIG_BYTES, or not such a JSON object."""
    path = os.path.join(run_dir, CONFIG)
    try:
        st = os.stat(path)
    except OSError:
        raise UsageError(f"{run_dir} is not a run folder (no {CONFIG})",
                         hint="pass the --out folder of `mgdsl train`") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a regular file", hint="pass the --out folder of `mgdsl train`")
    if st.st_size > MAX_CONFIG_BYTES:
        raise UsageError(f"{path} holds {st.st_size / 2**20:,.1f} MiB, more than the {MAX_CONFIG_BYTES >> 20} MiB "
                         f"a run's config may (`mgdsl train` writes about 2 KiB), so it is not read",
                         hint="is this the --out folder of `mgdsl train`?")
    try:
        with open(path, "rb") as f:
            saved = json.loads(f.read(MAX_CONFIG_BYTES + 1))
    except (OSError, ValueError) as e:      # ValueError: not UTF-8 or not JSON
        raise UsageError(f"{path} is not readable as JSON ({e})", hint="is this the --out folder of `mgdsl train`?") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("run"), dict):
        raise UsageError(f"{path} is not the config.json `mgdsl train` writes (it has no \"run\" settings)",
                         hint="is this the --out folder of `mgdsl train`?")
    return saved


def _check_resumable(run_dir: str, cfg: RunConfig, resume: bool) -> dict | None:
    """The checkpoint to resume from, or None for a fresh start; refuse to clobber another run."""
    cpath, jpath = ckpt.path_in(run_dir), os.path.join(run_dir, CONFIG)
    if not os.path.exists(cpath):
        return None
    if not resume:
        raise UsageError(f"{run_dir} already holds a run (checkpoint.pt)",
                         hint="add --resume to continue it, or choose another --out")
    if os.path.exists(jpath):
        saved = read_config(run_dir)
        old, old_plan = saved["run"], saved.get("plan") or {}
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


def _autocast(device: torch.device, amp: str | None) -> contextlib.AbstractContextManager:
    import torch  # not at the top: see setup_network
    if not amp:
        return contextlib.nullcontext()
    if amp != "bf16":
        raise UsageError(f"--amp {amp}: only bf16 is supported")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def evaluate(model: torch.nn.Module, task: Task, split: str, device: torch.device, runtime: Runtime | None = None,
             batch: int = 100, limit: int | None = None) -> dict:
    """The paper's metrics for `model` on a split (the module is left in train mode afterwards)."""
    import torch  # not at the top: see setup_network
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

    def __init__(self, task: Task, seed: int, batch: int, rank: int, world: int):
        self.task, self.seed, self.batch, self.rank, self.world = task, seed, batch, rank, world

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.task.train_batch(self.seed, step, self.batch, self.rank, self.world)

    def __len__(self) -> int:
        return 1 << 62


@dataclass
class Run:
    """One training run: its settings, network, task and plan, the optimizer and schedule built from
    them, and what `loop` carries from step to step. `open` takes up the run folder (resuming from its
    checkpoint when asked); the loop then calls the phases below once a step."""
    cfg: RunConfig
    plan: Plan
    net: Network
    model: torch.nn.Module               # the module whose weights are saved
    task: Task
    folder: str
    runtime: Runtime
    device: torch.device
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    done: int = 0                        # optimizer steps taken, by this process or before a resumption
    begun: int = 0                       # the step this process started from
    lr: float = 0.0                      # the rate of the step in progress
    loss_sum: float = 0.0                # losses since the last log line, and how many
    losses: int = 0
    images: int = 0                      # images trained on since `clock` (for the log's rate)
    clock: float = 0.0
    shown: dict = field(default_factory=dict)     # the progress bar's figures
    bar: Any = None                      # drawn at the first step done: a run that fails before shows none
    opt: torch.optim.Optimizer = field(init=False)
    sched: torch.optim.lr_scheduler.LambdaLR = field(init=False)
    runner: Any = field(init=False)      # what a step calls: the model, compiled and/or in DDP

    def __post_init__(self) -> None:
        import torch  # not at the top: see setup_network
        self.model.to(self.device)
        if self.runtime.channels_last:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # the stubs lack it
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.cfg.lr, momentum=self.cfg.momentum,
                                   weight_decay=self.cfg.weight_decay)
        p = self.plan
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, Schedule(p.schedule_kind, p.schedule_steps,
                                                                          p.schedule_epochs))
        self.runner = self.model

    @property
    def lead(self) -> bool:
        return self.rank == 0

    @property
    def stepped(self) -> bool:
        """Whether this process has taken a step (a run that fails before undoes its files)."""
        return self.done > self.begun

    @property
    def last(self) -> bool:
        return self.done == self.plan.total_steps

    def say(self, message: str) -> None:
        if self.lead:
            print(message, file=sys.stderr)

    def open(self, resume: bool) -> None:
        """Take up the run folder: the state of its checkpoint when resuming (refusing to clobber a run
        otherwise), its log cut back to that step, a new config.json; then wrap the model to run."""
        import torch  # not at the top: see setup_network
        state = _check_resumable(self.folder, self.cfg, resume) if os.path.isdir(self.folder) else None
        if state is not None:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.sched.load_state_dict(state["scheduler"])
            ckpt.set_rng_state(state["rng"])
            self.done = self.begun = int(state["step"])
        if self.lead:
            curves.truncate_log(self.folder, self.done)
            write_atomic(os.path.join(self.folder, CONFIG), json.dumps(
                {"run": asdict(self.cfg), "plan": asdict(self.plan), "network": self.net.name,
                 "params": self.net.num_params, "input_shape": list(self.net.input_shape),
                 "output_shape": list(self.net.output_shape), "world_size": self.world,
                 "runtime": asdict(self.runtime)}, indent=2) + "\n")
        if self.runtime.compile:
            self.runner = torch.compile(self.model)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP  # not at the top: see setup_network
            self.runner = DDP(self.runner, device_ids=[self.local_rank] if self.device.type == "cuda" else None,
                              find_unused_parameters=has_dead_weights(self.net.graph))

    def batches(self) -> Any:
        """The batches of the steps still to take (this process's shards), made by `workers` processes."""
        import torch  # not at the top: see setup_network
        steps: Any = _StepBatches(self.task, self.cfg.seed, self.cfg.batch_size, self.rank, self.world)
        loader = torch.utils.data.DataLoader(steps, batch_size=None, sampler=range(self.done, self.plan.total_steps),
                                             num_workers=self.runtime.workers, pin_memory=self.device.type == "cuda")
        self.clock = time.perf_counter()
        self.runner.train()
        return loader

    def forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss of a batch, its gradients left in the weights."""
        import torch  # not at the top: see setup_network
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if self.runtime.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(self.device, self.runtime.amp):
            logits = self.runner(x)
        loss = self.task.loss(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        return loss

    def agree(self, loss: torch.Tensor, signum: int | None) -> tuple[float, bool]:
        """(the loss averaged over the processes, whether any of them was asked to stop)."""
        import torch  # not at the top: see setup_network
        flags = torch.tensor([loss.detach().float().cpu().item(), float(signum is not None)])
        if self.world > 1:                      # nccl reduces only tensors on the GPU
            flags = flags.to(self.device)
            torch.distributed.all_reduce(flags)
            flags = flags.cpu()
            flags[0] /= self.world
        return float(flags[0]), bool(flags[1] > 0)

    def step(self, loss: float) -> None:
        """The optimizer's and the schedule's step, unless the loss stopped being finite (the last
        checkpoint is kept then)."""
        if not math.isfinite(loss):
            raise TrainingError(f"the loss became {loss} at step {self.done + 1}; training stopped",
                                hint=f"the last good checkpoint in {self.folder} is kept; try a lower --lr "
                                     f"(now {self.cfg.lr}) or --amp off")
        self.lr = self.opt.param_groups[0]["lr"]       # the rate this step uses
        self.opt.step()
        self.sched.step()
        self.done += 1

    def log(self, loss: float) -> None:
        """Every log_every steps and at the last: the mean loss since the last line, the rate and the
        speed, into metrics.jsonl and the progress bar."""
        self.images += self.cfg.batch_size
        self.loss_sum += loss
        self.losses += 1
        if self.done % self.cfg.log_every == 0 or self.last:
            rate, mean = self.images / max(time.perf_counter() - self.clock, 1e-9), self.loss_sum / self.losses
            if self.lead:
                curves.append_log(self.folder, {"kind": "train", "step": self.done, "loss": mean, "lr": self.lr,
                                                "images_per_s": rate})
            self.shown.update(loss=f"{mean:.4f}", img_s=f"{rate:.0f}")
            self.loss_sum, self.losses = 0.0, 0

    def maybe_eval(self) -> None:
        """Every eval_every steps and at the last: score the model (on eval_size images, all at the
        last), log and plot it; --overfit scores the training images it trains on."""
        if self.done % self.plan.eval_every and not self.last:
            return
        if self.lead:
            limit = None if self.last else self.cfg.eval_size
            split = "train" if self.cfg.overfit else "test"
            res = evaluate(self.model, self.task, split, self.device, self.runtime, self.cfg.eval_batch, limit)
            images = min(limit or self.task.images(split), self.task.images(split))
            curves.append_log(self.folder, {"kind": "eval", "step": self.done, "split": split, "images": images, **res})
            curves.plot(self.folder, self.task.metric_names, f"{self.net.name} on {self.cfg.task}")
            self.shown.update({k: f"{v:.2f}" for k, v in res.items()})
        if self.world > 1:
            import torch  # not at the top: see setup_network
            torch.distributed.barrier()

    @contextlib.contextmanager
    def progress(self) -> Iterator[None]:
        """The progress bar's lifetime: closed however the loop ends."""
        try:
            yield
        finally:
            if self.bar is not None:
                self.bar.close()

    def show(self) -> None:
        """Move the progress bar on a step (drawing it at the first)."""
        if self.bar is None:
            from tqdm import tqdm  # not at the top: only a run that steps draws a bar
            self.bar = tqdm(total=self.plan.total_steps, initial=self.begun, disable=not (self.lead and self.runtime.progress),
                            dynamic_ncols=True, desc=f"{self.net.name} {self.cfg.task}", unit="step", file=sys.stderr,
                            mininterval=0.1 if sys.stderr.isatty() else 30)   # a log file gets a line every 30 s
        self.bar.update(1)
        self.bar.set_postfix(self.shown, refresh=False)

    def maybe_save(self, stopping: bool) -> None:
        """Every ckpt_every steps, at the last and when stopping: an atomic checkpoint."""
        if self.done % self.cfg.ckpt_every and not self.last and not stopping:
            return
        if self.lead:
            ckpt.save(ckpt.path_in(self.folder), {
                "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "step": self.done, "data_position": self.done, "rng": ckpt.rng_state(), "config": asdict(self.cfg),
                "network": self.net.name})
        if self.world > 1:
            import torch  # not at the top: see setup_network
            torch.distributed.barrier()

    def stopped(self, signum: int | None) -> int:
        """Say where a stop asked for by a signal or --stop-at left the run; its exit status."""
        if self.bar is not None:
            self.bar.close()
        name = signal.Signals(signum).name if signum else "--stop-at"
        self.say(f"{name}: stopped at step {self.done} of {self.plan.total_steps}; checkpoint saved in {self.folder} "
                 f"(run the same command with --resume to finish)")
        return 128 + signum if signum else 0

    def finish(self) -> int:
        """After the last step: check that the processes agree, and sum the run up; the exit status."""
        if self.world > 1:
            _check_ranks_agree(self.model)
        if self.lead:
            last = [r for r in curves.read_log(self.folder) if r.get("kind") == "eval"][-1:]
            summary = ", ".join(f"{k} {v:.2f}" for k, v in (last[0] if last else {}).items()
                                if k in self.task.metric_names)
            extra = departures(self.cfg)
            if extra:
                summary += " (trained with " + " ".join(f"--{k} {v:g}" for k, v in extra.items()) + ")"
            self.say(f"{self.net.name} on {self.cfg.task}: {self.plan.total_steps} steps done; {summary}; wrote "
                     f"{self.folder}/{{{ckpt.CHECKPOINT},{curves.LOG},{curves.PLOT},{CONFIG}}}")
        return 0


def loop(run: Run) -> int:
    """Train from the run's step to its plan's last, in the phases of nanoGPT's train.py: forward and
    backward, the step (at the rate the schedule set), the log, the evaluation and the checkpoint when
    due, and the stop. SIGINT / SIGTERM (on any process) or --stop-at stop after the step in
    progress, with a checkpoint. Returns the exit status."""
    if run.done >= run.plan.total_steps:
        run.say(f"{run.folder}: the run is already complete ({run.done} of {run.plan.total_steps} steps)")
        return 0
    with StopSignals() as stop, run.progress():
        for x, y in run.batches():
            loss = run.forward_backward(x, y)
            mean_loss, asked = run.agree(loss, stop.signum)
            run.step(mean_loss)
            run.log(mean_loss)
            run.maybe_eval()
            run.show()
            stopping = asked or run.done == run.runtime.stop_at
            run.maybe_save(stopping)
            if stopping:
                return run.stopped(stop.signum)
    return run.finish()


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
    plan = Plan.of(cfg, net, task)
    made = not os.path.exists(run_dir)
    before = set() if made else set(os.listdir(run_dir)) if os.path.isdir(run_dir) else None
    if before is None:
        raise UsageError(f"--out {run_dir} is a file, not a folder")
    if rank == 0:
        os.makedirs(run_dir, exist_ok=True)
    run = None
    try:
        with _process_group(world, device):
            run = Run(cfg=cfg, plan=plan, net=net, model=model, task=task, folder=run_dir, runtime=runtime,
                      device=device, rank=rank, world=world, local_rank=local_rank)
            run.open(resume)
            return loop(run)
    except BaseException:
        if rank == 0 and not (run and run.stepped):
            _remove_new_files(run_dir, before, made)
        raise


@contextlib.contextmanager
def _process_group(world: int, device: torch.device) -> Iterator[None]:
    """torch.distributed's process group of a run over `world` processes (none for one), destroyed
    when the run ends."""
    if world == 1:
        yield
        return
    import torch.distributed as dist  # not at the top: see setup_network
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
    try:
        yield
    finally:
        dist.destroy_process_group()
        _HELD.clear()


def _remove_new_files(run_dir: str, before: set, made: bool) -> None:
    """Undo a run that failed before its first step: remove the files that were not in the folder
    before it started, and the folder itself if this run made it (and it is empty again)."""
    for name in set(os.listdir(run_dir)) - before:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path) or os.path.islink(path):
            os.remove(path)
    if made and not os.listdir(run_dir):
        os.rmdir(run_dir)


def has_dead_weights(G: nx.DiGraph) -> bool:
    """Whether some weights never reach the output (a grid computed, then dropped), which DDP must
    be told about: it otherwise waits forever for their gradients."""
    live = reaches_output(G)
    return any(params_of(G, n) > 0 for n in G if n not in live)


# Tensors given to the last collectives, held until the process group is destroyed. A gloo worker
# thread drops its reference to them after the collective has completed; if that reference is the
# last, freeing the tensor needs the GIL, which the main thread holds while the process group's
# destructor joins that same thread: a deadlock at teardown, seen with torch 2.4 (about one run in
# five; docs/hardening.md). Held here, the worker thread never frees them.
_HELD: list = []


def _check_ranks_agree(model: torch.nn.Module) -> None:
    """DDP keeps replicas identical by construction; verify it once at the end, cheaply."""
    import torch  # not at the top: see setup_network
    import torch.distributed as dist
    sums = torch.stack([p.detach().double().sum() for p in model.parameters()])
    lo, hi = sums.clone(), sums.clone()
    _HELD.extend((lo, hi))
    dist.all_reduce(lo, dist.ReduceOp.MIN)
    dist.all_reduce(hi, dist.ReduceOp.MAX)
    if not torch.equal(lo, hi):
        raise TrainingError("the distributed processes ended with different weights",
                            hint="this is a bug in mgdsl or torch.distributed; please report it")


def load_run(run_dir: str, device_name: str = "cpu") -> tuple[RunConfig, Network, torch.nn.Module, Task, torch.device]:
    """(config, network, module with the checkpoint's weights, task, device) of a run folder."""
    cfg = RunConfig.from_dict(read_config(run_dir)["run"])
    device = pick_device(device_name, 0)
    net, model, task = setup_network(cfg, device)
    state = ckpt.load(ckpt.path_in(run_dir))
    model.load_state_dict(state["model"])
    model.to(device).eval()
    return cfg, net, model, task, device
