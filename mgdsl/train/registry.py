"""The tasks `mgdsl train --task NAME` knows. A task is a class registered with `@task("name")` in a
module of the `mgdsl/train/tasks/` folder, so a new task is one new file there (docs/graph.md, "Worked
example: a new training task").

The task modules are imported the first time a task is looked up or listed, and not before: building
the command line (`mgdsl --help`, `mgdsl check`) imports none of them, and listing them (`mgdsl train
--help`) imports no torch, so a task module imports torch only inside its methods. This module itself
imports neither numpy nor torch."""
from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..errors import UsageError

PACKAGE = "mgdsl.train.tasks"
_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_TASKS: dict[str, type[Any]] = {}          # name -> a subclass of mgdsl.train.tasks.Task (not imported here)
_loaded = False

T = TypeVar("T", bound=type)


def task(name: str) -> Callable[[T], T]:
    """Class decorator: train a subclass of `mgdsl.train.tasks.Task` with `mgdsl train --task NAME`.
    The class sets `steps_per_epoch` and `metric_names`; registering a second class under a name
    already taken is an error (registering the same class again, as a reloaded module does, is not)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"task name {name!r}: use lower-case words and digits joined by hyphens, e.g. 'mnist-seg'")

    def register(cls: T) -> T:
        old = _TASKS.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"two tasks are called {name!r}: {old.__module__}.{old.__qualname__} and "
                             f"{cls.__module__}.{cls.__qualname__}")
        missing = [a for a in ("steps_per_epoch", "metric_names") if not getattr(cls, a, None)]
        if missing:
            raise TypeError(f"task {name!r} ({cls.__qualname__}) must set {' and '.join(missing)}")
        _TASKS[name] = cls
        return cls
    return register


def _load() -> None:
    """Import every module of the tasks package, once: their @task lines fill the registry."""
    global _loaded
    if _loaded:
        return
    package = importlib.import_module(PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{PACKAGE}.{info.name}")
    _loaded = True


def names() -> list[str]:
    """The registered task names, module by module in alphabetical order."""
    _load()
    return list(_TASKS)


def get(name: str) -> type[Any]:
    """The task class registered as `name`; a UsageError naming the known ones for any other."""
    _load()
    if name not in _TASKS:
        raise UsageError(f"unknown task '{name}'", hint=f"use one of: {', '.join(_TASKS)}")
    return _TASKS[name]


class Names:
    """The task names, listed only when first asked for: argparse's `choices` for --task, so that the
    task modules are imported when a --task value is checked or the help printed, not whenever the
    command line is built."""

    def __contains__(self, name: object) -> bool:
        return name in names()

    def __iter__(self) -> Iterator[str]:
        return iter(names())

    def __len__(self) -> int:
        return len(names())
