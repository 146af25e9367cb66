"""Checkpoints that survive anything: written to a temporary file and renamed into place, so a
kill at any moment leaves either the previous checkpoint or the new one, never half of one.

Also the reading of weights for other uses (`mgdsl export --weights`): a plain state_dict file, a
run's checkpoint.pt, or its run folder, loaded without running any pickled code.

numpy and torch are imported inside the functions: the export command imports this module to build
its options, whenever `mgdsl` starts."""
from __future__ import annotations

import contextlib
import os
import pickle
import random
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any

from ..atomic import write_atomic
from ..errors import UsageError

CHECKPOINT = "checkpoint.pt"


def rng_state() -> dict:
    import numpy as np  # not at the top: see the module's docstring
    import torch
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import numpy as np  # not at the top: see the module's docstring
    import torch
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str, obj: dict) -> None:
    import torch  # not at the top: see the module's docstring
    write_atomic(path, writer=lambda f: torch.save(obj, f))


def load(path: str) -> dict:
    """A checkpoint of this run folder, for resuming it or scoring it. Read as weights only: tensors,
    plain containers and the numpy RNG state, so a run folder from elsewhere cannot run code here."""
    return load_weights_only(path, f"{path}", "not a readable mgdsl checkpoint",
                             hint="a checkpoint written by `mgdsl train` holds only tensors and plain values")


def load_weights_only(path: str, label: str, unreadable: str, hint: str | None = None) -> Any:
    """`torch.load(path, weights_only=True)` (tensors, plain containers, numpy's RNG state) with its
    failures as UsageErrors that start with `label`: a pickle that would run code is refused before
    any of it runs, and says which object it holds; `unreadable` says what a broken file is not."""
    import torch  # not at the top: see the module's docstring
    try:
        with _checkpoint_globals():
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"{label}: no such file") from None
    except pickle.UnpicklingError as e:
        why = (str(e).partition("WeightsUnpickler error:")[2].strip() or str(e)).split("\n")[0].split(". ")[0]
        raise UsageError(f"{label}: holds objects other than tensors and plain values, so it is not loaded ({why})",
                         hint=hint) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise UsageError(f"{label}: {unreadable} ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                         hint=hint) from None


def path_in(run_dir: str) -> str:
    return os.path.join(run_dir, CHECKPOINT)


# -- weights for other uses ---------------------------------------------------------------------------

_SAVE_HINT = "pass a file written by torch.save(model.state_dict(), PATH), or a run's checkpoint.pt"


@contextlib.contextmanager
def _checkpoint_globals() -> Iterator[None]:
    """Let `torch.load(weights_only=True)` read the numpy RNG state a training checkpoint holds, and
    nothing else beyond tensors and plain containers (no arbitrary pickled code runs)."""
    import numpy as np  # not at the top: see the module's docstring
    import torch
    core = getattr(np, "_core", None) or np.core
    allowed = [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    with torch.serialization.safe_globals(allowed):
        yield


def _looks_like_torch_file(path: str) -> bool:
    """torch.save writes a zip archive (or, in its legacy format, a pickle starting with 0x80)."""
    with open(path, "rb") as f:
        first = f.read(1)
    return zipfile.is_zipfile(path) or first == b"\x80"


def read_weights(path: str | os.PathLike) -> tuple[dict[str, Any], dict | None]:
    """(state_dict, the run's `--set` parameters or None) from a state_dict file, a training run's
    checkpoint.pt, or a run folder holding one. An empty mapping is the whole state_dict of a
    network without parameters."""
    import torch  # not at the top: see the module's docstring
    path = os.fspath(path)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, CHECKPOINT)):
            raise UsageError(f"--weights {path}: a folder without a {CHECKPOINT}",
                             hint="pass a state_dict file, a checkpoint.pt, or the --out folder of `mgdsl train`")
        path = os.path.join(path, CHECKPOINT)
    if not os.path.isfile(path):
        raise UsageError(f"--weights {path}: no such file")
    if not _looks_like_torch_file(path):
        raise UsageError(f"--weights {path}: not a file written by torch.save", hint=_SAVE_HINT)
    obj = load_weights_only(path, f"--weights {path}", "not a readable PyTorch file", hint=_SAVE_HINT)
    params = None
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping) and "config" in obj:
        params = dict(obj["config"].get("params") or {}) if isinstance(obj["config"], Mapping) else None
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UsageError(f"--weights {path}: neither a state_dict nor an mgdsl training checkpoint",
                         hint=_SAVE_HINT)
    return dict(obj), params
