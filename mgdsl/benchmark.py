"""Measured speed of a network beside its counted cost: what `mgdsl bench` runs.

For one network and one or more engines (eager PyTorch, `torch.compile`, onnxruntime on mgdsl's own
ONNX export) it times a step (inference, or a training step: forward, loss, backward), interleaving
the engines run by run so that a change in the machine's load falls on all of them alike. Beside
the times: images per second, peak memory, the arithmetic rate that the cost model's MAC count gives
(never a tracer's count), and that rate as a fraction of this machine's peak, which two short probes
(a GEMM and a convolution) measure in the same process.

`by_layer` profiles the eager module built with profiler scopes (`generate(scopes=True)`: each spec
layer's statements on each grid inside `torch.profiler.record_function`), and maps the profile back
to layer paths: a forward op's time to its scope, and a backward op to the forward op that made it
(the autograd sequence number). The module that is timed is the one `Network.build()` gives.

torch is imported inside the functions, so importing this module costs nothing.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import inference
from .backends.torch_source import SCOPE_PREFIX
from .errors import UsageError
from .graph.cost import cost_of

ENGINES = ("eager", "compile", "onnxruntime", "session")
PROFILED = "eager, profiled"      # the runner of --by layer, interleaved with the engines
OTHER = "mgdsl-bench:other"        # profiled time that belongs to no layer


# -- results --------------------------------------------------------------------------------------
@dataclass
class EngineResult:
    engine: str
    times: list[float] = field(default_factory=list)     # seconds per step, in run order
    setup_s: float = 0.0                                   # build (+ compile or export) before the first step
    peak_bytes: int | None = None

    def quantile(self, q: float) -> float:
        """The q-quantile of the step times (seconds), linear between runs."""
        t = sorted(self.times)
        if len(t) == 1:
            return t[0]
        pos = q * (len(t) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(t) - 1)
        return t[lo] + (t[hi] - t[lo]) * (pos - lo)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


@dataclass
class LayerTime:
    layer: str
    grid: str
    seconds: float
    macs: int          # per image, forward


@dataclass
class BenchResult:
    spec: str
    name: str
    mode: str                      # "infer" or "train"
    batch: int
    device: str
    macs: int                      # forward MACs per image (the cost model's)
    engines: list[EngineResult]
    layers: list[LayerTime] | None = None
    profiled_total_s: float | None = None   # mean wall time of the profiled steps the layer times come from
    other_s: float | None = None            # of that, the time that belongs to no layer

    @property
    def flops_per_step(self) -> int:
        """Floating-point operations of one step: 2 per MAC, and a training step counted as three
        forwards (the forward, the input gradient and the weight gradient)."""
        return 2 * self.macs * self.batch * (3 if self.mode == "train" else 1)


@dataclass
class Machine:
    device: str
    name: str
    threads: int
    gemm_flops: float              # FLOP/s of the GEMM probe
    conv_flops: float              # FLOP/s of the convolution probe
    probes: dict[str, str] = field(default_factory=dict)

    @property
    def peak_flops(self) -> float:
        return max(self.gemm_flops, self.conv_flops)


# -- the device -----------------------------------------------------------------------------------
def check_device(device: str):
    """The torch device for `device` ("cpu" or "cuda[:N]"); a UsageError when this machine has none."""
    import torch  # here: importing mgdsl.benchmark does not import torch
    if device == "cpu":
        return torch.device("cpu")
    if device.split(":")[0] != "cuda":
        raise UsageError(f"--device {device}: unknown device", hint="use cpu or cuda")
    if not torch.cuda.is_available():
        raise UsageError("--device cuda: this machine has no CUDA GPU that torch can use",
                         hint=f"torch {torch.__version__} sees none; run on the CPU with --device cpu")
    return torch.device(device)


def sync(device) -> None:
    import torch  # here: importing mgdsl.benchmark does not import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device) -> str:
    import torch  # here: importing mgdsl.benchmark does not import torch
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores"


# -- the machine's peak ---------------------------------------------------------------------------
def _best_rate(fn: Callable[[], object], flops: float, device, budget_s: float) -> float:
    """The highest FLOP/s of `fn` over repeated calls for about `budget_s` seconds (after one warm-up)."""
    fn()
    sync(device)
    best, spent = 0.0, 0.0
    while spent < budget_s:
        t = time.perf_counter()
        fn()
        sync(device)
        dt = time.perf_counter() - t
        spent += dt
        best = max(best, flops / dt)
    return best


def probe_machine(device, budget_s: float = 0.25) -> Machine:
    """The machine's peak FLOP/s, measured now: a square float32 GEMM and a 3x3 convolution of the
    kind multigrid networks are made of, each for about `budget_s` seconds."""
    import torch  # here: importing mgdsl.benchmark does not import torch
    cuda = device.type == "cuda"
    n = 4096 if cuda else 1024
    b, c, s = (64, 256, 32) if cuda else (8, 128, 32)
    with torch.inference_mode():
        a = torch.randn(n, n, device=device)
        bm = torch.randn(n, n, device=device)
        gemm = _best_rate(lambda: torch.mm(a, bm), 2 * n ** 3, device, budget_s)
        x = torch.randn(b, c, s, s, device=device).contiguous(memory_format=torch.channels_last)
        w = torch.randn(c, c, 3, 3, device=device).contiguous(memory_format=torch.channels_last)
        conv = _best_rate(lambda: torch.nn.functional.conv2d(x, w, None, 1, 1), 2 * b * s * s * c * c * 9,
                          device, budget_s)
    return Machine(device.type, device_name(device), torch.get_num_threads(), gemm, conv,
                   {"gemm": f"float32 {n}x{n} @ {n}x{n} (torch.mm)",
                    "conv": f"float32 3x3 conv, {c} -> {c} channels, {s}x{s}, batch {b}, channels-last"})


# -- steps ----------------------------------------------------------------------------------------
def _loss(y):
    """A scalar from the network's output(s): the mean of each, summed."""
    outs = y if isinstance(y, tuple) else (y,)
    return sum(o.float().mean() for o in outs)


