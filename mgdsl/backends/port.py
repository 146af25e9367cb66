"""Porting weights: a state_dict of the same network written in another framework (torchvision, timm,
plain torch) mapped onto a spec's parameters and buffers.

The spec's entries and the foreign ones are matched in order: both list each layer's weights as its
forward meets them (torch registers a module's parameters and buffers in the order its `__init__`
makes them, and torchvision's and timm's models make them in forward order), so the k-th tensor of one
is the k-th of the other. A key map (`ours -> theirs`) pins entries whose order differs; they are taken
out of the order first. Shapes must agree, except that a linear layer's weight (out, in) may fill a
1x1 conv's (out, in, 1, 1) and the other way round: ConvNeXt's pointwise layers are linear in
torchvision and 1x1 convs in a spec. Batch norm's `num_batches_tracked` counters are matched among
themselves, in order, or start at 0 when the file has none (many exports leave them out).

Files are read as weights only (`torch.load(weights_only=True)`, or safetensors): a file that would
run code when unpickled is refused and nothing of it runs.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from ..train.checkpoint import load_weights_only

COUNTER = "num_batches_tracked"


def _is_counter(key: str, t) -> bool:
    return key.endswith(COUNTER) and t.dim() == 0 and not t.is_floating_point()


def _fits(ours, theirs) -> bool:
    """Same shape, or a linear weight and a 1x1 conv weight of the same layer."""
    if tuple(ours.shape) == tuple(theirs.shape):
        return True
    squeeze = lambda s: tuple(d for d in s if d != 1) if len(s) == 4 and s[2:] == (1, 1) else tuple(s)
    return ours.numel() == theirs.numel() and squeeze(tuple(ours.shape)) == squeeze(tuple(theirs.shape)) and \
        min(ours.dim(), theirs.dim()) == 2 and max(ours.dim(), theirs.dim()) == 4


def _shape(t) -> str:
    return "x".join(map(str, t.shape)) or "a scalar"


def port_weights(net, foreign: Mapping[str, Any], key_map: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The spec's state_dict with every entry taken from `foreign` (see the module docstring); a
    UsageError names the first entry that does not fit, the first missing and the first extra one."""
    import torch  # here: the rest of mgdsl (and `mgdsl port --help`) needs no torch
    model = net.build(device="meta", optimize=False)
    ours = list(model.state_dict().items())
    theirs = [(k, v) for k, v in foreign.items() if isinstance(v, torch.Tensor)]
    key_map = dict(key_map or {})
    unknown = [k for k in key_map if k not in dict(ours)]
    if unknown:
        raise UsageError(f"the key map names {unknown[0]!r}, which {net.name} does not have",
                         hint="the map's left side is mgdsl's key (see `mgdsl port SPEC --list`)")
    missing_theirs = [v for v in key_map.values() if v not in foreign]
    if missing_theirs:
        raise UsageError(f"the key map names {missing_theirs[0]!r}, which the weights file does not have")
    pinned = set(key_map.values())
    queue = [(k, v) for k, v in theirs if k not in pinned and not _is_counter(k, v)]
    counters = [v for k, v in theirs if _is_counter(k, v)]         # taken in order, when the file has them
    out: dict[str, Any] = {}
    i = 0
    for key, mine in ours:
        if key in key_map:
            src_key, src = key_map[key], foreign[key_map[key]]
        elif _is_counter(key, mine):
            out[key] = counters.pop(0).clone() if counters else torch.zeros((), dtype=mine.dtype)
            continue
        else:
            if i >= len(queue):
                raise UsageError(f"the weights file has too few tensors: nothing is left for {key} ({_shape(mine)}), "
                                 f"the {len(out) + 1}th of {len(ours)} entries of {net.name}",
                                 hint="is it the same network, with the same --set parameters?")
            src_key, src = queue[i]
            i += 1
        if not _fits(mine, src):
            raise UsageError(f"{key} ({_shape(mine)}) does not fit the weights file's {src_key} ({_shape(src)})",
                             hint="the two list their tensors in different orders here: pin this one with a key map "
                                  "(--map FILE: lines of `mgdsl_key their_key`), or check the spec's --set parameters")
        out[key] = src.detach().reshape(mine.shape).to(mine.dtype).clone()
    if i < len(queue):
        extra = queue[i][0]
        raise UsageError(f"the weights file has {len(queue) - i} tensor(s) more than {net.name} takes, from {extra} "
                         f"({_shape(queue[i][1])}) on", hint="is it the same network, with the same --set parameters?")
    return out


def read_foreign(path: str | os.PathLike) -> dict[str, Any]:
    """A state_dict from a .pth/.pt file (weights only) or a .safetensors file; a checkpoint that holds
    it under "state_dict" or "model" is opened to it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UsageError(f"--from {path}: {'a folder, not a file' if os.path.isdir(path) else 'no such file'}")
    if path.endswith(".safetensors"):
        try:
            from safetensors.torch import load_file  # here: an optional package, needed only for this format
        except ImportError:
            raise UsageError("reading .safetensors needs the safetensors package", hint="pip install safetensors") \
                from None
        try:
            return dict(load_file(path))
        except Exception as e:  # safetensors raises its own error type for a broken file
            raise UsageError(f"--from {path}: not a readable .safetensors file ({e})") from None
    obj = load_weights_only(path, f"--from {path}", "not a readable weights file",
                            hint="save the weights with torch.save(model.state_dict(), PATH)")
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise UsageError(f"--from {path}: holds a {type(obj).__name__}, not a state_dict")
    return obj


def read_key_map(path: str | os.PathLike) -> dict[str, str]:
    """A key map file: one `mgdsl_key their_key` pair a line (# comments and blank lines allowed)."""
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--map {path}: cannot read it ({e.strerror if isinstance(e, OSError) else 'not UTF-8'})") \
            from None
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise UsageError(f"{path}:{n}: a key map line is `mgdsl_key their_key`, not {line!r}")
        out[parts[0]] = parts[1]
    return out
