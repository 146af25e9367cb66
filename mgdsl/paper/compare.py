"""Every row of the paper's tables beside the counts of its spec's graph: which printed numbers our
counts agree with, and for the others the erratum that explains them, checked where it can be."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import MgError, UsageError
from ..graph.cost import Cost, cost_of
from ..lang.loader import Loader
from ..network import load as load_network
from ..network import loads as load_text
from .data import QUANTITIES, Erratum, PrintedAs, agrees, errata, paper_rows, table_infos

# the marker file of a specs folder: one of the paper's networks
_MARKER = "vgg-16.mg"


def packaged_specs() -> Path:
    """The specs folder that ships with mgdsl: package data `mgdsl.specs` in a wheel (and in an
    editable install, which maps it to the checkout's top-level specs/); a source tree used without
    installing has it at the top level."""
    try:
        marker = resources.files("mgdsl.specs").joinpath(_MARKER)
    except ModuleNotFoundError:
        marker = Path(__file__).resolve().parents[2] / "specs" / _MARKER
    if not isinstance(marker, Path) or not marker.is_file():
        raise UsageError("this installation of mgdsl carries no specs folder (package data mgdsl.specs)",
                         hint="reinstall mgdsl, or pass --specs DIR: the folder that holds vgg-16.mg, imagenet/ "
                              "and mnist/")
    return marker.parent


def find_specs(folder: str | os.PathLike | None = None) -> Path:
    """The specs folder: the one given, else the one that ships with mgdsl."""
    if folder is None:
        return packaged_specs()
    p = Path(folder)
    if not (p / _MARKER).is_file():
        raise UsageError(f"{folder} is not the project's specs folder (it has no {_MARKER})",
                         hint="pass the folder that holds vgg-16.mg, imagenet/ and mnist/")
    return p


# the status of a row
MATCH, DOCUMENTED, NOT_REPRODUCED, UNEXPLAINED, SPEC_ERROR = (
    "match", "documented", "not reproduced", "UNEXPLAINED", "spec error")


@dataclass
class Row:
    table: str
    method: str
    n: str
    spec: str | None                 # shown path, e.g. specs/r-pmg-30.mg; None: no spec file
    paper_params: str                # as printed, millions
    paper_macs: str                  # as printed, in the table's unit; '' if the paper gives none
    unit: str                        # 'M' or 'G' for the MACs
    cost: Cost | None = None
    explained: set = field(default_factory=set)   # the quantities an erratum accounts for (and, where it
    notes: list[str] = field(default_factory=list)  # can be checked, whose check holds)
    stale: list[Erratum] = field(default_factory=list)  # errata on a quantity that agrees after all
    error: str | None = None
    spec_path: Path | None = None    # the spec file compared
    twin: Path | None = None         # a second spec the notes quote (Table 3: the 1-map net), if it exists
    twin_shown: str | None = None
    twin_cost: Cost | None = None

    @property
    def scale(self) -> int:
        return table_infos()[self.table].scale

    def printed(self, q: str) -> str:
        return self.paper_params if q == "params" else self.paper_macs

    def scale_of(self, q: str) -> int:
        return 10 ** 6 if q == "params" else self.scale

    def count(self, q: str) -> int | None:
        return None if self.cost is None else getattr(self.cost, q)

    def agrees(self, q: str) -> bool | None:
        """Whether our count of `q` agrees with the printed value (None: no count, or none printed)."""
        count, printed = self.count(q), self.printed(q)
        return None if count is None or not printed.strip() else agrees(count, self.scale_of(q), printed)

    @property
    def params_m(self) -> float | None:
        return self.cost.params / 1e6 if self.cost else None

    @property
    def macs_u(self) -> float | None:
        return self.cost.macs / float(self.scale) if self.cost else None

    def values(self) -> dict:
        """The fields an erratum's note may name (those that cannot be counted are left out)."""
        v: dict = {"unit": self.unit, "paper_params": self.paper_params, "paper_macs": self.paper_macs}
        if self.cost is not None:
            params_m, macs_u = self.cost.params / 1e6, self.cost.macs / float(self.scale)
            v.update(params_m=params_m, macs_u=macs_u, live_macs_u=self.cost.live_macs / float(self.scale))
            for q, ours in (("params", params_m), ("macs", macs_u)):
                if self.printed(q).strip():
                    v[f"{q}_pct"] = 100 * (ours / float(self.printed(q)) - 1)
                    v[f"{q}_diff"] = ours - float(self.printed(q))
        if self.twin_cost is not None:
            v.update(twin=self.twin_shown, twin_params_m=self.twin_cost.params / 1e6,
                     twin_macs_u=self.twin_cost.macs / float(self.scale))
        return v

    @property
    def status(self) -> str:
        if self.error:
            return SPEC_ERROR
        if self.cost is None:
            return NOT_REPRODUCED
        off = [q for q in QUANTITIES if self.agrees(q) is False]
        if any(q not in self.explained for q in off):
            return UNEXPLAINED
        return DOCUMENTED if off else MATCH


@dataclass
class PaperTable:
    key: str
    title: str
    unit: str
    rows: list[Row]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        parts = [f"{counts.get(MATCH, 0)} of {len(self.rows)} rows match the printed values"]
        for k in (DOCUMENTED, NOT_REPRODUCED, UNEXPLAINED, SPEC_ERROR):
            if counts.get(k):
                parts.append(f"{counts[k]} " + {DOCUMENTED: "differ as explained in the notes",
                                                 NOT_REPRODUCED: "not reproduced (no spec)",
                                                 UNEXPLAINED: "differ WITHOUT explanation",
                                                 SPEC_ERROR: "have a broken spec"}[k])
        return "; ".join(parts) + "."


class _Counter:
    """Counts of spec files, shared between the rows (one parse per file)."""

    def __init__(self, root: Path):
        self.root, self.loader = root, Loader()
        self._costs: dict[tuple, tuple[Cost, dict]] = {}

    def load(self, path: Path, params: dict | None = None) -> tuple[Cost, dict]:
        """The cost of a spec and the values of its parameters."""
        key = (str(path), tuple(sorted((params or {}).items())))
        if key not in self._costs:
            net = load_network(path, params or {}, loader=self.loader)
            self._costs[key] = (cost_of(net.graph), dict(net.params))
        return self._costs[key]

    def alternative(self, r: Row, how: PrintedAs) -> Cost:
        """The network an erratum says the paper counted instead of the row's spec."""
        assert r.spec_path is not None
        cost, params = self.load(r.spec_path, how.set)
        if how.edit is None:
            return cost
        path = self.root / how.edit["file"]
        text = path.read_text(encoding="utf-8")
        if text.count(how.edit["find"]) != 1:
            raise UsageError(f"{path} no longer has '{how.edit['find']}' exactly once")
        net = load_text(text.replace(how.edit["find"], how.edit["replace"]), path=str(path), loader=self.loader,
                        **params)
        return cost_of(net.graph)


def _counted(cost: Cost, q: str, leave_out: str | None) -> int:
    total = getattr(cost, q)
    return total - sum(getattr(n, q) for n in cost.nodes if n.node.endswith(leave_out)) if leave_out else total


def _apply(r: Row, e: Erratum, counter: _Counter) -> None:
    """Add an erratum's note to a row, and mark its quantity explained where the erratum holds."""
    values = r.values()
    if e.explains is not None:
        q = e.explains
        if r.agrees(q) is not False:         # nothing to explain
            r.stale.append(e)
            return
        how = e.printed_as
        if how is not None:
            try:
                alt = counter.alternative(r, how) if how.alternative else r.cost
                assert alt is not None
            except (MgError, OSError) as err:
                r.notes.append(f"the erratum on {q} cannot be checked: {str(err).splitlines()[0]}")
                return
            leave_out = how.edit.get("leave_out") if how.edit else None
            count = _counted(alt, q, leave_out)
            if how.alternative:
                values.update(alt_params_m=_counted(alt, "params", leave_out) / 1e6,
                              alt_macs_u=_counted(alt, "macs", leave_out) / float(r.scale),
                              alt_set=" ".join(f"{k}={v}" for k, v in how.set.items()))
            if not agrees(count, r.scale_of(q), r.printed(q), how.decimals, how.rounding):
                r.notes.append(f"the erratum on {q} no longer holds: the network it names gives "
                               f"{count / r.scale_of(q):.4f}, not the printed {r.printed(q)}")
                return
        r.explained.add(q)
    try:
        r.notes.append(e.note.format(**values))
    except KeyError as missing:
        r.notes.append(f"(a note on this row quotes {missing}, which could not be counted)")


def reproduce(specs: str | os.PathLike | None = None) -> list[PaperTable]:
    """Every row of the paper's four tables beside our counts."""
    root = find_specs(specs)
    counter = _Counter(root)
    infos, notes = table_infos(), errata()
    tables: dict[str, PaperTable] = {}
    for rec in paper_rows():
        key = rec["table"]
        info = infos[key]
        table = tables.setdefault(key, PaperTable(key, info.title, info.unit, []))
        r = Row(key, rec["method"], rec["layers_per_section"], f"specs/{rec['spec']}", rec["params_millions"],
                rec["flops"], info.unit)
        r.spec_path = root / rec["spec"]
        if rec["twin"]:
            r.twin_shown = f"specs/{rec['twin']}"
            r.twin = root / rec["twin"] if (root / rec["twin"]).is_file() else None
        if not r.spec_path.is_file():
            r.spec = None
            r.notes.append(f"no spec file (specs/{rec['spec']} does not exist)")
        else:
            try:
                r.cost = counter.load(r.spec_path)[0]
            except MgError as e:
                r.error = str(e).splitlines()[0]
                r.notes.append(r.error)
        if r.cost is not None and r.twin is not None:
            try:
                r.twin_cost = counter.load(r.twin)[0]
            except MgError as e:
                r.notes.append(f"{r.twin_shown}: {str(e).splitlines()[0]}")
        if r.cost is not None:
            for erratum in notes.get((key, r.method), []):
                _apply(r, erratum, counter)
        table.rows.append(r)
    return list(tables.values())
