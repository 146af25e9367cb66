"""Export a network as a program that runs without mgdsl: ONNX (onnxruntime, TensorRT, OpenVINO, ...)
or a `torch.export` program (`.pt2`: `torch.export.load`, AOTInductor).

Both formats hold one graph with the weights inside and a dynamic batch dimension: the input is
``[N, C, H, W]`` for any N >= 1, and the output is ``[N, ...]``. The graph is traced in eval mode, so
batch norm uses its running statistics. ONNX needs the optional extra ``pip install "mgdsl[onnx]"``
(onnx, onnxscript; onnxruntime to run the file); `.pt2` needs only torch.

Weights come from a plain ``state_dict`` file, a training run's ``checkpoint.pt`` (or its run folder),
a mapping already in memory, or, without any, a fresh initialisation.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Mapping
from importlib.util import find_spec as _find_spec

from .. import __version__
from ..errors import UsageError
from ..train.checkpoint import read_weights

FORMATS = {".onnx": "ONNX", ".pt2": "torch.export program"}
OPSET = 18                      # the opset torch's ONNX exporter writes natively; 17 is converted down
MIN_OPSET = 17
INPUT, OUTPUT = "input", "output"
ONNX_INSTALL = 'pip install "mgdsl[onnx]"   (onnx, onnxscript and onnxruntime)'
_ONNX_MAX_BYTES = 2**31 - 2**26     # protobuf's 2 GiB per message, less room for the graph itself
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")       # DistributedDataParallel, torch.compile


def format_of(path: str | os.PathLike) -> str:
    """The file suffix that picks the format ('.onnx' or '.pt2'); a UsageError for any other."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FORMATS:
        raise UsageError(f"cannot export to '{os.fspath(path)}': the file name must end in "
                         + " or ".join(FORMATS),
                         hint="FILE.onnx for ONNX (onnxruntime and others), FILE.pt2 for a torch.export program")
    return suffix


def require_onnx() -> None:
    """Raise a UsageError with the install command when the ONNX exporter's packages are missing."""
    missing = [m for m in ("onnx", "onnxscript") if _find_spec(m) is None]
    if missing:
        raise UsageError(f"ONNX export needs the package(s) {', '.join(missing)}, which are not installed",
                         hint=f"install them with: {ONNX_INSTALL}; a .pt2 file needs only torch")


# -- weights (files are read by mgdsl.train.checkpoint.read_weights) ------------------------------------

def _strip_wrappers(state: Mapping) -> dict:
    """Keys saved from a DDP- or torch.compile-wrapped module, without the wrapper's prefix."""
    state = dict(state)
    for prefix in _WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_weights(model, state: Mapping, source: str = "the weights", params: dict | None = None) -> None:
    """`model.load_state_dict(state)`, with a UsageError that says which keys or shapes disagree."""
    state = _strip_wrappers(state)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} of another shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                         f"{tuple(own[k].shape)} in the network)")
        hint = "the weights must come from the same spec with the same parameters"
        if params:
            hint = ("the checkpoint was trained with "
                    + " ".join(f"--set {k}={v}" for k, v in params.items()) + "; pass the same")
        raise UsageError(f"{source} do not fit this network: " + "; ".join(parts), hint=hint)
    model.load_state_dict(state)


# -- the module and the programs ----------------------------------------------------------------------

def _module_for_export(net, weights: Mapping | None, params: dict | None = None, source: str = "the weights"):
    """The module that is exported: the portable plain lowering (public torch API only), in eval mode."""
    model = net.build(optimize=False, target="portable")
    if weights is not None:
        load_weights(model, weights, source, params)
    return model.eval()


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress lines and their warnings about torch's own internals."""
    names = ("torch.onnx", "torch.export", "torch._export", "torch.fx.experimental.symbolic_shapes", "onnxscript")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def exported_program(model, input_shape: tuple):
    """`torch.export.export` of `model` with a dynamic batch dimension (any N >= 1)."""
    import torch
    example = torch.randn(2, *input_shape)
    batch = torch.export.Dim("batch", min=1)
    with _quiet(), torch.no_grad():
        return torch.export.export(model, (example,), dynamic_shapes=({0: batch},))


