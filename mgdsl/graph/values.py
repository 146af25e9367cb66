"""Values a spec computes with, and the pyramid state the lowering threads through the layers."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import Span


class Sym(str):
    """A bare word used as a value, such as `off`, `merge` or the name of a saved pyramid."""


class Passed(Sym):
    """A saved pyramid handed to a unit by name (`fold h`): the name as the caller wrote it, resolved
    where the unit is used, so that no pyramid of the unit's own can stand in for it."""
    pyramid: tuple

    def __new__(cls, name: str, pyramid: tuple):
        word = super().__new__(cls, name)
        word.pyramid = pyramid
        return word


class Outer(Sym):
    """A bare word handed to a unit that names no saved pyramid where the unit is used: a value word
    such as `off`, or a mistake. Inside the unit it never resolves to a pyramid of the unit's own."""


class Window(Sym):
    """A window of two sides written HxW (`kernel=1x7`): a height and a width, as one value."""
    sides: tuple[int, int]

    def __new__(cls, text: str, sides: tuple[int, int]):
        word = super().__new__(cls, text)
        word.sides = sides
        return word


@dataclass(frozen=True)
class Arg:
    """An evaluated argument: a list of numbers or words, and where it was written."""
    items: tuple
    span: Span | None

    def __len__(self):
        return len(self.items)

    def text(self) -> str:
        return ", ".join(str(int(v) if isinstance(v, float) and v.is_integer() else v) for v in self.items)


@dataclass(frozen=True)
class Grid:
    """One grid's current tensor: the graph node that produces it and its shape (C, H, W) or (F,)."""
    node: str
    shape: tuple

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> tuple[int, int] | None:
        return tuple(self.shape[1:]) if len(self.shape) == 3 else None

    @property
    def label(self) -> str:
        return size_label(self.size)

    @property
    def key(self) -> str:
        """The grid's name in module paths: g32 for a 32x32 grid, g32x16 otherwise."""
        s = self.size
        if s is None:
            return "flat"
        return f"g{s[0]}" if s[0] == s[1] else f"g{s[0]}x{s[1]}"


def size_label(size) -> str:
    return "flat" if size is None else f"{size[0]}x{size[1]}"


Pyramid = tuple  # tuple[Grid, ...], finest first


def describe(pyr: Pyramid) -> str:
    return ", ".join(f"{g.label}:{g.channels}" for g in pyr) or "nothing"
