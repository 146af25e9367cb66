"""One call for fast inference on this machine: `Network.session()`.

    sess = mgdsl.load("specs/r-pmg-30.mg").session(weights="runs/r-pmg-30/checkpoint.pt", batch=8)
    y = sess(images)                 # a (N, C, H, W) tensor or array -> the network's output(s), as tensors
    sess.engine, sess.timings        # which engine runs it, and what each candidate took

Engines, each on the same weights:

- ``eager``: the module mgdsl generates for inference (``build(inference=True)``: batch norm folded
  into the convolutions, eval only), called under ``torch.inference_mode``;
- ``onnxruntime``: onnxruntime on mgdsl's own ONNX export of the network (``pip install
  "mgdsl[onnx]"``), as many intra-op threads as torch uses;
- ``compile``: ``torch.compile`` of the eager module (its first call compiles, which takes up to a
  minute on a CPU, so ``auto`` tries it only when asked: ``candidates=("eager", "onnxruntime", "compile")``).

``engine="auto"`` (the default) builds the candidates that are installed, times them on a batch of the
size given (interleaved, after a warm-up) and keeps the fastest; the others are dropped. Which one wins
depends on the network, the batch and the machine: on a small CPU, onnxruntime usually wins at batch 1
and the eager module can win on larger batches (docs/benchmark.md has the measurements).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Mapping
from importlib.util import find_spec
from typing import Any, Callable

from .backends.export import load_weights
from .errors import UsageError
from .train.checkpoint import read_weights

ENGINES = ("eager", "onnxruntime", "compile")
AUTO = ("eager", "onnxruntime")                     # what `auto` tries unless told otherwise
ORT_INSTALL = 'pip install "mgdsl[onnx]"'
ORT_PACKAGES = ("onnxruntime", "onnx", "onnxscript")   # the export and the runtime


def ort_available() -> bool:
    return all(find_spec(m) is not None for m in ORT_PACKAGES)


def _ort_usable(device) -> bool:
    """onnxruntime is installed, with an execution provider for the device's type."""
    if not ort_available():
        return False
    if device.type != "cuda":
        return True
    import onnxruntime as ort  # here: an optional package, and importing mgdsl costs nothing
    return "CUDAExecutionProvider" in ort.get_available_providers()


def require_onnxruntime(what: str = "the onnxruntime engine") -> None:
    missing = [m for m in ORT_PACKAGES if find_spec(m) is None]
    if missing:
        raise UsageError(f"{what} needs the package(s) {', '.join(missing)}, which are not installed",
                         hint=f"install them with: {ORT_INSTALL}")


def ort_session(net, state: Mapping | None, device, threads: int):
    """An onnxruntime session on `net`'s ONNX export with the weights `state` (None: fresh), with
    `threads` intra-op threads and no spinning (a waiting thread sleeps instead of burning a core)."""
    import onnxruntime as ort  # here: an optional package, and importing mgdsl costs nothing
    providers = ["CPUExecutionProvider"]
    if getattr(device, "type", device) == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise UsageError("onnxruntime on cuda: this onnxruntime has no CUDA execution provider",
                             hint="install onnxruntime-gpu, or run onnxruntime on the CPU")
        providers = ["CUDAExecutionProvider"]
    with tempfile.TemporaryDirectory(prefix="mgdsl-ort-") as tmp:
        path = os.path.join(tmp, "net.onnx")
        net.export(path, weights=None if state is None else {k: v.detach().cpu() for k, v in state.items()})
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        return ort.InferenceSession(path, opts, providers=providers)


def _as_state(weights) -> tuple[dict | None, dict | None, str]:
    """weights (None, a state_dict, or a file: state_dict, checkpoint, run folder) -> (state, the
    parameters it was trained with, what to call it in errors)."""
    if weights is None:
        return None, None, "the weights"
    if isinstance(weights, Mapping):
        return dict(weights), None, "the weights"
    state, params = read_weights(weights)
    return state, params, f"the weights in {weights}"