def _metadata(net, weights_from: str) -> dict[str, str]:
    return {"mgdsl_version": __version__, "network": net.name, "spec": os.path.basename(net.path),
            "params": json.dumps(net.params, default=str, sort_keys=True), "weights": weights_from,
            "input_shape": json.dumps(["N", *net.input_shape]), "output_shape": json.dumps(["N", *net.output_shape])}


def supported_opsets() -> range:
    """The ONNX opsets an export can write here: from MIN_OPSET to the newest the installed onnx
    package knows. torch writes OPSET; any other is converted (by onnxscript, or onnx's own version
    converter, which knows every opset of its package), and past onnx's newest no converter can go."""
    require_onnx()
    import onnx.defs
    return range(MIN_OPSET, onnx.defs.onnx_opset_version() + 1)


def check_opset(opset: int) -> None:
    """A UsageError, naming the range, for an opset the installed exporter cannot write."""
    ok = supported_opsets()
    if opset in ok:
        return
    span = f"opsets {ok.start} to {ok.stop - 1}"
    if opset < ok.start:
        raise UsageError(f"ONNX opset {opset} is too old: mgdsl exports {span}", hint=f"the default is {OPSET}")
    raise UsageError(f"ONNX opset {opset} is newer than the installed onnx package knows: it can write {span}",
                     hint=f"the default is {OPSET}; a newer onnx package knows newer opsets")


def opset_of(model) -> int:
    """The default-domain opset a ModelProto imports (the ONNX operator set version it uses)."""
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def read_opset(path: str | os.PathLike) -> int:
    """The opset of an ONNX file, read back from the file."""
    import onnx
    return opset_of(onnx.load(os.fspath(path), load_external_data=False))


def _name_batch_dimension(graph, name: str = "batch") -> None:
    """Call the batch dimension `name` in the ONNX graph, instead of the tracer's symbol (`s77`)."""
    symbol = graph.input[0].type.tensor_type.shape.dim[0].dim_param
    if not symbol:
        return
    for info in (*graph.input, *graph.output, *graph.value_info):
        for dim in info.type.tensor_type.shape.dim:
            if dim.dim_param == symbol:
                dim.dim_param = name


def onnx_model(program, metadata: dict[str, str], opset: int = OPSET):
    """The ONNX ModelProto of an exported program (the batch dimension stays symbolic)."""
    check_opset(opset)
    import torch
    with _quiet():
        onnx_program = torch.onnx.export(program, dynamo=True, opset_version=opset, verbose=False,
                                         input_names=[INPUT], output_names=[OUTPUT], external_data=False)
    proto = onnx_program.model_proto
    if opset_of(proto) != opset:          # the converter gave up and left torch's own opset
        raise UsageError(f"the exporter could not convert this network to ONNX opset {opset}: it gives opset "
                         f"{opset_of(proto)}, so nothing is written", hint=f"pass --opset {opset_of(proto)}, "
                         "or another opset the runtime supports")
    _name_batch_dimension(proto.graph)
    proto.doc_string = f"{metadata['network']} ({metadata['spec']}), exported by mgdsl {__version__}"
    for k, v in metadata.items():
        proto.metadata_props.add(key=k, value=v)
    return proto


