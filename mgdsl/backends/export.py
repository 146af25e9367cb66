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

from ..atomic import write_atomic
from ..diagnostics import utf8_text
from ..errors import UsageError
from ..train.checkpoint import read_weights
from ..version import __version__

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

def module_for_export(net, weights: Mapping | None, params: dict | None = None, source: str = "the weights"):
    """The module that is exported: the portable plain lowering (public torch API only), in eval mode."""
    model = net.build(optimize=False, target="portable")
    if weights is not None:
        load_weights(model, weights, source, params)
    return model.eval()


@contextlib.contextmanager
def quiet():
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
    import torch  # here: `mgdsl export --help` and the rest of mgdsl import this module without it
    example = torch.randn(2, *input_shape)
    batch = torch.export.Dim("batch", min=1)
    with quiet(), torch.no_grad():
        return torch.export.export(model, (example,), dynamic_shapes=({0: batch},))


def metadata(net, weights_from: str) -> dict[str, str]:
    """What the exported file says about where it comes from. File names are made valid UTF-8 (a name
    that is not shows its odd bytes as \\xNN): ONNX's protobuf strings take nothing else."""
    return {"mgdsl_version": __version__, "network": utf8_text(net.name), "spec": utf8_text(os.path.basename(net.path)),
            "params": json.dumps(net.params, default=str, sort_keys=True), "weights": utf8_text(weights_from),
            "input_shape": json.dumps(["N", *net.input_shape]), "output_shape": json.dumps(["N", *net.output_shape])}


def supported_opsets() -> range:
    """The ONNX opsets an export can write here: from MIN_OPSET to the newest the installed onnx
    package knows. torch writes OPSET; any other is converted (by onnxscript, or onnx's own version
    converter, which knows every opset of its package), and past onnx's newest no converter can go."""
    require_onnx()
    import onnx.defs  # here: `mgdsl export --help` and the rest of mgdsl import this module without it
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
    import onnx  # here: `mgdsl export --help` and the rest of mgdsl import this module without it
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
    import torch  # here: `mgdsl export --help` and the rest of mgdsl import this module without it
    with quiet():
        onnx_program = torch.onnx.export(program, dynamo=True, opset_version=opset, verbose=False,
                                         input_names=[INPUT], output_names=[OUTPUT], external_data=False)
    assert onnx_program is not None, "torch.onnx.export(dynamo=True) returns the program"
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
    model = module_for_export(net, state, params, source)
    program = exported_program(model, net.input_shape)
    written = write_program(program, path, metadata(net, weights_from), opset)
    if written is not None and os.path.isfile(path):
        written = read_opset(path)            # what the file says (not a pipe or a device)
    return {"format": FORMATS[suffix], "path": path, "bytes": os.path.getsize(path), "weights": weights_from,
            "opset": written}


def write_program(program, path: str, metadata: dict[str, str], opset: int = OPSET) -> int | None:
    """Write an exported program to `path` (atomically) in the format its suffix names. Returns the
    ONNX opset written (None for .pt2)."""
    if format_of(path) == ".onnx":
        proto = onnx_model(program, metadata, opset)
        write_atomic(path, proto.SerializeToString())
        return opset_of(proto)
    import torch  # here: `mgdsl export --help` and the rest of mgdsl import this module without it
    write_atomic(path, writer=lambda f: torch.export.save(program, f, extra_files={"mgdsl.json": json.dumps(metadata)}))
    return None
