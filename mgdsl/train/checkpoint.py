"""Checkpoints that survive anything: written to a temporary file and renamed into place, so a
kill at any moment leaves either the previous checkpoint or the new one, never half of one."""
from __future__ import annotations

import os
import pickle
import random

import numpy as np

from ..atomic import write_atomic
from ..errors import UsageError

CHECKPOINT = "checkpoint.pt"


def rng_state() -> dict:
    import torch
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import torch
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str, obj: dict) -> None:
    import torch
    write_atomic(path, writer=lambda f: torch.save(obj, f))


def load(path: str) -> dict:
    import torch
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise UsageError(f"no checkpoint at {path}") from None
    except (RuntimeError, EOFError, pickle.UnpicklingError, OSError) as e:
        raise UsageError(f"{path} is not a readable mgdsl checkpoint ({e})") from None


def path_in(run_dir: str) -> str:
    return os.path.join(run_dir, CHECKPOINT)