def export(net, path: str | os.PathLike, weights=None, *, opset: int = OPSET) -> dict:
    """Write `net` to `path` as ONNX (.onnx) or a torch.export program (.pt2), atomically.

    `weights`: None for fresh weights, a state_dict mapping, or the path of a state_dict file, a
    training run's checkpoint.pt or its run folder. Returns a summary: format, path, bytes, weights."""
    path = os.fspath(path)
    suffix = format_of(path)
    if os.path.isdir(path):
        raise UsageError(f"cannot export to {path}: it is a folder", hint=f"give a file name, e.g. {path}/net{suffix}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: the folder {folder} does not exist")
    if suffix == ".onnx":
        check_opset(opset)
        if net.num_params * 4 > _ONNX_MAX_BYTES:
            raise UsageError(f"{net.name} has {net.num_params:,} parameters, more than one ONNX file can hold "
                             f"(protobuf's 2 GB limit)", hint="export a .pt2 file instead")
    params = None
    if weights is None:
        state, weights_from = None, "fresh"
    elif isinstance(weights, Mapping):
        state, weights_from = weights, "state_dict"
    else:
        state, params = read_weights(weights)
        weights_from = os.path.basename(os.fspath(weights))
    source = "the weights" if weights is None or isinstance(weights, Mapping) else f"the weights in {weights}"
    model = _module_for_export(net, state, params, source)
    program = exported_program(model, net.input_shape)
    written = write_program(program, path, _metadata(net, weights_from), opset)
    if written is not None and os.path.isfile(path):
        written = read_opset(path)            # what the file says (not a pipe or a device)
    return {"format": FORMATS[suffix], "path": path, "bytes": os.path.getsize(path), "weights": weights_from,
            "opset": written}


def write_program(program, path: str, metadata: dict[str, str], opset: int = OPSET) -> int | None:
    """Write an exported program to `path` (atomically) in the format its suffix names. Returns the
    ONNX opset written (None for .pt2)."""
    from ..atomic import write_atomic
    if format_of(path) == ".onnx":
        proto = onnx_model(program, metadata, opset)
        write_atomic(path, proto.SerializeToString())
        return opset_of(proto)
    import torch
    write_atomic(path, writer=lambda f: torch.export.save(program, f, extra_files={"mgdsl.json": json.dumps(metadata)}))
    return None


def load_exported(path: str | os.PathLike):
    """A function that runs an exported file on a batch `x` (a CPU tensor) and returns a tensor, or a
    tuple of them for a network with several outputs: `.onnx` through onnxruntime's CPU provider,
    `.pt2` through `torch.export.load`."""
    import torch
    path = os.fspath(path)
    if format_of(path) == ".onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise UsageError("running an ONNX file needs onnxruntime", hint=f"install it with: {ONNX_INSTALL}") from None
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

        def run_onnx(x):
            outs = [torch.from_numpy(o) for o in session.run(None, {INPUT: x.detach().cpu().numpy()})]
            return outs[0] if len(outs) == 1 else tuple(outs)
        return run_onnx
    with _quiet():
        module = torch.export.load(path).module()

    def run(x):
        with torch.no_grad():
            return module(x)
    return run


def calibrate_batch_norm(model, input_shape: tuple, batches: int = 2, size: int = 4, seed: int = 0):
    """Give fresh batch norm layers running statistics from random batches, as training would: with
    the fresh ones (mean 0, variance 1), eval-mode activations grow layer after layer (to hundreds in
    a deep residual net), far from any trained network, and float32 rounding grows with them."""
    import torch
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                       # a plain average over the batches
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(size, *input_shape, generator=gen))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.eval()


def _regression_targets(outputs, x, maps):
    """For each output [N, K, ...]: the input average-pooled to the output's grid (over the whole
    image for an output without one), mapped to K channels by a fixed random K x C matrix from
    `maps`, and scaled to mean 0 and variance 1 over the batch."""
    import torch
    import torch.nn.functional as F
    targets = []
    for y, proj in zip(outputs, maps):
        n, c = x.shape[:2]
        if y.dim() == 4:
            src = F.adaptive_avg_pool2d(x, y.shape[2:])
        else:
            src = x.mean(dim=tuple(range(2, x.dim()))).reshape(n, c, *[1] * max(y.dim() - 2, 0))
        t = torch.einsum("kc,nc...->nk...", proj, src)
        t = t.reshape(y.shape) if y.dim() == 1 else t.expand(y.shape)
        targets.append((t - t.mean()) / (t.std() + 1e-6))
    return targets