def torch_step(model, x, train: bool) -> Callable[[], None]:
    """One inference (eval, inference_mode) or training step (forward, loss, backward; gradients
    dropped after it, no optimiser step) of a torch module."""
    import torch  # here: importing mgdsl.benchmark does not import torch
    if not train:
        model.eval()

        def infer():
            with torch.inference_mode():
                model(x)
        return infer
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]

    def step():
        y = model(x)
        with torch.profiler.record_function(OTHER):     # a scope of its own, for --by layer
            loss = _loss(y)
        loss.backward()
        with torch.profiler.record_function(OTHER):
            for p in params:
                p.grad = None
    return step


def require_onnxruntime() -> None:
    inference.require_onnxruntime("--engine onnxruntime")


def ort_step(net, model, x, device, threads: int) -> Callable[[], None]:
    """Inference with onnxruntime on the network's ONNX export (mgdsl's own exporter, the module's weights)."""
    session = inference.ort_session(net, model.state_dict(), device, threads)
    name = session.get_inputs()[0].name
    feed = {name: x.detach().cpu().numpy()}

    def infer():
        session.run(None, feed)
    return infer


def session_step(net, model, x, device) -> Callable[[], None]:
    """Inference through `Network.session` (engine auto, for this batch size) on the module's weights."""
    session = net.session(model.state_dict(), batch=x.shape[0], device=device)

    def infer():
        session(x)
    return infer