class Session:
    """A network ready for inference on one engine; call it with a batch of images."""

    def __init__(self, net, run: Callable[[Any], Any], engine: str, device, timings: dict[str, float]):
        self.network, self.engine, self.device, self.timings = net, engine, device, timings
        self._run = run

    def __call__(self, x):
        import torch  # here: importing mgdsl.inference does not import torch
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x)
        want = tuple(self.network.input_shape)
        if x.dim() != len(want) + 1 or tuple(x.shape[1:]) != want:
            raise UsageError(f"{self.network.name} takes a batch of shape (N, {', '.join(map(str, want))}); "
                             f"got {tuple(x.shape)}", hint="add the batch dimension with x[None] for one image")
        return self._run(x.to(self.device, torch.float32))

    def __repr__(self) -> str:
        took = ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in self.timings.items())
        return f"Session({self.network.name!r}, engine={self.engine!r}, device={str(self.device)!r}" + (
            f"; measured: {took})" if took else ")")


def _torch_runner(model, compiled: bool):
    import torch  # here: importing mgdsl.inference does not import torch
    model.eval()
    if compiled:
        model = torch.compile(model)

    def run(x):
        with torch.inference_mode():
            return model(x)
    return run


def _ort_runner(net, state, device, threads: int):
    import torch  # here: importing mgdsl.inference does not import torch
    sess = ort_session(net, state, device, threads)
    name = sess.get_inputs()[0].name
    many = len(sess.get_outputs()) > 1

    def run(x):
        ys = sess.run(None, {name: x.detach().cpu().contiguous().numpy()})
        out = tuple(torch.from_numpy(y).to(x.device) for y in ys)
        return out if many else out[0]
    return run


def session(net, weights=None, *, engine: str = "auto", batch: int = 1, device="cpu", threads: int | None = None,
            candidates: tuple[str, ...] = AUTO, repeat: int = 7, warmup: int = 2) -> Session:
    """The network on the fastest engine for batches of `batch` images (see the module docstring)."""
    import torch  # here: importing mgdsl.inference does not import torch
    if engine != "auto" and engine not in ENGINES:
        raise UsageError(f"unknown inference engine {engine!r}", hint=f"one of: auto, {', '.join(ENGINES)}")
    unknown = [c for c in candidates if c not in ENGINES]
    if unknown:
        raise UsageError(f"unknown inference engine {unknown[0]!r}", hint=f"one of: {', '.join(ENGINES)}")
    if not isinstance(batch, int) or batch < 1:
        raise UsageError(f"batch must be a positive whole number, not {batch!r}")
    device = torch.device(device)
    if threads:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    state, params, source = _as_state(weights)
    names = [engine] if engine != "auto" else [c for c in candidates if c != "onnxruntime" or _ort_usable(device)]
    if engine == "onnxruntime":
        require_onnxruntime()
    model = net.build(device=str(device), inference=True)
    if state is not None:
        load_weights(model, state, source, params)
    if state is None:
        state = model.state_dict()         # the fresh weights: every engine runs the same network
    runners: dict[str, Callable] = {}
    for name in names:
        if name == "onnxruntime":
            runners[name] = _ort_runner(net, state, device, threads)
        else:
            runners[name] = _torch_runner(model, compiled=name == "compile")
    if len(runners) == 1:
        (name, run), = runners.items()
        return Session(net, run, name, device, {})
    x = torch.randn(batch, *net.input_shape, device=device)
    for run in runners.values():
        for _ in range(warmup):
            run(x)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeat):                  # interleaved: a change in the machine's load falls on all alike
        for name, run in runners.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t = time.perf_counter()
            run(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[name].append(time.perf_counter() - t)
    timings = {k: statistics.median(v) for k, v in times.items()}
    best = min(timings, key=timings.__getitem__)
    return Session(net, runners[best], best, device, timings)