def warm_up(model, input_shape: tuple, steps: int = 10, batch: int = 2, lr: float = 0.01, seed: int = 0):
    """The state in which the checks compare an exported file with its module: fresh weights moved
    by `steps` Adam steps (batches of `batch` random inputs) towards a synthetic regression target
    (each output towards a fixed random linear map of the pooled input), then batch norm statistics
    from random batches (`calibrate_batch_norm`). Returns the module in eval mode.

    Why not the fresh weights themselves: a deep network whose random weights feed calibrated batch
    norm amplifies float32 rounding from layer to layer. In DeepLabV3-ResNet50 the relative
    difference between its float32 and float64 outputs grows from 2e-7 after the first conv to 1e-4
    at the output (docs/export.md), so two float32 evaluations of the same graph (eager PyTorch and
    onnxruntime) differ by several times the export tolerance whichever is right. Trained weights
    do not do this: the same network after 50 to 200 SGD steps on a synthetic segmentation task
    stays below 1e-6, and these few steps, at a fraction of the cost, bring it to 3e-7 - 4e-6.

    Only networks with batch norm are moved: without it nothing is calibrated, the fresh weights do
    not amplify rounding (U-Net-2015, VGG-16: ~1e-6), and unnormalised layers would change their
    scale under the steps. `steps=0` only calibrates. If the loss stops being finite, the weights go
    back to where they started."""
    import torch
    has_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if steps > 0 and has_norm:
        params = [p for p in model.parameters() if p.requires_grad]
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(params, lr=lr)
        maps = None
        model.train()
        with torch.enable_grad():
            for _ in range(steps):
                x = torch.randn(batch, *input_shape, generator=gen)
                out = model(x)
                outs = list(out) if isinstance(out, (tuple, list)) else [out]
                if maps is None:
                    maps = [torch.randn(y.shape[1] if y.dim() > 1 else 1, input_shape[0], generator=gen)
                            / input_shape[0] ** 0.5 for y in outs]
                targets = _regression_targets(outs, x, maps)
                loss = sum(torch.nn.functional.mse_loss(y, t) for y, t in zip(outs, targets))
                if not torch.isfinite(loss):
                    model.load_state_dict(start)
                    warnings.warn("warm_up: the loss stopped being finite; the fresh weights are kept",
                                  RuntimeWarning, stacklevel=2)
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        for p in params:
            p.grad = None
    return calibrate_batch_norm(model, input_shape, seed=seed)


def verify(path: str | os.PathLike, model, input_shape: tuple, batches=(1, 2), rtol: float = 1e-3,
           atol: float = 1e-4, seed: int = 0) -> tuple[bool, float, float]:
    """Run the exported file (loaded once) and the eager `model` (in eval mode) on the same random
    batches of each size in `batches`. Returns (every output element within atol + rtol * |eager|,
    the largest absolute error, the largest ratio of an element's error to its tolerance)."""
    import torch
    run = load_exported(path)
    gen = torch.Generator().manual_seed(seed)
    worst, ratio = 0.0, 0.0
    model.eval()
    for n in batches:
        x = torch.randn(n, *input_shape, generator=gen)
        with torch.no_grad():
            want = model(x)
        got = run(x)
        wants = list(want) if isinstance(want, (tuple, list)) else [want]
        gots = list(got) if isinstance(got, (tuple, list)) else [got]
        if len(gots) != len(wants) or any(g.shape != w.shape for g, w in zip(gots, wants)):
            return False, float("inf"), float("inf")
        for g, w in zip(gots, wants):          # every output of a network with several
            err = (g - w).abs()
            worst = max(worst, err.max().item())
            ratio = max(ratio, (err / (atol + rtol * w.abs())).max().item())
    return ratio <= 1.0, worst, ratio