def timed(fn: Callable[[], None], device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


# -- memory -----------------------------------------------------------------------------------------
def _held_bytes(model, x) -> int:
    tensors = itertools.chain(model.parameters(), model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors) + x.numel() * x.element_size()


def peak_memory(step: Callable[[], None], model, x, device) -> int:
    """Peak bytes held by torch tensors during one step: the allocator's own count on CUDA; on the
    CPU, which keeps no such count, the weights, buffers and input plus the highest point of the
    profiler's allocation record over the step (allocations and frees summed in time order, per op)."""
    import torch  # here: importing mgdsl.benchmark does not import torch
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        sync(device)
        return int(torch.cuda.max_memory_allocated(device))
    from torch.profiler import ProfilerActivity, profile
    with _quiet_profiler(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    growth = max(itertools.accumulate((e.self_cpu_memory_usage for e in events), initial=0))
    return _held_bytes(model, x) + int(growth)


@contextlib.contextmanager
def _quiet_profiler():
    """Keep kineto's start and stop lines, which it prints on file descriptor 2, off the terminal."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)      # a descriptor, not a file: nothing is written
    try:
        os.dup2(null, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
    finally:
        os.close(null)
        os.close(saved)


# -- per layer ----------------------------------------------------------------------------------------
def _scope_of(event) -> str | None:
    while event is not None:
        if event.name.startswith(SCOPE_PREFIX):
            return event.name
        event = event.cpu_parent
    return None


def profiled(step: Callable[[], None], device):
    """Run `step` once under the profiler: the profile and the step's wall time."""
    from torch.profiler import ProfilerActivity, profile  # here: importing mgdsl.benchmark does not import torch
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with _quiet_profiler(), profile(activities=acts) as prof:
        wall = timed(step, device)
    return prof, wall


BACKWARD = "autograd::engine::evaluate_function"     # the profiler's name of one backward op, then its kind
ACCUMULATE = "torch::autograd::AccumulateGrad"       # the backward op that stores a weight's gradient


def _owner(e, made_by: dict[int, str]) -> str:
    if e.name.startswith(SCOPE_PREFIX):
        return e.name
    if e.name.startswith(BACKWARD):
        return made_by.get(e.sequence_nr, OTHER)
    return OTHER


def _cut(pieces: list[tuple[float, float, str]]) -> dict[str, float]:
    """(start, end, owner) of a step's top-level events, in seconds -> seconds per owner: each piece
    runs to the start of the next (the last to its end)."""
    pieces = sorted(pieces)
    times: dict[str, float] = {}
    for (start, end, who), after in zip(pieces, pieces[1:] + [None]):
        stop = after[0] if after is not None else end
        times[who] = times.get(who, 0.0) + stop - start
    return times


def scope_times(prof, device) -> tuple[dict[str, float], list[tuple[str, str]]]:
    """Seconds per profiler scope (`mgdsl:LAYER@GRID`) in a full profile of one step; the time of
    what belongs to no layer (the loss, dropping the gradients) under the key OTHER. Also the step's
    backward ops in the order they ran, each with the scope it counts for.

    On the CPU the step's timeline is cut where each top-level event starts: a layer's scope, a
    backward op, or the loss's scope. Each piece runs to the start of the next (so the dispatch
    between ops and the frees after them count too) and belongs to its scope; a backward op to the
    scope of the forward op that made it (their autograd sequence number), and storing a weight's
    gradient to the backward op that made it, which runs just before. On CUDA, where the CPU
    only queues work, a scope's time is the GPU time of the kernels it and its backward ops launched."""
    events = prof.events()
    made_by: dict[int, str] = {}       # autograd sequence number -> scope of the forward op
    for e in events:
        if e.sequence_nr >= 0 and not e.name.startswith("autograd::") and not e.name.startswith(SCOPE_PREFIX):
            scope = _scope_of(e)
            if scope is not None:
                made_by.setdefault(e.sequence_nr, scope)
    main = next((e.thread for e in events if e.name.startswith(SCOPE_PREFIX)), None)
    top = sorted((e for e in events if e.cpu_parent is None and (e.thread == main or device.type == "cuda")),
                 key=lambda e: e.time_range.start)
    owners, last = [], OTHER
    for e in top:
        who = _owner(e, made_by)
        if e.name.endswith(ACCUMULATE):     # storing a weight's gradient: the layer whose op just made it
            who = last
        elif e.name.startswith(BACKWARD):
            last = who
        owners.append(who)
    backward = [(e.name, who) for e, who in zip(top, owners) if e.name.startswith(BACKWARD)]
    if device.type == "cuda":
        times: dict[str, float] = {}
        for e, who in zip(top, owners):
            times[who] = times.get(who, 0.0) + e.device_time_total / 1e6
        return times, backward
    return _cut([(e.time_range.start / 1e6, e.time_range.end / 1e6, who) for e, who in zip(top, owners)]), backward


def light_profile(step: Callable[[], None], device, train: bool):
    """Run `step` once, recording only the profiler scopes (and, for training, the backward ops):
    an op-by-op profile costs about 10 % more time on these networks, this one nothing measurable.
    torch has no public switch for it, so this calls the profiler's own entry points; None when
    they are not there (another torch), and the caller profiles in full."""
    try:
        # here, as everywhere in this module: importing it does not import torch
        from torch._C._profiler import ProfilerActivity, ProfilerConfig, ProfilerState, RecordScope, _ExperimentalConfig
        from torch.autograd import _disable_profiler, _enable_profiler, _prepare_profiler
        config = ProfilerConfig(ProfilerState.KINETO, False, False, False, False, False, _ExperimentalConfig())
        acts = {ProfilerActivity.CPU}
        scopes = {RecordScope.USER_SCOPE} | ({RecordScope.BACKWARD_FUNCTION} if train else set())
        with _quiet_profiler():
            _prepare_profiler(config, acts)
            _enable_profiler(config, acts, scopes)     # type: ignore[call-arg]  # torch's stub lacks scopes
            try:
                wall = timed(step, device)
            finally:
                result = _disable_profiler()
        events = [(e.name(), e.start_ns() / 1e9, e.end_ns() / 1e9, e.start_thread_id()) for e in result.events()]
    except (ImportError, AttributeError, TypeError, RuntimeError):
        return None
    return events, wall


def light_times(events, backward: list[tuple[str, str]]) -> dict[str, float] | None:
    """Seconds per scope from a light profile, the backward ops given the scopes that the full
    profile of a step found for them, in order (the autograd engine runs them in the same order
    every step); None when they are not the same ops."""
    main = next((t for name, _, _, t in events if name.startswith(SCOPE_PREFIX)), None)
    own = sorted((start, end, name) for name, start, end, t in events if t == main)

    def scope(name: str) -> bool:
        return name.startswith(SCOPE_PREFIX) or name == OTHER
    # here a backward op is named by its autograd node alone ("ReluBackward0"), in the full profile
    # by the engine's call of it ("autograd::engine::evaluate_function: ReluBackward0")
    ops = [name for _, _, name in own if not scope(name)]
    if ops != [name.split(": ", 1)[-1] for name, _ in backward]:
        return None
    owners = iter(who for _, who in backward)
    return _cut([(start, end, name if scope(name) else next(owners)) for start, end, name in own])


def layer_macs(G) -> dict[tuple[str, str], int]:
    """Forward MACs per image of each (spec layer, grid), from the cost model."""
    out: dict[tuple[str, str], int] = {}
    for c in cost_of(G).nodes:
        out[(c.layer, c.grid)] = out.get((c.layer, c.grid), 0) + c.macs
    return out


# -- the benchmark ----------------------------------------------------------------------------------
def bench(net, engines: list[str], *, batch: int, train: bool, device, repeat: int, warmup: int,
          by_layer: bool = False, progress=None) -> BenchResult:
    """Time `net` on each engine, interleaved run by run; see the module docstring."""
    import torch  # here: importing mgdsl.benchmark does not import torch
    tick = progress.update if progress is not None else (lambda n=1: None)
    x = torch.randn(batch, *net.input_shape, device=device)
    steps: dict[str, Callable[[], None]] = {}
    results = {e: EngineResult(e) for e in engines}
    models = {}
    for engine in engines:
        t = time.perf_counter()
        model = net.build(device=str(device))
        if engine == "compile":
            model = torch.compile(model)
        if engine == "onnxruntime":
            steps[engine] = ort_step(net, model, x, device, torch.get_num_threads())
        elif engine == "session":
            steps[engine] = session_step(net, model, x, device)
        else:
            steps[engine] = torch_step(model, x, train)
            models[engine] = model
        if engine == "compile":            # the first call compiles: part of the setup
            steps[engine]()
        sync(device)
        results[engine].setup_s = time.perf_counter() - t
    runners = dict(steps)
    profiles: list = []
    walls: list[float] = []
    if by_layer:                       # the module with profiler scopes, profiled one step at a time
        scoped = net.build(device=str(device), scopes=True)
        scoped.load_state_dict(models["eager"].state_dict(), assign=True)   # the same weight tensors
        scoped_step = torch_step(scoped, x, train)

        calibration: list = []         # the full profile of the first profiled step
        light = device.type == "cpu"

        def profiled_step():
            nonlocal light
            if light and calibration:
                got = light_profile(scoped_step, device, train)
                if got is not None:
                    profiles.append(got[0])
                    walls.append(got[1])
                    return
                light = False
            prof, wall = profiled(scoped_step, device)
            if not calibration:
                calibration.append(prof)
            profiles.append(prof)      # read after the runs: reading a profile is slow and evicts caches
            walls.append(wall)
        runners[PROFILED] = profiled_step
    for name, fn in runners.items():
        for _ in range(warmup if name != PROFILED else max(1, warmup)):
            fn()
            tick(1)
    profiles.clear()
    walls.clear()
    for _ in range(repeat):
        for name, fn in runners.items():
            if name == PROFILED:
                fn()
            else:
                results[name].times.append(timed(fn, device))
            tick(1)
    for engine, model in models.items():
        results[engine].peak_bytes = peak_memory(steps[engine], model, x, device)
    result = BenchResult(net.path, net.name, "train" if train else "infer", batch, device.type, net.macs,
                         [results[e] for e in engines])
    if by_layer:
        _, backward = scope_times(calibration[0], device)
        middle = middle_half(walls)
        got = [light_times(profiles[i], backward) if isinstance(profiles[i], list) else scope_times(profiles[i], device)[0]
               for i in middle]
        middle = [i for i, run in zip(middle, got) if run is not None]     # a step whose backward ops differ: left out
        runs = [run for run in got if run is not None]
        if not runs:
            raise RuntimeError("the backward ops of every profiled step differ from those of the first one")
        keys = dict.fromkeys(k for run in runs for k in run)
        found = {_key(k): statistics.fmean(run.get(k, 0.0) for run in runs) for k in keys if k != OTHER}
        result.other_s = statistics.fmean(run.get(OTHER, 0.0) for run in runs)
        macs = layer_macs(net.graph)
        result.layers = [LayerTime(layer, grid, found.get((layer, grid), 0.0), macs.get((layer, grid), 0))
                         for layer, grid in dict.fromkeys([*macs, *found])
                         if (layer, grid) in found or macs.get((layer, grid))]
        result.profiled_total_s = statistics.fmean(walls[i] for i in middle)
    return result


def middle_half(walls: list[float]) -> list[int]:
    """Indices of the runs whose time lies in the middle half (25th to 75th percentile; at least one):
    a layer's time is its mean over these runs, so a run that another process interrupted, at
    whichever layer, is left out of every layer alike and the layers still add up to a typical step."""
    order = sorted(range(len(walls)), key=walls.__getitem__)
    lo, hi = len(order) // 4, max(len(order) // 4 + 1, -(-3 * len(order) // 4))
    return sorted(order[lo:hi])


def _key(scope: str) -> tuple[str, str]:
    layer, _, grid = scope[len(SCOPE_PREFIX):].rpartition("@")
    return layer, grid


def steps_needed(engines: list[str], repeat: int, warmup: int, by_layer: bool) -> int:
    """Progress-bar units for one spec."""
    return len(engines) * (repeat + warmup) + (repeat + max(1, warmup) if by_layer else 0)
