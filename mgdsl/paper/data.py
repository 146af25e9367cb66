"""The paper's printed tables and what we know about them, read from the package's data files, and
the one rule by which a count agrees with a printed number."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from importlib import resources

UNITS = {"M": 10 ** 6, "G": 10 ** 9}
QUANTITIES = ("params", "macs")


def _text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def paper_csv_text() -> str:
    return _text("paper_tables.csv")


def paper_rows() -> list[dict]:
    """Every printed row of Tables 1-4, as the CSV's columns (all strings; '' where the paper gives none)."""
    return list(csv.DictReader(io.StringIO(paper_csv_text())))


@dataclass(frozen=True)
class TableInfo:
    key: str          # e.g. Table1_CIFAR100, as in paper_tables.csv's `table` column
    title: str
    unit: str         # 'M' or 'G': what the table's FLOPs (our MACs) are counted in

    @property
    def scale(self) -> int:
        return UNITS[self.unit]


@cache
def table_infos() -> dict[str, TableInfo]:
    return {r["table"]: TableInfo(r["table"], r["title"], r["macs_unit"])
            for r in csv.DictReader(io.StringIO(_text("tables.csv")))}


@dataclass(frozen=True)
class PrintedAs:
    """How a printed value arises from a network: the spec's count, or that of the spec with other
    parameter values (`set`) or with one line of its family file changed (`edit`), rounded or
    truncated at the printed precision or at `decimals`."""
    set: dict = field(default_factory=dict)
    edit: dict | None = None         # file (under the specs folder), find, replace, leave_out (a node-name suffix)
    rounding: str = "round"          # or "truncate"
    decimals: int | None = None

    @property
    def alternative(self) -> bool:
        """Whether the value is that of another network than the row's spec."""
        return bool(self.set) or self.edit is not None


@dataclass(frozen=True)
class Erratum:
    """A note on a row; where `explains` names a quantity, it accounts for that quantity not agreeing
    with the printed value, checked through `printed_as` when that is given."""
    table: str
    method: str
    note: str                        # a str.format template over Row.values()
    explains: str | None = None      # 'params', 'macs' or None (a remark)
    printed_as: PrintedAs | None = None


@cache
def errata() -> dict[tuple[str, str], list[Erratum]]:
    """(table, method) -> its notes, in the file's order."""
    data = json.loads(_text("errata.json"))
    out: dict[tuple[str, str], list[Erratum]] = {}
    for e in data["errata"]:
        try:
            if set(e) - {"table", "rows", "explains", "printed_as", "note"} or e.get("explains", "params") not in QUANTITIES:
                raise TypeError("unknown field or quantity")
            how = PrintedAs(**e["printed_as"]) if "printed_as" in e else None
            if how is not None and how.rounding not in ("round", "truncate"):
                raise TypeError("rounding is 'round' or 'truncate'")
        except TypeError as err:
            raise ValueError(f"errata.json: bad entry ({err}): {e!r}") from None
        for method in e["rows"]:
            out.setdefault((e["table"], method), []).append(
                Erratum(e["table"], method, e["note"], e.get("explains"), how))
    return out


def decimals_of(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def agrees(count: int, scale: int, printed: str, decimals: int | None = None, rounding: str = "round") -> bool:
    """The one rule: `count` / `scale` agrees with a printed number when it rounds to it at the
    printed precision (or at `decimals`); a value exactly half-way may round either way. With
    rounding='truncate' it must instead lie in [printed, printed + one unit of the last digit).
    Exact arithmetic: no float can tip a value across a rounding boundary."""
    d = decimals_of(printed) if decimals is None else decimals
    value, target, unit = Fraction(count, scale), Fraction(printed), Fraction(1, 10 ** d)
    if rounding == "truncate":
        return target <= value < target + unit
    return abs(value - target) <= unit / 2
